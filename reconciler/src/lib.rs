//! The reconciler follows Miroir's logs. Today it publishes change-data-capture events; TTL
//! sweeps and drift repair between replicas are not implemented yet.
//!
//! Module map:
//! * [`cdc`]: one `cdc` record per `ops` record, same key, deduplicated by the ops position.
//! * [`config`]: launch flags.

pub mod cdc;
pub mod config;

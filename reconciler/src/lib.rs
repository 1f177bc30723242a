//! The reconciler follows Miroir's logs. Today it publishes change-data-capture events; TTL
//! sweeps and drift repair between replicas are not implemented yet.
//!
//! Module map:
//! * [`cdc`]: one `cdc` event per change an applied task made, keyed by index, in log order
//!   (operations held until their task's outcome is known).
//! * [`config`]: launch flags.

pub mod cdc;
pub mod config;

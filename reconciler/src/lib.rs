//! The reconciler follows Miroir's logs. Today it publishes change-data-capture events
//! (`cdc.rs`); TTL sweeps and drift repair between replicas are not implemented yet.

pub mod cdc;
pub mod config;

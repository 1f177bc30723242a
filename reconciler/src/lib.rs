//! The reconciler follows Miroir's logs: it publishes change-data-capture events and, when
//! asked, verifies (and repairs) the replicas of every shard periodically and sweeps expired
//! documents of indexes with a TTL.
//!
//! Module map:
//! * [`cdc`]: one `cdc` event per change an applied task made, keyed by index, in log order
//!   (operations held until their task's outcome is known).
//! * [`config`]: launch flags.
//! * [`retention`]: trims `ops` below every consumer's position, keeping a window (docs/retention.md).
//! * [`ttl_sweep`]: deletes expired documents through the log (docs/ttl.md).
//! * [`verify`]: the periodic verify pass (docs/repair.md).

pub mod cdc;
pub mod config;
pub mod retention;
pub mod ttl_sweep;
pub mod verify;

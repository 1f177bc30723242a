//! The data model every Miroir process shares. Pure: no I/O.

pub mod cancelation;
pub mod cdc;
pub mod details;
pub mod envelope;
pub mod error;
pub mod filter;
pub mod meta_log;
pub mod payload;
pub mod placement;
pub mod task_log;
pub mod tasks;
pub mod topology;

#[cfg(test)]
mod test_strategies;
#[cfg(test)]
mod test_support;

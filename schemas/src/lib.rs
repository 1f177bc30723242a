//! The data model every Miroir process shares. Pure: no I/O.

pub mod error;
pub mod placement;
pub mod topology;

#[cfg(test)]
mod test_support;

//! The data model every Miroir process shares. Pure: no I/O.

pub mod error;

#[cfg(test)]
mod test_support;

//! Document payload parsing, primary key inference, id validation.

pub mod payload;
pub mod primary_key;

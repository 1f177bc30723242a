//! Document payload parsing, primary key inference, id validation.

/// The payload parsers are pure and live in `miroir-schemas`, so the fuzz targets build without
/// the gateway's network stack.
pub use miroir_schemas::payload;
pub mod edit_function_check;
pub mod primary_key;

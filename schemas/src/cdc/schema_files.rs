//! The JSON Schema files of the CDC events, generated from the types.

use super::CdcEvent;

/// The JSON Schema files this crate publishes, as `(file name, pretty JSON + newline)`.
pub fn json_schema_files() -> Vec<(&'static str, String)> {
    let schema = schemars::schema_for!(CdcEvent);
    let text = serde_json::to_string_pretty(&schema).expect("a JSON Schema serializes") + "\n";
    vec![("cdc-event.schema.json", text)]
}

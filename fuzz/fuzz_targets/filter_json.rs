//! Any JSON `filter` value (string, array form, wrong types): no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = miroir_schemas::filter::parse_json(&value);
    }
});

//! Any body as a `ndjson` document payload: no panic, and a refusal is one of Meilisearch's
//! payload error codes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_schemas::payload::{parse_payload, PayloadFormat};

fuzz_target!(|data: &[u8]| {
    if let Err(error) = parse_payload(PayloadFormat::Ndjson, data) {
        assert!(
            ["malformed_payload", "missing_payload", "internal"].contains(&error.code.as_str()),
            "{}",
            error.code
        );
    }
});

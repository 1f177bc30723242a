//! Any text given to the filter parser: no panic; a parsed filter survives a
//! serialize/parse round trip; a refusal has Meilisearch's two-line shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miroir_schemas::filter::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text) {
        Ok(Some(filter)) => {
            let written = filter.to_string();
            let reparsed = parse(&written).expect("serialized filters parse");
            assert_eq!(reparsed, Some(filter), "{written}");
        }
        Ok(None) => {}
        Err(error) => assert!(error.message.contains('\n'), "{}", error.message),
    }
});

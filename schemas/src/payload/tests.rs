use proptest::prelude::*;
use serde_json::json;

use super::*;

fn docs(format: PayloadFormat, body: &str) -> Vec<Value> {
    parse_payload(format, body.as_bytes()).unwrap().into_iter().map(Value::Object).collect()
}

fn refusal(format: PayloadFormat, body: &str) -> (String, String, u16) {
    let error = parse_payload(format, body.as_bytes()).unwrap_err();
    (error.code, error.message, error.http_status)
}

const CSV: PayloadFormat = PayloadFormat::Csv { delimiter: b',' };

#[test]
fn transcript_malformed_json_payload() {
    let (code, message, status) = refusal(PayloadFormat::Json, "[{\"id\": 1,");
    assert_eq!(code, "malformed_payload");
    assert_eq!(status, 400);
    assert_eq!(
        message,
        "The `json` payload provided is malformed. `Couldn't serialize document value: EOF while parsing an object at line 1 column 10`."
    );
}

#[test]
fn transcript_wrong_and_missing_content_type() {
    let wrong = PayloadFormat::from_content_type(Some("text/plain"), None).unwrap_err();
    assert_eq!((wrong.code.as_str(), wrong.http_status), ("invalid_content_type", 415));
    assert_eq!(wrong.message, "The Content-Type `text/plain` is invalid. Accepted values for the Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`");
    let missing = PayloadFormat::from_content_type(None, None).unwrap_err();
    assert_eq!((missing.code.as_str(), missing.http_status), ("missing_content_type", 415));
    assert_eq!(missing.message, "A Content-Type header is missing. Accepted values for the Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`");
}

#[test]
fn transcript_empty_payload() {
    let (code, message, status) = refusal(PayloadFormat::Json, "");
    assert_eq!((code.as_str(), message.as_str(), status), ("missing_payload", "A json payload is missing.", 400));
    assert_eq!(refusal(CSV, "").1, "A csv payload is missing.");
    assert_eq!(refusal(PayloadFormat::Ndjson, "").1, "A ndjson payload is missing.");
}

#[test]
fn transcript_add_documents_csv() {
    let body = "id,name,section,installed_size_kb\ncsv-1,csvpkg,utils,12\ncsv-2,csvtool,devel,40\n";
    assert_eq!(
        docs(CSV, body),
        vec![
            json!({"id": "csv-1", "name": "csvpkg", "section": "utils", "installed_size_kb": "12"}),
            json!({"id": "csv-2", "name": "csvtool", "section": "devel", "installed_size_kb": "40"}),
        ]
    );
}

#[test]
fn content_type_parameters_and_case_are_ignored() {
    assert_eq!(PayloadFormat::from_content_type(Some("application/json; charset=utf-8"), None).unwrap(), PayloadFormat::Json);
    assert_eq!(PayloadFormat::from_content_type(Some("text/csv"), Some(b';')).unwrap(), PayloadFormat::Csv { delimiter: b';' });
    let error = PayloadFormat::from_content_type(Some("application/json"), Some(b';')).unwrap_err();
    assert_eq!(error.code, "invalid_content_type");
    assert_eq!(error.message, "The Content-Type `application/json` does not support the use of a csv delimiter. The csv delimiter can only be used with the Content-Type `text/csv`.");
    let unparsable = PayloadFormat::from_content_type(Some("json"), None).unwrap_err();
    assert!(unparsable.message.starts_with("The Content-Type `json` is invalid."));
}

#[test]
fn json_accepts_an_array_or_one_object() {
    assert_eq!(docs(PayloadFormat::Json, r#"[{"a":1},{"b":[2]}]"#), vec![json!({"a":1}), json!({"b":[2]})]);
    assert_eq!(docs(PayloadFormat::Json, r#"  {"a":1} "#), vec![json!({"a":1})]);
    assert_eq!(docs(PayloadFormat::Json, "[]"), Vec::<Value>::new());
    // Meilisearch stops reading after the array.
    assert_eq!(docs(PayloadFormat::Json, r#"[{"a":1}] trailing"#), vec![json!({"a":1})]);
}

#[test]
fn json_of_the_wrong_shape_is_refused() {
    let (code, message, _) = refusal(PayloadFormat::Json, r#""a string""#);
    assert_eq!(code, "malformed_payload");
    assert_eq!(
        message,
        "The `json` payload provided is malformed. `Couldn't serialize document value: data are neither an object nor a list of objects`."
    );
    let (_, message, _) = refusal(PayloadFormat::Json, r#"{"a":1} {"b":2}"#);
    assert_eq!(
        message,
        "The `json` payload provided is malformed. `Couldn't serialize document value: trailing characters at line 1 column 9`."
    );
    let (code, message, status) = refusal(PayloadFormat::Json, "[1]");
    assert_eq!((code.as_str(), status), ("internal", 500));
    assert_eq!(message, "invalid type: integer `1`, expected a map at line 1 column 1");
}

#[test]
fn long_serde_messages_are_cut_in_the_middle() {
    let long = format!("[{{\"{}\": tru}}]", "k".repeat(300));
    let (_, message, _) = refusal(PayloadFormat::Json, &long);
    let detail = message.strip_prefix("The `json` payload provided is malformed. `Couldn't serialize document value: ").unwrap();
    assert_eq!(detail, "expected ident at line 1 column 310`.");
    assert_eq!(shorten(&"x".repeat(200)), format!("{}...{}", "x".repeat(50), "x".repeat(85)));
    assert_eq!(shorten(&"x".repeat(138)), "x".repeat(138));
}

#[test]
fn ndjson_reads_whitespace_separated_objects() {
    assert_eq!(docs(PayloadFormat::Ndjson, "{\"a\":1}\n{\"a\":2}\n\n"), vec![json!({"a":1}), json!({"a":2})]);
    let (code, message, _) = refusal(PayloadFormat::Ndjson, "{\"a\":1}\n{\"a\":");
    assert_eq!(code, "malformed_payload");
    assert_eq!(
        message,
        "The `ndjson` payload provided is malformed. `Couldn't serialize document value: EOF while parsing a value at line 2 column 5`."
    );
}

#[test]
fn csv_typed_headers_and_empty_cells() {
    let body = "id,price:number,ok:boolean,note,a:b\n1, 12 ,true,,x\n2,1.5, false , y ,\n3,,,z,\n";
    assert_eq!(
        docs(CSV, body),
        vec![
            json!({"id":"1","price":12,"ok":true,"note":null,"a:b":"x"}),
            json!({"id":"2","price":1.5,"ok":false,"note":" y ","a:b":null}),
            json!({"id":"3","price":null,"ok":null,"note":"z","a:b":null}),
        ]
    );
    assert_eq!(docs(PayloadFormat::Csv { delimiter: b';' }, "id;n\n1;a,b\n"), vec![json!({"id":"1","n":"a,b"})]);
}

#[test]
fn csv_refusals_name_the_line_and_value() {
    assert_eq!(
        refusal(CSV, "id,price:number\n1,12\n2,abc\n").1,
        "The `csv` payload provided is malformed: `Error parsing number \"abc\" at line 2: invalid float literal`."
    );
    assert_eq!(
        refusal(CSV, "id,ok:boolean\n1,yes\n").1,
        "The `csv` payload provided is malformed: `Error parsing boolean \"yes\" at line 1: provided string was not `true` or `false``."
    );
    let (code, message, _) = refusal(CSV, "id,name\n1,a,extra\n");
    assert_eq!(code, "malformed_payload");
    assert!(message.starts_with("The `csv` payload provided is malformed: `CSV error: "), "{message}");
}

#[test]
fn documents_reach_the_sink_one_by_one_and_the_sink_can_stop_reading() {
    let body = r#"[{"a":1},{"a":2},{"a":3}]"#;
    let mut seen = Vec::new();
    let result = read_documents(PayloadFormat::Json, body.as_bytes(), |doc| {
        seen.push(doc);
        if seen.len() == 2 {
            Err("enough")
        } else {
            Ok(())
        }
    });
    assert!(matches!(result, Err(ReadError::Sink("enough"))));
    assert_eq!(seen.len(), 2);
}

#[test]
fn payload_too_large_uses_meilisearch_units() {
    assert_eq!(
        payload_too_large(100_000_000).message,
        "The provided payload reached the size limit. The maximum accepted payload size is 100 MB."
    );
    assert_eq!(
        payload_too_large(1024 * 1024).message,
        "The provided payload reached the size limit. The maximum accepted payload size is 1 MiB."
    );
    assert_eq!(payload_too_large(3).http_status, 413);
}

proptest! {
    /// Any array of objects comes back unchanged, in order, whatever the spacing.
    #[test]
    fn json_arrays_round_trip(
        objects in prop::collection::vec(prop::collection::btree_map("[a-z]{1,6}", any::<i64>(), 0..4), 0..6),
        pretty in any::<bool>(),
    ) {
        let value: Vec<Value> = objects.iter().map(|m| json!(m)).collect();
        let body = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
        prop_assert_eq!(docs(PayloadFormat::Json, &body), value.clone());
        let ndjson: String = value.iter().map(|v| format!("{v}\n")).collect();
        if !ndjson.is_empty() {
            prop_assert_eq!(docs(PayloadFormat::Ndjson, &ndjson), value);
        }
    }

}

proptest! {
    // `MIROIR_FUZZ_CASES` raises the number of cases (see fuzz/run-short.sh).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("MIROIR_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    /// The payload parsers never panic, and every refusal is a Meilisearch error object.
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..200), which in 0..3usize) {
        let format = [PayloadFormat::Json, PayloadFormat::Ndjson, CSV][which];
        if let Err(error) = parse_payload(format, &body) {
            prop_assert!(["malformed_payload", "missing_payload", "internal"].contains(&error.code.as_str()), "{}", error.code);
        }
    }
}

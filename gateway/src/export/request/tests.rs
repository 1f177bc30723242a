use serde_json::json;

use super::*;

fn refused(body: &str) -> (String, String, u16) {
    let error = parse_text(body).expect_err(body);
    (error.code.clone(), error.message.clone(), error.http_status)
}

/// Every answer below was given by a real Meilisearch 1.50.0 node to the same body.
#[test]
fn bad_bodies_get_the_nodes_errors() {
    let cases = [
        (r#"[]"#, "bad_request", "Invalid value type: expected an object, but found an array: `[]`"),
        (r#""x""#, "bad_request", "Invalid value type: expected an object, but found a string: `\"x\"`"),
        (r#"{"url":1}"#, "invalid_export_url", "Invalid value type at `.url`: expected a string, but found a positive integer: `1`"),
        (r#"{"url":null}"#, "invalid_export_url", "Invalid value type at `.url`: expected a string, but found null"),
        (
            r#"{"url":"http://x","apiKey":1}"#,
            "invalid_export_api_key",
            "Invalid value type at `.apiKey`: expected a string, but found a positive integer: `1`",
        ),
        (r#"{"url":"http://x","payloadSize":"abc"}"#, "invalid_export_payload_size", "Invalid value at `.payloadSize`: the character 'a' is not a number"),
        (
            r#"{"url":"http://x","payloadSize":"10 XB"}"#,
            "invalid_export_payload_size",
            "Invalid value at `.payloadSize`: the character 'X' is incorrect ('B', 'K', 'M', 'G', 'T', 'P', 'E' or no character or no character is expected)",
        ),
        (r#"{"url":"http://x","payloadSize":""}"#, "invalid_export_payload_size", "Invalid value at `.payloadSize`: no value can be found"),
        (
            r#"{"url":"http://x","payloadSize":-1}"#,
            "invalid_export_payload_size",
            "Invalid value type at `.payloadSize`: expected a positive integer or a string, but found a negative integer: `-1`",
        ),
        (
            r#"{"url":"http://x","payloadSize":1.5}"#,
            "invalid_export_payload_size",
            "Invalid value type at `.payloadSize`: expected a positive integer or a string, but found a number: `1.5`",
        ),
        (
            r#"{"url":"http://x","payloadSize":true}"#,
            "invalid_export_payload_size",
            "Invalid value type at `.payloadSize`: expected a positive integer or a string, but found a boolean: `true`",
        ),
        (r#"{"url":"http://x","indexes":[]}"#, "bad_request", "Invalid value type at `.indexes`: expected an object, but found an array: `[]`"),
        (
            r#"{"url":"http://x","indexes":{"*":1}}"#,
            "bad_request",
            "Invalid value type at `.indexes.*`: expected an object, but found a positive integer: `1`",
        ),
        (r#"{"url":"http://x","indexes":{"a":null}}"#, "bad_request", "Invalid value type at `.indexes.a`: expected an object, but found null"),
        (
            r#"{"url":"http://x","indexes":{"bad name!":{}}}"#,
            "bad_request",
            "Invalid value at `.indexes`: the key \"bad name!\" could not be deserialized into the key type `meilisearch_types::index_uid_pattern::IndexUidPattern`",
        ),
        (
            r#"{"url":"http://x","indexes":{"mov*ie":{}}}"#,
            "bad_request",
            "Invalid value at `.indexes`: the key \"mov*ie\" could not be deserialized into the key type `meilisearch_types::index_uid_pattern::IndexUidPattern`",
        ),
        (
            r#"{"url":"http://x","indexes":{"*":{"overrideSettings":1}}}"#,
            "invalid_export_index_override_settings",
            "Invalid value type at `.indexes.*.overrideSettings`: expected a boolean, but found a positive integer: `1`",
        ),
        (
            r#"{"url":"http://x","indexes":{"a":{"overrideSettings":null}}}"#,
            "invalid_export_index_override_settings",
            "Invalid value type at `.indexes.a.overrideSettings`: expected a boolean, but found null",
        ),
        (
            r#"{"url":"http://x","indexes":{"*":{"other":1}}}"#,
            "bad_request",
            "Unknown field `other` inside `.indexes.*`: expected one of `filter`, `overrideSettings`",
        ),
        (r#"{"url":"http://x","other":1}"#, "bad_request", "Unknown field `other`: expected one of `url`, `apiKey`, `payloadSize`, `indexes`"),
        (r#"{"url":2,"other":1}"#, "invalid_export_url", "Invalid value type at `.url`: expected a string, but found a positive integer: `2`"),
    ];
    for (body, code, message) in cases {
        assert_eq!(refused(body), (code.to_owned(), message.to_owned(), 400), "{body}");
    }
}

#[test]
fn what_a_node_accepts_is_accepted() {
    // A node checks neither the URL nor the filter before the task runs.
    let bare = parse_text("{}").unwrap();
    assert_eq!((bare.url.as_str(), bare.api_key.as_deref(), bare.payload_size), ("", None, None));
    assert_eq!(bare.indexes, BTreeMap::from([(IndexPattern::all(), IndexExport::default())]));
    let nulls = parse_text(r#"{"url":"nope","apiKey":null,"payloadSize":null,"indexes":null}"#).unwrap();
    assert_eq!((nulls.url.as_str(), nulls.indexes.len()), ("nope", 1));
    for (size, bytes) in
        [("1", 1), ("\"0 MiB\"", 0), ("\"60 B\"", 60), ("\"1.5 KB\"", 1500), ("\"10mib\"", 1_310_720), ("\"24MiB\"", 24 << 20)]
    {
        let request = parse_text(&format!(r#"{{"url":"http://x","payloadSize":{size}}}"#)).unwrap();
        assert_eq!(request.payload_size, Some(bytes), "{size}");
    }
    let patterns =
        parse_text(r#"{"url":"http://x","apiKey":"remoteKey","indexes":{"mov*":{"filter":"g = x"},"books":{"overrideSettings":true},"*":{"filter":1}}}"#)
            .unwrap();
    // Patterns are tried in their order, as on a node: `*` sorts first and takes every index.
    for uid in ["other", "movies", "books"] {
        assert_eq!(patterns.settings_for(uid), Some(&IndexExport { filter: Some(json!(1)), override_settings: false }), "{uid}");
    }
    let without_star = parse_text(r#"{"indexes":{"mov*":{"filter":"g = x"},"books":{"overrideSettings":true}}}"#).unwrap();
    assert_eq!(without_star.settings_for("movies").unwrap().filter, Some(json!("g = x")));
    assert!(without_star.settings_for("books").unwrap().override_settings);
    assert_eq!(without_star.settings_for("other"), None);
    let details = Value::Object(patterns.details().to_view());
    assert_eq!(details["apiKey"], "XXX...");
    assert_eq!(details["indexes"].as_object().unwrap().keys().collect::<Vec<_>>(), ["*", "books", "mov*"]);
}

//! Body checks, uuid parsing and redaction, each case watched on Meilisearch 1.50.

use super::body::*;
use super::view::*;
use miroir_schemas::meta_log::webhooks::Webhook;
use serde_json::json;
use std::collections::BTreeMap;
use uuid::Uuid;

fn error(result: Result<impl std::fmt::Debug, miroir_schemas::error::ResponseError>) -> (String, String) {
    let error = result.unwrap_err();
    (error.code, error.message)
}

fn pair(code: &str, message: &str) -> (String, String) {
    (code.to_owned(), message.to_owned())
}

const UUID: &str = "76f1aa1c-d5ab-49fe-84f0-66d348499757";

#[test]
fn bodies_are_read_field_by_field() {
    let cases = [
        (json!({"uuid": "x"}), pair("immutable_webhook_uuid", "Immutable field `uuid`: expected one of `url`, `headers`")),
        (
            json!({"isEditable": false}),
            pair("immutable_webhook_is_editable", "Immutable field `isEditable`: expected one of `url`, `headers`"),
        ),
        (json!({"foo": 1}), pair("bad_request", "Unknown field `foo`: expected one of `url`, `headers`")),
        (
            json!({"headerss": {}}),
            pair("bad_request", "Unknown field `headerss`: did you mean `headers`? expected one of `url`, `headers`"),
        ),
        (
            json!({"url": 3}),
            pair("invalid_webhook_url", "Invalid value type at `.url`: expected a string, but found a positive integer: `3`"),
        ),
        (
            json!({"url": 5, "foo": 1}),
            pair("invalid_webhook_url", "Invalid value type at `.url`: expected a string, but found a positive integer: `5`"),
        ),
        (json!({"foo": 1, "url": 5}), pair("bad_request", "Unknown field `foo`: expected one of `url`, `headers`")),
        (
            json!({"headers": []}),
            pair("invalid_webhook_headers", "Invalid value type at `.headers`: expected an object, but found an array: `[]`"),
        ),
        (
            json!({"headers": {"a": 1}}),
            pair("invalid_webhook_headers", "Invalid value type at `.headers.a`: expected a string, but found a positive integer: `1`"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(error(parse_settings(&body)), expected, "{body}");
    }
    let settings = parse_settings(&json!({"url": "http://x", "headers": {"a": null, "b": "c"}})).unwrap();
    assert_eq!(settings.url, Setting::Set("http://x".into()));
    assert_eq!(settings.headers, Setting::Set([("a".to_string(), None), ("b".to_string(), Some("c".to_string()))].into()));
    assert_eq!(
        parse_settings(&json!({"url": null, "headers": null})).unwrap(),
        WebhookSettings { url: Setting::Reset, headers: Setting::Reset }
    );
}

#[test]
fn new_webhooks_are_checked_in_meilisearchs_order() {
    let uuid: Uuid = UUID.parse().unwrap();
    let new = |body| new_webhook(uuid, parse_settings(&body).unwrap());
    let missing = format!("The URL for the webhook `{UUID}` is missing.");
    assert_eq!(error(new(json!({}))), pair("invalid_webhook_url", &missing));
    assert_eq!(error(new(json!({"url": null}))), pair("invalid_webhook_url", &missing));
    assert_eq!(error(new(json!({"url": ""}))), pair("invalid_webhook_url", &missing));
    assert_eq!(
        error(new(json!({"url": "not a url"}))),
        pair("invalid_webhook_url", "Invalid URL `not a url`: relative URL without a base")
    );
    assert_eq!(error(new(json!({"url": "http://"}))), pair("invalid_webhook_url", "Invalid URL `http://`: empty host"));
    assert_eq!(error(new(json!({"url": "http://[::1"}))), pair("invalid_webhook_url", "Invalid URL `http://[::1`: invalid IPv6 address"));
    // Headers are checked before the URL.
    assert_eq!(
        error(new(json!({"url": "bad", "headers": {"bad name": "x"}}))),
        pair("invalid_webhook_headers", "Invalid header name `bad name`: invalid HTTP header name")
    );
    assert_eq!(
        error(new(json!({"url": "http://a", "headers": {"ok": "bad\nvalue"}}))),
        pair("invalid_webhook_headers", "Invalid header value `ok`: failed to parse header value")
    );
    // A header set to `null` in a creation is kept, empty; any scheme parses.
    assert_eq!(
        new(json!({"url": "ftp://x", "headers": {"a": null}})).unwrap(),
        Webhook { url: "ftp://x".into(), headers: [("a".to_string(), String::new())].into() }
    );
    let many: serde_json::Map<String, serde_json::Value> = (0..201).map(|i| (format!("h{i}"), json!("v"))).collect();
    let too_many = parse_settings(&json!({"url": "http://a", "headers": many})).unwrap();
    assert_eq!(
        error(check_new_header_count(uuid, &too_many)),
        pair("invalid_webhook_headers", &format!("Too many headers for the webhook `{UUID}`. Please limit the number of headers to 200. Hint: To remove an already defined header set its value to `null`"))
    );
}

#[test]
fn patches_merge_then_check() {
    let uuid: Uuid = UUID.parse().unwrap();
    let old = Webhook { url: "http://example.com/hook".into(), headers: [("X-A".to_string(), "b".to_string())].into() };
    let patch = |body| patched_webhook(uuid, &old, &parse_settings(&body).unwrap());
    assert_eq!(patch(json!({"headers": {"X-A": null, "Y": "z"}})).unwrap().headers, BTreeMap::from([("Y".to_string(), "z".to_string())]));
    assert!(patch(json!({"headers": null})).unwrap().headers.is_empty());
    assert_eq!(patch(json!({})).unwrap(), old);
    assert_eq!(error(patch(json!({"url": null}))), pair("invalid_webhook_url", &format!("The URL for the webhook `{UUID}` is missing.")));
    assert_eq!(error(patch(json!({"url": "bad"}))).0, "invalid_webhook_url");
}

#[test]
fn uuids_parse_as_meilisearch_parses_them() {
    let cases = [
        ("nope", "Invalid UUID: invalid character: found `n` at 0"),
        ("abc", "Invalid UUID: invalid length: found 3"),
        ("76f1aa1c-d5ab-49fe-84f0-66d34849975", "Invalid UUID: invalid group length in group 4: expected 12, found 11"),
        ("76f1aa1c-d5ab-49fe-84f0-66d34849975g", "Invalid UUID: invalid character: found `g` at 35"),
        ("76f1aa1c-d5ab49fe-84f0-66d348499757x", "Invalid UUID: invalid character: found `x` at 35"),
    ];
    for (param, message) in cases {
        assert_eq!(error(parse_uuid(param)), pair("invalid_webhook_uuid", message), "{param}");
    }
    for spelling in [
        UUID,
        "76f1aa1cd5ab49fe84f066d348499757",
        "76F1AA1C-D5AB-49FE-84F0-66D348499757",
        "{76f1aa1c-d5ab-49fe-84f0-66d348499757}",
        "urn:uuid:76f1aa1c-d5ab-49fe-84f0-66d348499757",
    ] {
        assert_eq!(parse_uuid(spelling).unwrap().to_string(), UUID, "{spelling}");
    }
    let nil = Uuid::nil();
    assert_eq!(
        error(check_editable(nil)),
        pair("immutable_webhook", "Webhook `00000000-0000-0000-0000-000000000000` is immutable. The webhook defined from the command line cannot be modified using the API.")
    );
    assert_eq!(not_found(nil).http_status, 404);
}

#[test]
fn authorization_values_are_hidden() {
    let uuid: Uuid = UUID.parse().unwrap();
    let webhook = Webhook {
        url: "http://x.y".into(),
        headers: [("Authorization", "Bearer 0123456789abcdefghijklmnop"), ("authorization", "short"), ("X-A", "b")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    assert_eq!(
        webhook_view(&uuid, &webhook),
        json!({"uuid": UUID, "isEditable": true, "url": "http://x.y", "headers": {"Authorization": "Bearer 012XXXXX...", "X-A": "b", "authorization": "XXX..."}})
    );
    let keys: Vec<String> = webhook_view(&uuid, &webhook).as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["uuid", "isEditable", "url", "headers"]);
    assert_eq!(redacted_authorization("Bearer "), "Bearer XXX...");
}

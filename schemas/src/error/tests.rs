use super::*;
use crate::test_support::transcript;
use serde_json::{json, Value};
use std::collections::HashSet;

#[test]
fn names_are_unique_and_round_trip() {
    let mut seen = HashSet::new();
    for &code in Code::ALL {
        assert!(seen.insert(code.name()), "duplicate name {}", code.name());
        assert_eq!(Code::from_name(code.name()), Some(code));
        assert!(code.name().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }
    assert_eq!(Code::ALL.len(), 288);
}

#[test]
fn spot_checks_against_meilisearch_table() {
    assert_eq!(Code::IndexNotFound.name(), "index_not_found");
    assert_eq!(Code::IndexNotFound.http_status(), 404);
    assert_eq!(Code::ApiKeyAlreadyExists.http_status(), 409);
    assert_eq!(Code::MissingAuthorizationHeader.error_type(), "auth");
    assert_eq!(Code::InvalidApiKey.http_status(), 403);
    assert_eq!(Code::IoError.error_type(), "system");
    assert_eq!(Code::IoError.http_status(), 422);
    assert_eq!(Code::Internal.error_type(), "internal");
    assert_eq!(Code::PayloadTooLarge.http_status(), 413);
    assert_eq!(Code::TooManySearchRequests.http_status(), 503);
    assert_eq!(Code::RequiresEnterpriseEdition.http_status(), 451);
    assert_eq!(Code::UnretrievableDocument.error_type(), "internal");
    assert_eq!(Code::UnretrievableDocument.http_status(), 400);
    assert_eq!(Code::InvalidSearchQ.name(), "invalid_search_q");
    assert_eq!(Code::InvalidS3SnapshotRequest.name(), "invalid_s_3_snapshot_request");
    assert_eq!(Code::InvalidSwapDuplicateIndexFound.link(), "https://docs.meilisearch.com/errors#invalid_swap_duplicate_index_found");
}

#[test]
fn response_error_wire_shape() {
    let err = ResponseError::new(Code::IndexNotFound, "Index `nope` not found.");
    assert_eq!(err.http_status, 404);
    let wire = serde_json::to_value(&err).unwrap();
    assert_eq!(
        wire,
        json!({
            "message": "Index `nope` not found.",
            "code": "index_not_found",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#index_not_found"
        })
    );
    let keys: Vec<&str> = wire.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["message", "code", "type", "link"]);
    let back: ResponseError = serde_json::from_value(wire).unwrap();
    assert_eq!(back, err);
    let unknown: ResponseError =
        serde_json::from_value(json!({"message": "m", "code": "from_the_future", "type": "internal", "link": "l"})).unwrap();
    assert_eq!(unknown.http_status, 500);
}

#[test]
fn io_error_message_gets_meilisearch_hint() {
    let err = ResponseError::new(Code::IoError, "No space left");
    assert!(err.message.starts_with("No space left. This error generally happens"));
}

/// The error object in `value` (a response body or a task's `error`), if it looks like one.
fn error_object(value: &Value) -> Option<&Value> {
    let obj = value.as_object()?;
    (obj.contains_key("code") && obj.contains_key("link")).then_some(value)
}

fn assert_matches_table(exchange: &str, err: &Value) -> Code {
    let name = err["code"].as_str().unwrap();
    let code = Code::from_name(name).unwrap_or_else(|| panic!("{exchange}: unknown code {name}"));
    assert_eq!(err["type"], code.error_type(), "{exchange}: type of {name}");
    assert_eq!(err["link"], code.link(), "{exchange}: link of {name}");
    let rebuilt = ResponseError::new(code, err["message"].as_str().unwrap());
    assert_eq!(serde_json::to_value(&rebuilt).unwrap(), *err, "{exchange}");
    code
}

#[test]
fn every_error_in_the_transcript_matches_the_table() {
    let mut synchronous = 0;
    let mut in_tasks = 0;
    for exchange in transcript() {
        if let Some(err) = error_object(&exchange.response) {
            let code = assert_matches_table(&exchange.name, err);
            // Meilisearch's /multi-search reports a failing query's error with a 400,
            // whatever the inner code's own status.
            let expected = if exchange.path == "/multi-search" { 400 } else { code.http_status() };
            assert_eq!(exchange.status, expected, "{}: status of {}", exchange.name, code);
            synchronous += 1;
        }
        if let Some(err) = exchange.response.get("error").and_then(error_object) {
            assert_matches_table(&exchange.name, err);
            in_tasks += 1;
        }
    }
    assert!(synchronous >= 20, "only {synchronous} synchronous errors found");
    assert!(in_tasks >= 8, "only {in_tasks} task errors found");
}

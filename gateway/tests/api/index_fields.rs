//! `POST /indexes/{uid}/fields` up to the nodes: the body is read first, a uid that cannot name
//! an index is not found, and the route takes `fields.post` (the merge over real nodes is in
//! integration/tests/api_coverage.rs).

use crate::support::{meili_error, TestGateway};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_body_is_read_before_the_index_is_looked_up() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.call("POST", "/indexes/nope/fields", Some(json!({"foo": 1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, meili_error("bad_request", "invalid_request", "Unknown field `foo`: expected one of `offset`, `limit`, `filter`"));
    // Watched on Meilisearch 1.50: an unusable uid is a missing index here, not `invalid_index_uid`.
    let (status, body) = gateway.call("POST", "/indexes/bad%20uid/fields", Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, meili_error("index_not_found", "invalid_request", "Index `bad uid` not found."));
}

#[tokio::test]
async fn fields_need_their_action() {
    let gateway = TestGateway::new().await;
    let key = gateway.create_key(json!({"actions": ["search"], "indexes": ["*"], "expiresAt": null})).await;
    let (status, body) = gateway.call_as("POST", "/indexes/movies/fields", key["key"].as_str(), Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "invalid_api_key");
}

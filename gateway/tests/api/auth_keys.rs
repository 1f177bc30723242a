//! Cluster-wide API keys over one shared in-memory log: keys changed through one gateway apply
//! on every gateway, the log settles races, and everything survives restarts. The gateways
//! answer searches and writes with the verdict they got (`support::echo`): these tests are
//! about which keys pass, and the real handlers would need nodes behind the gateway.

use std::sync::Arc;

use crate::support::*;
use axum::http::StatusCode;
use miroir_clients::log::{LogConfig, MemoryLog, Topic, WriteLog};
use serde_json::{json, Value};
use time::Duration;

fn uid_of(view: &Value) -> String {
    view["uid"].as_str().unwrap().to_owned()
}

fn key_of(view: &Value) -> String {
    view["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_key_created_on_one_gateway_works_on_another_and_survives_restarts() {
    let (log, clock, a, b) = two_gateways().await;

    clock.advance(Duration::seconds(1));
    let view = a.create_key(json!({ "actions": ["search"], "indexes": ["movies"], "expiresAt": null, "name": "web" })).await;
    let key = key_of(&view);
    // No waiting: B folds `meta` up to the log's end when it meets an unknown key.
    let (status, body) = b.call_as("POST", "/indexes/movies/search", Some(&key), Some(json!({}))).await;
    assert_eq!((status, body["index"].clone()), (StatusCode::OK, json!("movies")));
    let (status, on_b) = b.call("GET", &format!("/keys/{}", uid_of(&view)), None).await;
    assert_eq!((status, &on_b), (StatusCode::OK, &view), "B shows the key exactly as A created it");
    let (_, by_value) = b.call("GET", &format!("/keys/{key}"), None).await;
    assert_eq!(by_value, view, "a key is also found by its value");

    drop((a, b));
    let a = echoing_gateway(log.clone(), Some(MASTER_KEY), &clock).await;
    let b = echoing_gateway(log.clone(), Some(MASTER_KEY), &clock).await;
    for gateway in [&a, &b] {
        let (status, _) = gateway.call_as("POST", "/indexes/movies/search", Some(&key), Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK);
        let (_, list) = gateway.call("GET", "/keys", None).await;
        assert_eq!(list["total"], 5, "the four default keys, seeded once, and ours: {list}");
        assert_eq!(list["results"][0], view, "newest first");
    }
}

#[tokio::test]
async fn a_deleted_key_is_refused_on_every_gateway() {
    let (log, _, a, b) = two_gateways().await;
    let view = a.create_key(json!({ "actions": ["*"], "indexes": ["*"], "expiresAt": null })).await;
    let key = key_of(&view);
    assert_eq!(a.call_as("GET", "/tasks", Some(&key), None).await.0, StatusCode::OK);
    assert_eq!(b.call_as("GET", "/tasks", Some(&key), None).await.0, StatusCode::OK);

    let (status, body) = b.call("DELETE", &format!("/keys/{}", uid_of(&view)), None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    // B answered after folding the delete; A refuses it once its watcher has folded it too.
    a.keys.ring().wait_folded(log.end_offset(Topic::Meta, 0).await.unwrap(), std::time::Duration::from_secs(10)).await;
    for gateway in [&a, &b] {
        let (status, body) = gateway.call_as("GET", "/tasks", Some(&key), None).await;
        assert_eq!((status, body), (StatusCode::FORBIDDEN, invalid_api_key(INVALID_KEY)));
        let (status, body) = gateway.call("GET", &format!("/keys/{}", uid_of(&view)), None).await;
        let message = format!("API key `{}` not found.", uid_of(&view));
        assert_eq!((status, body), (StatusCode::NOT_FOUND, meili_error("api_key_not_found", "invalid_request", &message)));
    }
    let (status, body) = a.call("DELETE", &format!("/keys/{}", uid_of(&view)), None).await;
    assert_eq!((status, body["code"].clone()), (StatusCode::NOT_FOUND, json!("api_key_not_found")));
}

#[tokio::test]
async fn an_expired_key_is_refused_at_request_time() {
    let clock = ManualClock::default();
    let gateway = echoing_gateway(memory_log(), Some(MASTER_KEY), &clock).await;
    let expires_at = ManualClock::START + Duration::hours(1);
    let view = gateway
        .create_key(json!({ "actions": ["search"], "indexes": ["*"], "expiresAt": expires_at.format(&time::format_description::well_known::Rfc3339).unwrap() }))
        .await;
    let key = key_of(&view);
    assert_eq!(gateway.call_as("POST", "/indexes/movies/search", Some(&key), Some(json!({}))).await.0, StatusCode::OK);
    clock.advance(Duration::hours(1));
    let (status, body) = gateway.call_as("POST", "/indexes/movies/search", Some(&key), Some(json!({}))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, invalid_api_key(INVALID_KEY)), "usable strictly before expiresAt");
    let (status, _) = gateway.call("GET", &format!("/keys/{}", uid_of(&view)), None).await;
    assert_eq!(status, StatusCode::OK, "an expired key is still listed, as in Meilisearch");
}

#[tokio::test]
async fn the_log_decides_which_of_two_creates_of_one_uid_wins() {
    let (_, _, a, b) = two_gateways().await;
    let uid = "b0a4a9a6-1c55-4a6e-9d8e-0123456789ab";
    let body = |name: &str| json!({ "uid": uid, "name": name, "actions": ["search"], "indexes": ["*"], "expiresAt": null });
    let (first, second) = tokio::join!(a.call("POST", "/keys", Some(body("from a"))), b.call("POST", "/keys", Some(body("from b"))));
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    let (winner, loser) = if first.0 == StatusCode::CREATED { (first.1, second.1) } else { (second.1, first.1) };
    let message = format!("`uid` field value `{uid}` is already an existing API key.");
    assert_eq!(loser, meili_error("api_key_already_exists", "invalid_request", &message));
    for gateway in [&a, &b] {
        let (_, stored) = gateway.call("GET", &format!("/keys/{uid}"), None).await;
        assert_eq!(stored, winner, "both gateways keep the create the log ordered first");
    }
}

#[tokio::test]
async fn racing_gateways_seed_the_default_keys_once() {
    // Without the log's dedup window the fold alone must keep one copy of each key.
    for dedup_window in [std::time::Duration::from_secs(120), std::time::Duration::ZERO] {
        let config = LogConfig { dedup_window, ..LogConfig::for_tests("seed") };
        let log = Arc::new(MemoryLog::new(config).unwrap());
        let clock = ManualClock::default();
        let (a, b) =
            tokio::join!(echoing_gateway(log.clone(), Some(MASTER_KEY), &clock), echoing_gateway(log.clone(), Some(MASTER_KEY), &clock));
        let (_, on_a) = a.call("GET", "/keys", None).await;
        let (_, on_b) = b.call("GET", "/keys", None).await;
        let names: Vec<&str> = on_a["results"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Default Search API Key", "Default Admin API Key", "Default Read-Only Admin API Key", "Default Chat API Key"]);
        assert_eq!(on_a, on_b);
        // The default admin key works for keys management on either gateway.
        let admin = key_of(&on_a["results"][1]);
        assert_eq!(b.call_as("GET", "/keys", Some(&admin), None).await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn updates_apply_everywhere_and_bad_bodies_get_meilisearch_errors() {
    let (_, clock, a, b) = two_gateways().await;
    let view = a.create_key(json!({ "actions": ["search"], "indexes": ["*"], "expiresAt": null, "name": "old" })).await;
    let path = format!("/keys/{}", key_of(&view));

    clock.advance(Duration::seconds(5));
    let (status, updated) = b.call("PATCH", &path, Some(json!({ "name": "new", "description": null }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((updated["name"].clone(), updated["createdAt"].clone()), (json!("new"), view["createdAt"].clone()));
    assert_eq!(updated["updatedAt"], "2030-01-01T00:00:05Z");
    assert_eq!(a.call("GET", &path, None).await.1, updated);

    let (status, body) = b.call("PATCH", &path, Some(json!({ "actions": ["*"] }))).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            meili_error("immutable_api_key_actions", "invalid_request", "Immutable field `actions`: expected one of `description`, `name`")
        )
    );
    let (status, body) = a.call("POST", "/keys", Some(json!({ "actions": ["search"], "indexes": ["*"] }))).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, meili_error("missing_api_key_expires_at", "invalid_request", "Missing field `expiresAt`"))
    );
    let no_content_type = axum::http::Request::builder()
        .method("POST")
        .uri("/keys")
        .header("Authorization", format!("Bearer {MASTER_KEY}"))
        .body(axum::body::Body::from("{}"))
        .unwrap();
    let response = tower::ServiceExt::oneshot(a.router.clone(), no_content_type).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = a.call("GET", "/keys?limit=1&offset=1", None).await;
    assert_eq!(
        (status, body["limit"].clone(), body["offset"].clone(), body["total"].clone()),
        (StatusCode::OK, json!(1), json!(1), json!(5))
    );
    let (status, body) = a.call("GET", "/keys?limit=x", None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            meili_error(
                "invalid_api_key_limit",
                "invalid_request",
                "Invalid value in parameter `limit`: could not parse `x` as a positive integer"
            )
        )
    );
}

#[tokio::test]
async fn without_a_master_key_keys_routes_are_closed_and_the_rest_is_open() {
    let gateway = echoing_gateway(memory_log(), None, &ManualClock::default()).await;
    let missing = meili_error(
        "missing_master_key",
        "auth",
        "Meilisearch is running without a master key. To access this API endpoint, you must have set a master key at launch.",
    );
    assert_eq!(gateway.call_as("GET", "/keys", None, None).await, (StatusCode::UNAUTHORIZED, missing.clone()));
    assert_eq!(gateway.call_as("GET", "/keys", Some("anything"), None).await, (StatusCode::UNAUTHORIZED, missing));
    assert_eq!(gateway.call_as("POST", "/indexes/movies/documents", None, None).await.0, StatusCode::ACCEPTED);
    assert_eq!(gateway.keys.ring().read(|store| store.len()), 0, "no default keys without a master key");
}

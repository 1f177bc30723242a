//! `/experimental-features`, `/network` and the routes that experimental features gate,
//! answered as a Meilisearch 1.50 node answers them (each error watched on the real binary).

use crate::support::{exchange, meili_error, TestGateway, MASTER_KEY};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

/// Sends `body` as it is, with `content_type` when given, and the master key.
pub async fn raw(gateway: &TestGateway, method: &str, path: &str, content_type: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path).header("Authorization", format!("Bearer {MASTER_KEY}"));
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    gateway.send(request.body(Body::from(body.to_owned())).unwrap()).await
}

fn bad_request(message: &str) -> Value {
    meili_error("bad_request", "invalid_request", message)
}

/// The recorded node had `network` turned on; the cluster also has `editDocumentsByFunction` on
/// (it serves the documents edit route), which a node shows as `true` in the same place.
#[tokio::test]
async fn features_read_as_the_recorded_node_with_network_and_edition_on() {
    let gateway = TestGateway::new().await;
    let recorded = exchange("enable network feature");
    let mut features = recorded["response"].clone();
    features["editDocumentsByFunction"] = json!(true);
    let (status, body) = gateway.call("PATCH", "/experimental-features", Some(recorded["request"]["body"].clone())).await;
    assert_eq!(status.as_u16(), recorded["status"]);
    assert_eq!(body, features);
    let (status, body) = gateway.call("GET", "/experimental-features", None).await;
    assert_eq!((status, &body), (StatusCode::OK, &features));
}

#[tokio::test]
async fn feature_patches_are_checked_then_refused_when_they_change_something() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.call("PATCH", "/experimental-features", Some(json!({"metrics": "yes"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, bad_request("Invalid value type at `.metrics`: expected a boolean, but found a string: `\"yes\"`"));
    let (status, body) = raw(&gateway, "PATCH", "/experimental-features", None, "").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["code"], "missing_content_type");
    let (status, body) = raw(&gateway, "PATCH", "/experimental-features", Some("application/json"), "xx").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        meili_error("malformed_payload", "invalid_request", "The json payload provided is malformed. `expected value at line 1 column 1`.")
    );
    let (status, body) = gateway.call("PATCH", "/experimental-features", Some(json!({"containsFilter": true}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "bad_request");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("The `containsFilter` experimental feature cannot be enabled on a Miroir cluster"));
    let (_, after) = gateway.call("GET", "/experimental-features", None).await;
    assert_eq!(after["containsFilter"], false, "a refused patch changes nothing");
}

#[tokio::test]
async fn features_need_their_actions() {
    let gateway = TestGateway::new().await;
    let reader = gateway.create_key(json!({"actions": ["experimental.get"], "indexes": ["*"], "expiresAt": null})).await;
    let key = reader["key"].as_str().unwrap();
    assert_eq!(gateway.call_as("GET", "/experimental-features", Some(key), None).await.0, StatusCode::OK);
    let (status, body) = gateway.call_as("PATCH", "/experimental-features", Some(key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "invalid_api_key");
}

#[tokio::test]
async fn network_reads_as_a_node_without_a_network() {
    let gateway = TestGateway::new().await;
    // Watched on Meilisearch 1.50 with the `network` feature on and no network set.
    let empty = json!({"self": null, "remotes": {}, "shards": {}, "leader": null, "version": "00000000-0000-0000-0000-000000000000"});
    assert_eq!(gateway.call("GET", "/network", None).await, (StatusCode::OK, empty.clone()));
    assert_eq!(gateway.call("PATCH", "/network", Some(json!({"remotes": {"a": null}}))).await, (StatusCode::OK, empty));
    let (status, body) = gateway.call("PATCH", "/network", Some(json!({"self": 5}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        meili_error(
            "invalid_network_self",
            "invalid_request",
            "Invalid value type at `.self`: expected a string, but found a positive integer: `5`"
        )
    );
    let (status, body) = gateway.call("PATCH", "/network", Some(json!({"self": "ms-0", "remotes": {"ms-0": {"url": "http://x"}}}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().starts_with("A Miroir cluster cannot be part of a Meilisearch network"), "{body}");
}

#[tokio::test]
async fn network_control_reads_its_body_then_needs_the_enterprise_edition() {
    let gateway = TestGateway::new().await;
    // Watched on Meilisearch 1.50 (Community Edition).
    let (status, body) = gateway.call("POST", "/network/control", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, bad_request("Json deserialize error: missing field `origin` at line 1 column 2"));
    let (_, body) = gateway.call("POST", "/network/control", Some(json!({"origin": 1}))).await;
    assert_eq!(body, bad_request("Json deserialize error: invalid type: integer `1`, expected struct Origin at line 1 column 11"));
    let (_, body) = gateway.call("POST", "/network/control", Some(json!([]))).await;
    assert_eq!(
        body,
        bad_request("Json deserialize error: invalid length 0, expected struct NetworkChange with 2 elements at line 1 column 2")
    );
    let valid = json!({"origin": {"remoteName": "a", "taskUid": 1}, "message": {"type": "exportNoIndexForRemote", "remote": "x"}});
    let (status, body) = gateway.call("POST", "/network/control", Some(valid)).await;
    assert_eq!(status.as_u16(), 451);
    assert_eq!(
        body,
        meili_error("requires_enterprise_edition", "invalid_request", "Meilisearch Enterprise Edition is required to call this route")
    );
}

/// `(method, path, body)` → the error a Meilisearch 1.50 node with its experimental features off
/// answers (master key), each watched on the real binary.
#[tokio::test]
async fn feature_gated_routes_answer_as_a_node_with_the_feature_off() {
    let gateway = TestGateway::new().await;
    let gated = |message: &str| meili_error("feature_not_enabled", "invalid_request", message);
    let logs = gated("Modifying logs through the `/logs/*` routes requires enabling the `logs route` experimental feature. See https://github.com/orgs/meilisearch/discussions/721");
    let rules = gated("Using the `/dynamic-search-rules` routes requires enabling the `dynamic search rules` experimental feature. See https://github.com/orgs/meilisearch/discussions/884");
    let chats = |action: &str| {
        gated(&format!("{action} requires enabling the `chat completions` experimental feature. See https://github.com/orgs/meilisearch/discussions/835"))
    };
    let cases = [
        ("POST", "/logs/stream", Some(json!({})), logs.clone()),
        ("DELETE", "/logs/stream", None, logs.clone()),
        ("POST", "/logs/stderr", Some(json!({"target": "info"})), logs),
        ("POST", "/logs/stream", Some(json!({"foo": 1})), bad_request("Unknown field `foo`: expected one of `target`, `mode`, `profileMemory`")),
        ("POST", "/dynamic-search-rules", Some(json!({})), gated("Calling the `POST /dynamic-search-rules` route requires enabling the `dynamic search rules` experimental feature. See https://github.com/orgs/meilisearch/discussions/884")),
        ("DELETE", "/dynamic-search-rules", None, rules.clone()),
        ("GET", "/dynamic-search-rules/abc", None, gated("Calling the `GET /dynamic-search-rules/{:ruleUid}` route requires enabling the `dynamic search rules` experimental feature. See https://github.com/orgs/meilisearch/discussions/884")),
        ("PATCH", "/dynamic-search-rules/abc", Some(json!({})), rules.clone()),
        ("DELETE", "/dynamic-search-rules/abc?customMetadata=1", None, rules),
        ("DELETE", "/dynamic-search-rules?foo=1", None, bad_request("Unknown parameter `foo`: expected one of `customMetadata`")),
        ("PATCH", "/dynamic-search-rules/abc", Some(json!({"foo": 1})), bad_request("Unknown field `foo`: expected one of `description`, `precedence`, `active`, `conditions`, `actions`")),
        ("POST", "/render-template", Some(json!({"template": {"kind": "inlineDocumentTemplate", "inline": "x"}})), gated("calling the /render-template route requires enabling the `render_route` experimental feature. See https://github.com/orgs/meilisearch/discussions/888")),
        ("POST", "/render-template", Some(json!({})), bad_request("Missing field `template`")),
        ("GET", "/chats", None, chats("listing the chats")),
        ("GET", "/chats?foo=1", None, bad_request("Unknown parameter `foo`: expected one of `offset`, `limit`")),
        ("GET", "/chats/ws", None, chats("displaying a chat")),
        ("DELETE", "/chats/ws", None, chats("deleting a chat")),
        ("GET", "/chats/ws/settings", None, chats("using the /chats/settings route")),
        ("PATCH", "/chats/ws/settings", Some(json!({})), chats("using the /chats/settings route")),
        ("DELETE", "/chats/ws/settings", None, chats("using the /chats/settings route")),
        ("POST", "/chats/ws/chat/completions", Some(json!({"messages": [], "model": "x"})), chats("using the /chats chat completions route")),
        ("POST", "/chats/ws/chat/completions", Some(json!({})), bad_request("Json deserialize error: missing field `messages` at line 1 column 2")),
        ("POST", "/indexes/movies/documents/edit?foo=1", Some(json!({})), bad_request("Unknown parameter `foo`: expected one of `customMetadata`")),
        ("POST", "/tasks/compact", None, gated("Using the /tasks/compact route requires enabling the `task queue compaction route` experimental feature. See https://github.com/orgs/meilisearch/discussions/883")),
        ("GET", "/tasks/abc/documents", None, gated("Getting the documents of an enqueued task requires enabling the `get task documents route` experimental feature. See https://github.com/orgs/meilisearch/discussions/808")),
    ];
    for (method, path, body, expected) in cases {
        let (status, answer) = gateway.call(method, path, body).await;
        assert_eq!((status, answer), (StatusCode::BAD_REQUEST, expected), "{method} {path}");
    }
}

#[tokio::test]
async fn a_rule_uid_that_is_no_index_uid_is_a_plain_text_404() {
    let gateway = TestGateway::new().await;
    let request = Request::get("/dynamic-search-rules/bad%20uid")
        .header("Authorization", format!("Bearer {MASTER_KEY}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = gateway.send_raw(request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "`bad uid` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."
    );
    // The path is read before the query string and the body on PATCH, after the query on DELETE.
    let (status, _) = raw(&gateway, "PATCH", "/dynamic-search-rules/bad%20uid?foo=1", Some("application/json"), "xx").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = gateway.call("DELETE", "/dynamic-search-rules/bad%20uid?foo=1", None).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    let (_, body) = raw(&gateway, "PATCH", "/dynamic-search-rules/abc?foo=1", Some("application/json"), "xx").await;
    assert_eq!(body["code"], "bad_request", "the query string before the body");
}

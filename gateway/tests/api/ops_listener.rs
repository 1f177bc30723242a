//! The operations listener (`--metrics-listen`): Prometheus text and readiness there, and on the
//! API port `/metrics` answers as a Meilisearch node without the `metrics` feature; every API
//! response carries its request id.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use miroir_gateway::ops_listener;
use miroir_gateway::state::AppState;
use miroir_schemas::topology::{Node, Topology};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::support::{memory_log, TestGateway, MASTER_KEY};

async fn get_json(router: &Router, path: &str) -> (StatusCode, Vec<u8>) {
    let response = router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    (status, to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec())
}

/// A stand-in for a node's `/health` only (readiness asks nothing else), on a free port.
async fn healthy_node() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().route("/health", get(|| async { Json(json!({"status": "available"})) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// A loopback port nothing listens on.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

fn state(urls: Vec<String>) -> AppState {
    let nodes =
        urls.into_iter().enumerate().map(|(i, url)| Node { id: format!("n{i}"), url, replica_group: "g".into(), api_key: None }).collect();
    AppState::new(Topology::new(1, 6, 1, nodes).unwrap(), memory_log(), Some(MASTER_KEY.into()), 1 << 20)
}

#[tokio::test]
async fn ready_only_when_every_shard_has_a_reachable_replica() {
    let up = state(vec![healthy_node().await, healthy_node().await]);
    let (status, body) = get_json(&ops_listener::router(up).unwrap(), "/ready").await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["log"], json!({"reachable": true}));
    assert_eq!(body["nodes"], json!([{"id": "n0", "reachable": true}, {"id": "n1", "reachable": true}]));

    let half = state(vec![healthy_node().await, closed_port().await]);
    let held_by_n1: Vec<u32> = half.placement().shards_of_node("n1").into_iter().map(|shard| shard.0).collect();
    let (status, body) = get_json(&ops_listener::router(half).unwrap(), "/ready").await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unready");
    assert_eq!(body["nodes"][1], json!({"id": "n1", "reachable": false}));
    assert_eq!(body["shardsWithoutReachableReplica"], json!(held_by_n1));
    let text = body.to_string();
    assert!(!text.contains("127.0.0.1") && !text.contains("http"), "no node address in {text}");
}

#[tokio::test]
async fn metrics_are_on_the_operations_listener_not_the_api_port() {
    let gateway = TestGateway::new().await;
    gateway.call_as("GET", "/health", None, None).await;
    // As Meilisearch 1.50 answers `GET /metrics` without the feature: key first, then 400.
    let (status, error) = gateway.call_as("GET", "/metrics", None, None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::UNAUTHORIZED, json!("missing_authorization_header")));
    let (status, error) = gateway.call("GET", "/metrics", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error,
        json!({
            "message": "Getting metrics requires enabling the `metrics` experimental feature. See https://github.com/meilisearch/product/discussions/625",
            "code": "feature_not_enabled",
            "type": "invalid_request",
            "link": "https://docs.meilisearch.com/errors#feature_not_enabled"
        })
    );

    let ops = ops_listener::router(state(vec![closed_port().await])).unwrap();
    let (status, text) = get_json(&ops, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("miroir_http_requests_total") && l.contains("route=\"/health\"") && l.contains("status=\"200\"")),
        "{text}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_plain_client_id_is_kept() {
    let gateway = TestGateway::new().await;
    let response = gateway.router.clone().oneshot(Request::get("/health").body(Body::empty()).unwrap()).await.unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");

    let request = |id: &str| Request::get("/indexes").header("x-request-id", id).body(Body::empty()).unwrap();
    let response = gateway.router.clone().oneshot(request("client-trace.42")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "errors carry it too");
    assert_eq!(response.headers()["x-request-id"], "client-trace.42");
    let response = gateway.router.clone().oneshot(request("two words")).await.unwrap();
    assert_ne!(response.headers()["x-request-id"], "two words");
}

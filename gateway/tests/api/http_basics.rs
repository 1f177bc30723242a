//! Health, version, auth guard, unknown routes and metrics, answered as Meilisearch does.

use crate::support::TestGateway;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

#[tokio::test]
async fn health_needs_no_key_and_answers_available() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.send(Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "available"}));
}

#[tokio::test]
async fn version_has_meilisearch_shape_and_needs_the_key() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.call("GET", "/version", None).await;
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["commitSha", "commitDate", "pkgVersion"]);
    assert_eq!(body["pkgVersion"], "1.50.0");

    let (status, body) = gateway.send(Request::get("/version").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"message": "The Authorization header is missing. It must use the bearer authorization method.",
               "code": "missing_authorization_header", "type": "auth",
               "link": "https://docs.meilisearch.com/errors#missing_authorization_header"})
    );
    let wrong = Request::get("/version").header("Authorization", "Bearer wrong-key").body(Body::empty()).unwrap();
    let (status, body) = gateway.send(wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "invalid_api_key");
    assert_eq!(body["message"], "The provided API key is invalid.");
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_empty_bodies() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.send_raw(Request::get("/no-such-route").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.is_empty());
    let (status, body) = gateway.send_raw(Request::post("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(body.is_empty());
}

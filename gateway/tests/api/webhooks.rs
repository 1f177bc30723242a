//! `/webhooks` through the production router: Meilisearch 1.50's shapes and errors (watched on
//! the real binary), kept in the `meta` log so every gateway sees the same webhooks.

use crate::experimental_routes::raw;
use crate::support::{meili_error, memory_log, Setup, TestGateway};
use axum::http::StatusCode;
use serde_json::{json, Value};

async fn two_gateways_on_one_log() -> (TestGateway, TestGateway) {
    let log = memory_log();
    let a = Setup { log: log.clone(), ..Setup::default() }.start().await;
    let b = Setup { log, ..Setup::default() }.start().await;
    (a, b)
}

fn uuid_of(view: &Value) -> String {
    view["uuid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_webhook_made_through_one_gateway_is_every_gateways() {
    let (a, b) = two_gateways_on_one_log().await;
    assert_eq!(b.call("GET", "/webhooks", None).await, (StatusCode::OK, json!({"results": []})));

    let (status, created) = a.call("POST", "/webhooks", Some(json!({"url": "http://example.com/hook"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let uuid = uuid_of(&created);
    assert_eq!(created, json!({"uuid": uuid, "isEditable": true, "url": "http://example.com/hook", "headers": {}}));
    assert_eq!(b.call("GET", &format!("/webhooks/{uuid}"), None).await, (StatusCode::OK, created.clone()));

    let patch = json!({"headers": {"Authorization": "Bearer 0123456789abcdefghijklmnop", "X-A": "b"}});
    let (status, patched) = b.call("PATCH", &format!("/webhooks/{uuid}"), Some(patch)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["headers"], json!({"Authorization": "Bearer 012XXXXX...", "X-A": "b"}));
    let (_, patched) = a.call("PATCH", &format!("/webhooks/{uuid}"), Some(json!({"headers": {"X-A": null}}))).await;
    assert_eq!(patched["headers"], json!({"Authorization": "Bearer 012XXXXX..."}));
    let (_, listed) = b.call("GET", "/webhooks", None).await;
    assert_eq!(listed, json!({"results": [patched]}));

    let (status, body) = a.call("DELETE", &format!("/webhooks/{uuid}"), None).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, body) = b.call("GET", &format!("/webhooks/{uuid}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, meili_error("webhook_not_found", "invalid_request", &format!("Webhook `{uuid}` not found.")));
    let (status, _) = b.call("DELETE", &format!("/webhooks/{uuid}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn errors_are_meilisearchs() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.call("POST", "/webhooks", Some(json!({"url": "not a url"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, meili_error("invalid_webhook_url", "invalid_request", "Invalid URL `not a url`: relative URL without a base"));
    let (status, body) = gateway.call("POST", "/webhooks", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("The URL for the webhook `") && message.ends_with("` is missing."), "{message}");
    let (status, body) = gateway.call("GET", "/webhooks/nope", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, meili_error("invalid_webhook_uuid", "invalid_request", "Invalid UUID: invalid character: found `n` at 0"));
    let nil = "00000000-0000-0000-0000-000000000000";
    assert_eq!(gateway.call("GET", &format!("/webhooks/{nil}"), None).await.0, StatusCode::NOT_FOUND);
    let (status, body) = gateway.call("DELETE", &format!("/webhooks/{nil}"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "immutable_webhook");
    // The body is read before the uuid, as Meilisearch's extractors read them.
    let (status, body) = raw(&gateway, "PATCH", "/webhooks/nope", Some("application/json"), "bad").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "malformed_payload");
    let (_, body) = gateway.call("PATCH", "/webhooks/nope", Some(json!({"uuid": "x"}))).await;
    assert_eq!(body["code"], "immutable_webhook_uuid");
    // An unknown uuid is not found before its body's URL is judged.
    let (status, body) = gateway.call("PATCH", "/webhooks/76f1aa1c-d5ab-49fe-84f0-66d348499758", Some(json!({"url": "bad"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["message"], "Webhook `76f1aa1c-d5ab-49fe-84f0-66d348499758` not found.");
}

#[tokio::test]
async fn twenty_webhooks_at_most_even_through_racing_gateways() {
    let (a, b) = two_gateways_on_one_log().await;
    for i in 0..18 {
        let (status, _) = a.call("POST", "/webhooks", Some(json!({"url": format!("http://h/{i}")}))).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Both gateways see 18 and race for the last two places.
    let answers = futures::future::join_all((0..6).map(|i| {
        let gateway = if i % 2 == 0 { &a } else { &b };
        gateway.call("POST", "/webhooks", Some(json!({"url": format!("http://race/{i}")})))
    }))
    .await;
    let created = answers.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
    assert_eq!(created, 2, "{answers:?}");
    let refused = answers.iter().find(|(status, _)| *status == StatusCode::BAD_REQUEST).unwrap();
    assert_eq!(
        refused.1,
        meili_error("invalid_webhooks", "invalid_request", "Defining too many webhooks would crush the server. Please limit the number of webhooks to 20. You may use a third-party proxy server to dispatch events to more than 20 endpoints.")
    );
    for gateway in [&a, &b] {
        let (_, listed) = gateway.call("GET", "/webhooks", None).await;
        assert_eq!(listed["results"].as_array().unwrap().len(), 20);
    }
    // Meilisearch checks the count before the URL.
    assert_eq!(a.call("POST", "/webhooks", Some(json!({"url": "bad"}))).await.1["code"], "invalid_webhooks");
}

#[tokio::test]
async fn webhooks_need_their_actions() {
    let gateway = TestGateway::new().await;
    let reader = gateway.create_key(json!({"actions": ["webhooks.get"], "indexes": ["*"], "expiresAt": null})).await;
    let key = reader["key"].as_str().unwrap();
    assert_eq!(gateway.call_as("GET", "/webhooks", Some(key), None).await.0, StatusCode::OK);
    let (status, body) = gateway.call_as("POST", "/webhooks", Some(key), Some(json!({"url": "http://a"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["code"], "invalid_api_key");
}

//! `/_miroir/indexes/{uid}/ttl`: the setting goes through `meta`, so every gateway on the log
//! agrees, and documents written after it carry their normalized expiry on the way to the nodes.

use axum::http::StatusCode;
use miroir_schemas::envelope::Op;
use serde_json::{json, Value};

use crate::support::{memory_log, Setup, TestGateway};

#[tokio::test]
async fn the_setting_is_set_read_and_removed_through_the_log_by_any_gateway() {
    let log = memory_log();
    let a = Setup { log: log.clone(), ..Setup::default() }.start().await;
    let b = Setup { log: log.clone(), ..Setup::default() }.start().await;
    assert_eq!(a.call("GET", "/_miroir/indexes/movies/ttl", None).await, (StatusCode::OK, json!({"indexUid": "movies", "field": null})));
    let (status, body) = a.call("PUT", "/_miroir/indexes/movies/ttl", Some(json!({"field": "expiresAt"}))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"indexUid": "movies", "field": "expiresAt"})));
    // The other gateway folds the same record.
    assert_eq!(b.call("GET", "/_miroir/indexes/movies/ttl", None).await.1["field"], "expiresAt");
    assert_eq!(b.call("GET", "/_miroir/indexes/other/ttl", None).await.1["field"], Value::Null);
    assert_eq!(b.call("DELETE", "/_miroir/indexes/movies/ttl", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(a.call("GET", "/_miroir/indexes/movies/ttl", None).await.1["field"], Value::Null);
}

#[tokio::test]
async fn only_the_master_key_changes_it_and_bad_bodies_are_refused() {
    let gateway = TestGateway::new().await;
    let (_, keys) = gateway.call("GET", "/keys", None).await;
    let admin = keys["results"].as_array().unwrap().iter().find(|k| k["name"] == "Default Admin API Key").unwrap()["key"].clone();
    let admin_key = admin.as_str().unwrap();
    let (status, _) = gateway.call_as("PUT", "/_miroir/indexes/movies/ttl", Some(admin_key), Some(json!({"field": "at"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(gateway.call_as("GET", "/_miroir/indexes/movies/ttl", None, None).await.0, StatusCode::UNAUTHORIZED);
    for body in [json!({}), json!({"field": 3}), json!({"field": "_miroir_until"}), json!({"field": "a", "x": 1}), json!({"field": ""})] {
        let (status, error) = gateway.call("PUT", "/_miroir/indexes/movies/ttl", Some(body.clone())).await;
        assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("bad_request")), "{body}");
    }
    assert_eq!(gateway.call("PUT", "/_miroir/indexes/bad%20uid/ttl", Some(json!({"field": "a"}))).await.1["code"], "invalid_index_uid");
    assert_eq!(gateway.call("GET", "/_miroir/indexes/movies/ttl", None).await.1["field"], Value::Null);
}

#[tokio::test]
async fn documents_written_after_the_setting_carry_their_expiry_in_milliseconds() {
    let gateway = TestGateway::new().await;
    let before = json!([{"id": 1, "expiresAt": 1_900_000_000}]);
    assert_eq!(gateway.call("POST", "/indexes/movies/documents", Some(before)).await.0, StatusCode::ACCEPTED);
    gateway.call("PUT", "/_miroir/indexes/movies/ttl", Some(json!({"field": "expiresAt"}))).await;
    let after = json!([
        {"id": 2, "expiresAt": 1_900_000_000},
        {"id": 3, "expiresAt": "2030-03-17T17:46:40.5Z"},
        {"id": 4, "expiresAt": 1_900_000_000_123_i64},
        {"id": 5, "expiresAt": "soon"},
        {"id": 6, "title": "no expiry"},
    ]);
    assert_eq!(gateway.call("POST", "/indexes/movies/documents", Some(after)).await.0, StatusCode::ACCEPTED);
    let mut until = std::collections::BTreeMap::new();
    for (_, envelope) in gateway.ops().await {
        if let Op::Documents { documents, .. } = envelope.op {
            for document in documents {
                until.insert(document["id"].as_i64().unwrap(), document.get("_miroir_until").cloned());
            }
        }
    }
    let expected = [
        (1, None),
        (2, Some(json!(1_900_000_000_000_i64))),
        (3, Some(json!(1_900_000_000_500_i64))),
        (4, Some(json!(1_900_000_000_123_i64))),
        (5, Some(Value::Null)),
        (6, None),
    ];
    assert_eq!(until, expected.into_iter().collect());
    // A client may not write Miroir's field itself: the task fails, as for the shard field.
    let (_, task) = gateway.call("POST", "/indexes/movies/documents", Some(json!([{"id": 7, "_miroir_until": 1}]))).await;
    let uid = task["taskUid"].as_u64().unwrap();
    let (_, view) = gateway.call("GET", &format!("/tasks/{uid}"), None).await;
    assert_eq!(view["error"]["code"], "invalid_document_fields");
}

//! `/_miroir/aliases`: aliases set through one gateway are seen by another; a request through
//! an alias is served as the index (here `GET /indexes/{uid}`, `GET /indexes/{uid}/settings`
//! and `/stats` read the catalog or nodes; the catalog ones need no node); conflicts between
//! alias and index names are refused both ways. Searches through an alias against real nodes
//! are in `integration/tests/aliases.rs`.

use axum::http::StatusCode;
use miroir_schemas::details::DetailCounts;
use miroir_schemas::task_log::ReplicaStatus;
use serde_json::{json, Value};

use crate::support::{memory_log, Setup, TestGateway};

const DONE: DetailCounts = DetailCounts::NONE;

/// Two gateways on one log, with indexes `products_v1` (task 0) and `products_v2` (task 1).
async fn two_gateways_with_indexes() -> (TestGateway, TestGateway) {
    let log = memory_log();
    let a = Setup { log: log.clone(), ..Setup::default() }.start().await;
    let b = Setup { log, ..Setup::default() }.start().await;
    for (uid, task) in [("products_v1", 0), ("products_v2", 1)] {
        assert_eq!(a.call("POST", "/indexes", Some(json!({"uid": uid, "primaryKey": "id"}))).await.0, StatusCode::ACCEPTED);
        a.finish_task(task, ReplicaStatus::Succeeded, DONE).await;
        a.wait_status(task, "succeeded").await;
    }
    (a, b)
}

async fn put_alias(gateway: &TestGateway, name: &str, indexes: &[&str]) -> (StatusCode, Value) {
    gateway.call("PUT", &format!("/_miroir/aliases/{name}"), Some(json!({"indexes": indexes}))).await
}

#[tokio::test]
async fn an_alias_set_through_one_gateway_is_served_by_every_gateway_and_switches_at_once() {
    let (a, b) = two_gateways_with_indexes().await;
    let (status, alias) = put_alias(&a, "products", &["products_v1"]).await;
    assert_eq!(status, StatusCode::OK, "{alias}");
    assert_eq!((alias["name"].clone(), alias["indexes"].clone()), (json!("products"), json!(["products_v1"])));
    // The other gateway resolves it as soon as it has folded the record (at once with one log in memory).
    let (status, index) = b.call("GET", "/indexes/products", None).await;
    assert_eq!((status, index["uid"].clone()), (StatusCode::OK, json!("products_v1")));
    let (status, listed) = b.call("GET", "/_miroir/aliases", None).await;
    assert_eq!((status, listed["results"][0]["name"].clone()), (StatusCode::OK, json!("products")));

    // A switch: one record; the next request through either gateway reads the new index.
    let (status, switched) = put_alias(&b, "products", &["products_v2"]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(switched["createdAt"], alias["createdAt"], "a switch keeps the creation date");
    assert_eq!(a.call("GET", "/indexes/products", None).await.1["uid"], "products_v2");
    assert_eq!(
        a.call("GET", "/indexes/products/settings/primary-key", None).await.0,
        StatusCode::NOT_FOUND,
        "sub-routes too (no such setting route: the index's own 404)"
    );

    // A write through a one-index alias is a write to the index: its task names the index.
    let (status, task) = a.call("PATCH", "/indexes/products/settings", Some(json!({"searchableAttributes": ["title"]}))).await;
    assert_eq!((status, task["indexUid"].clone()), (StatusCode::ACCEPTED, json!("products_v2")));
    // Index-level changes through an alias are refused.
    let (status, error) = a.call("DELETE", "/indexes/products", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("alias_not_writable")));

    // Deleted through one gateway, gone on the other.
    assert_eq!(b.call("DELETE", "/_miroir/aliases/products", None).await.0, StatusCode::NO_CONTENT);
    let (status, error) = a.call("GET", "/_miroir/aliases/products", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::NOT_FOUND, json!("alias_not_found")));
    let (status, error) = a.call("GET", "/indexes/products", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::NOT_FOUND, json!("index_not_found")));
}

#[tokio::test]
async fn aliases_and_indexes_never_share_a_name() {
    let (a, b) = two_gateways_with_indexes().await;
    let (status, error) = put_alias(&a, "products_v1", &["products_v2"]).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::CONFLICT, json!("alias_conflicts_with_index")));
    assert_eq!(error["message"], "`products_v1` is an index; an alias cannot have an index's name.");
    let (status, error) = put_alias(&a, "products", &["missing"]).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::NOT_FOUND, json!("index_not_found")));
    for body in [
        json!({"indexes": []}),
        json!({"indexes": "products_v1"}),
        json!({"index": ["products_v1"]}),
        json!({"indexes": ["products_v1", "products_v1"]}),
    ] {
        let (status, error) = a.call("PUT", "/_miroir/aliases/products", Some(body.clone())).await;
        assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_alias")), "{body}");
    }
    assert_eq!(put_alias(&a, "products", &["products_v1"]).await.0, StatusCode::OK);
    let (status, error) = put_alias(&a, "chain", &["products"]).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::NOT_FOUND, json!("index_not_found")), "an alias is not an index");

    // No index takes an alias's name: creation, rename, swap with rename; through any gateway.
    let (status, error) = b.call("POST", "/indexes", Some(json!({"uid": "products"}))).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::CONFLICT, json!("alias_conflicts_with_index")));
    assert_eq!(
        error["message"],
        "`products` is an alias (of `products_v1`); an index cannot have an alias's name. Delete the alias first."
    );
    let (status, _) = b.call("PATCH", "/indexes/products_v2", Some(json!({"uid": "products"}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = b.call("POST", "/swap-indexes", Some(json!([{"indexes": ["products_v2", "products"], "rename": true}]))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // A swap keeps Meilisearch's meaning: it swaps indexes, and the alias keeps naming `products_v1`.
    let (status, _) = b.call("POST", "/swap-indexes", Some(json!([{"indexes": ["products_v1", "products_v2"]}]))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(b.call("GET", "/_miroir/aliases/products", None).await.1["indexes"], json!(["products_v1"]));
}

#[tokio::test]
async fn an_alias_of_several_indexes_is_for_federated_reads_and_keys_must_allow_both_names() {
    let (a, _) = two_gateways_with_indexes().await;
    assert_eq!(put_alias(&a, "all_products", &["products_v1", "products_v2"]).await.0, StatusCode::OK);
    let (status, error) = a.call("POST", "/indexes/all_products/documents", Some(json!([{"id": 1}]))).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("alias_not_writable")));
    let (status, error) = a.call("GET", "/indexes/all_products", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("alias_has_several_indexes")));
    let (status, error) = a.call("POST", "/multi-search", Some(json!({"queries": [{"indexUid": "all_products"}]}))).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("alias_has_several_indexes")));

    // A key allowed on the alias's name only cannot read the index behind it.
    assert_eq!(put_alias(&a, "products", &["products_v1"]).await.0, StatusCode::OK);
    let only_alias = a.create_key(json!({"actions": ["*"], "indexes": ["products"], "expiresAt": null})).await;
    let key = only_alias["key"].as_str().unwrap();
    let (status, error) = a.call_as("GET", "/indexes/products", Some(key), None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::FORBIDDEN, json!("invalid_api_key")));
    let both = a.create_key(json!({"actions": ["*"], "indexes": ["products*"], "expiresAt": null})).await;
    let (status, index) = a.call_as("GET", "/indexes/products", Some(both["key"].as_str().unwrap()), None).await;
    assert_eq!((status, index["uid"].clone()), (StatusCode::OK, json!("products_v1")));
    // Alias routes take the master key.
    let (status, _) = a.call_as("GET", "/_miroir/aliases", Some(both["key"].as_str().unwrap()), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// An alias change hands the session the `meta` position it was folded at: a read sending the
/// token resolves the alias only once its gateway has folded that far.
#[tokio::test]
async fn a_session_that_switched_an_alias_reads_through_the_switch() {
    use axum::body::Body;
    use axum::http::Request;
    use miroir_gateway::session::token::SessionToken;
    use std::time::Duration;

    let log = memory_log();
    let a = Setup { log: log.clone(), read_deadline: Duration::from_millis(200), ..Setup::default() }.start().await;
    let b = Setup { log, read_deadline: Duration::from_millis(200), ..Setup::default() }.start().await;
    assert_eq!(a.call("POST", "/indexes", Some(json!({"uid": "products_v1"}))).await.0, StatusCode::ACCEPTED);
    a.finish_task(0, ReplicaStatus::Succeeded, DONE).await;
    a.wait_status(0, "succeeded").await;
    let request = |method: &str, path: &str, session: Option<&str>, body: Option<Value>| {
        let mut request =
            Request::builder().method(method).uri(path).header("Authorization", format!("Bearer {}", crate::support::MASTER_KEY));
        if let Some(session) = session {
            request = request.header("Miroir-Session", session);
        }
        match body {
            Some(body) => request.header("Content-Type", "application/json").body(Body::from(body.to_string())).unwrap(),
            None => request.body(Body::empty()).unwrap(),
        }
    };
    let switched = tower::ServiceExt::oneshot(
        a.router.clone(),
        request("PUT", "/_miroir/aliases/products", None, Some(json!({"indexes": ["products_v1"]}))),
    )
    .await
    .unwrap();
    assert_eq!(switched.status(), StatusCode::OK);
    let token = switched.headers().get("Miroir-Session").expect("a session token").to_str().unwrap().to_owned();
    assert!(SessionToken::parse(&token).unwrap().positions.meta > 0, "{token}");
    let (status, index) = b.send(request("GET", "/indexes/products", Some(&token), None)).await;
    assert_eq!((status, index["uid"].clone()), (StatusCode::OK, json!("products_v1")));
    // A position no gateway has folded: the read is refused at the deadline, not served without the switch.
    let (status, error) = b.send(request("GET", "/indexes/products", Some("s1.m100000"), None)).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::SERVICE_UNAVAILABLE, json!("read_after_session_timeout")));
}

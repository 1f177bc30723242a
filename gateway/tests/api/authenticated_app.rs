//! The router the gateway process serves with its own handlers: API keys from the `meta` log
//! open the write routes, the admin prefix takes the master key only, an index-scoped key sees
//! and creates only its indexes.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::support::{TestGateway, MASTER_KEY};

#[tokio::test]
async fn api_keys_from_the_log_open_the_write_routes() {
    let gateway = TestGateway::new().await;

    assert_eq!(gateway.call_as("GET", "/health", None, None).await.0, StatusCode::OK);
    let (status, error) = gateway.call_as("GET", "/indexes", None, None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::UNAUTHORIZED, json!("missing_authorization_header")));
    assert_eq!(gateway.call_as("GET", "/indexes", Some("wrong"), None).await.0, StatusCode::FORBIDDEN);

    // The default admin key, seeded into the meta log at start, may write.
    let (status, listed) = gateway.call_as("GET", "/keys", Some(MASTER_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let admin = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["name"] == "Default Admin API Key")
        .and_then(|key| key["key"].as_str())
        .expect("default admin key")
        .to_owned();
    let (status, task) = gateway.call_as("POST", "/indexes", Some(&admin), Some(json!({"uid": "movies"}))).await;
    assert_eq!((status, task["type"].clone()), (StatusCode::ACCEPTED, json!("indexCreation")));
    let (status, task) = gateway.call_as("GET", "/tasks/0", Some(&admin), None).await;
    assert_eq!((status, task["indexUid"].clone()), (StatusCode::OK, json!("movies")));
}

#[tokio::test]
async fn the_admin_prefix_takes_the_master_key_only() {
    let gateway = TestGateway::new().await;
    let (_, listed) = gateway.call_as("GET", "/keys", Some(MASTER_KEY), None).await;
    let key_named = |name: &str| {
        listed["results"].as_array().unwrap().iter().find(|key| key["name"] == name).and_then(|key| key["key"].as_str()).unwrap().to_owned()
    };
    // Even the default admin key (every Meilisearch action) is not the master key.
    for key in [key_named("Default Search API Key"), key_named("Default Admin API Key")] {
        let (status, error) = gateway.call_as("GET", "/_miroir/topology", Some(&key), None).await;
        assert_eq!((status, error["code"].clone()), (StatusCode::FORBIDDEN, json!("invalid_api_key")), "{error}");
    }
    let (status, error) = gateway.call_as("GET", "/_miroir/topology", None, None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::UNAUTHORIZED, json!("missing_authorization_header")));

    let (status, topology) = gateway.call_as("GET", "/_miroir/topology", Some(MASTER_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(topology["shardCount"], 3);
    assert_eq!(topology["nodes"].as_array().unwrap().len(), 3);
    assert!(!topology.to_string().contains("127.0.0.1"), "no node address: {topology}");
}

#[tokio::test]
async fn an_index_scoped_key_lists_only_its_indexes_and_cannot_create_others_by_writing() {
    let gateway = TestGateway::new().await;
    let master = Some(MASTER_KEY);
    for uid in ["books", "movies", "movies_b"] {
        let (status, task) = gateway.call_as("POST", "/indexes", master, Some(json!({"uid": uid}))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    }
    let key_for = |actions: Value| json!({"actions": actions, "indexes": ["movies*"], "expiresAt": null});
    let writer = ["indexes.get", "settings.update", "documents.add"];
    let (status, created) = gateway.call_as("POST", "/keys", master, Some(key_for(json!(writer)))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let scoped = created["key"].as_str().unwrap().to_owned();

    let (status, listed) = gateway.call_as("GET", "/indexes", Some(&scoped), None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let uids: Vec<&str> = listed["results"].as_array().unwrap().iter().map(|index| index["uid"].as_str().unwrap()).collect();
    assert_eq!((uids, listed["total"].clone()), (vec!["movies", "movies_b"], json!(2)));
    let (_, paged) = gateway.call_as("GET", "/indexes?offset=1&limit=5", Some(&scoped), None).await;
    assert_eq!((paged["results"][0]["uid"].clone(), paged["total"].clone()), (json!("movies_b"), json!(2)));
    let (_, everything) = gateway.call_as("GET", "/indexes", master, None).await;
    assert_eq!(everything["total"], 3);

    // A settings update or a document addition naming a missing index this key may not
    // create: accepted, and failed at once with `index_not_found`, creating nothing.
    for (path, body) in [
        ("/indexes/movies_new/settings", json!({"searchableAttributes": ["title"]})),
        ("/indexes/movies_new/documents", json!([{"id": 1}])),
    ] {
        let method = if path.ends_with("settings") { "PATCH" } else { "POST" };
        let (status, accepted) = gateway.call_as(method, path, Some(&scoped), Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}: {accepted}");
        let (_, task) = gateway.call_as("GET", &format!("/tasks/{}", accepted["taskUid"]), master, None).await;
        assert_eq!((task["status"].clone(), task["error"]["code"].clone()), (json!("failed"), json!("index_not_found")), "{path}");
        assert_eq!(task["error"]["message"], "Index `movies_new` not found.");
    }
    let (status, _) = gateway.call_as("GET", "/indexes/movies_new", master, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // With `indexes.create` the same settings update may create the index.
    let creator = ["indexes.get", "settings.update", "indexes.create"];
    let (_, created) = gateway.call_as("POST", "/keys", master, Some(key_for(json!(creator)))).await;
    let creator = created["key"].as_str().unwrap().to_owned();
    let (_, accepted) =
        gateway.call_as("PATCH", "/indexes/movies_new/settings", Some(&creator), Some(json!({"searchableAttributes": ["title"]}))).await;
    let (_, task) = gateway.call_as("GET", &format!("/tasks/{}", accepted["taskUid"]), master, None).await;
    assert_eq!((task["status"].clone(), task["error"].clone()), (json!("enqueued"), Value::Null));
    let (status, _) = gateway.call_as("GET", "/indexes/movies_new", master, None).await;
    assert_eq!(status, StatusCode::OK);
}

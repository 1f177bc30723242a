//! The router the gateway process serves: the `auth` middleware with API keys from the `meta`
//! log in front of every Meilisearch route, `/metrics` beside it.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use miroir_clients::log::{LogConfig, MemoryLog, WriteLog};
use miroir_gateway::app::authenticated_router;
use miroir_gateway::auth::KeysService;
use miroir_gateway::state::AppState;
use serde_json::{json, Value};
use tower::ServiceExt;

mod support;

async fn send(app: &Router, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let body = match body {
        Some(json) => {
            request = request.header("Content-Type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn api_keys_from_the_log_open_the_write_routes() {
    let log: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(LogConfig::for_tests("auth-app")).unwrap());
    let state = AppState::new(support::topology(3), log.clone(), Some(support::MASTER_KEY.into()), 1_000_000);
    state.start_watching();
    let keys = KeysService::start(log, Some(support::MASTER_KEY.into()), Default::default()).await.unwrap();
    let app = authenticated_router(state, keys);

    assert_eq!(send(&app, "GET", "/health", None, None).await.0, StatusCode::OK);
    assert_eq!(send(&app, "GET", "/metrics", None, None).await.0, StatusCode::OK);
    let (status, error) = send(&app, "GET", "/indexes", None, None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::UNAUTHORIZED, json!("missing_authorization_header")));
    assert_eq!(send(&app, "GET", "/indexes", Some("wrong"), None).await.0, StatusCode::FORBIDDEN);

    // The default admin key, seeded into the meta log at start, may write.
    let (status, listed) = send(&app, "GET", "/keys", Some(support::MASTER_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    let admin = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["name"] == "Default Admin API Key")
        .and_then(|key| key["key"].as_str())
        .expect("default admin key")
        .to_owned();
    let (status, task) = send(&app, "POST", "/indexes", Some(&admin), Some(json!({"uid": "movies"}))).await;
    assert_eq!((status, task["type"].clone()), (StatusCode::ACCEPTED, json!("indexCreation")));
    let (status, task) = send(&app, "GET", "/tasks/0", Some(&admin), None).await;
    assert_eq!((status, task["indexUid"].clone()), (StatusCode::OK, json!("movies")));
}

#[tokio::test]
async fn the_admin_prefix_takes_the_master_key_only() {
    let log: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(LogConfig::for_tests("auth-admin")).unwrap());
    let state = AppState::new(support::topology(3), log.clone(), Some(support::MASTER_KEY.into()), 1_000_000);
    state.start_watching();
    let keys = KeysService::start(log, Some(support::MASTER_KEY.into()), Default::default()).await.unwrap();
    let app = authenticated_router(state, keys);
    let (_, listed) = send(&app, "GET", "/keys", Some(support::MASTER_KEY), None).await;
    let key_named = |name: &str| {
        listed["results"].as_array().unwrap().iter().find(|key| key["name"] == name).and_then(|key| key["key"].as_str()).unwrap().to_owned()
    };
    // Even the default admin key (every Meilisearch action) is not the master key.
    for key in [key_named("Default Search API Key"), key_named("Default Admin API Key")] {
        let (status, error) = send(&app, "GET", "/_miroir/topology", Some(&key), None).await;
        assert_eq!((status, error["code"].clone()), (StatusCode::FORBIDDEN, json!("invalid_api_key")), "{error}");
    }
    let (status, error) = send(&app, "GET", "/_miroir/topology", None, None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::UNAUTHORIZED, json!("missing_authorization_header")));

    let (status, topology) = send(&app, "GET", "/_miroir/topology", Some(support::MASTER_KEY), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(topology["shardCount"], 3);
    assert_eq!(topology["nodes"].as_array().unwrap().len(), 3);
    assert!(!topology.to_string().contains("127.0.0.1"), "no node address: {topology}");
}

#[tokio::test]
async fn an_index_scoped_key_lists_only_its_indexes_and_cannot_create_others_by_writing() {
    let log: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(LogConfig::for_tests("auth-scoped")).unwrap());
    let state = AppState::new(support::topology(3), log.clone(), Some(support::MASTER_KEY.into()), 1_000_000);
    state.start_watching();
    let keys = KeysService::start(log, Some(support::MASTER_KEY.into()), Default::default()).await.unwrap();
    let app = authenticated_router(state, keys);
    let master = Some(support::MASTER_KEY);
    for uid in ["books", "movies", "movies_b"] {
        let (status, task) = send(&app, "POST", "/indexes", master, Some(json!({"uid": uid}))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    }
    let key_for = |actions: Value| json!({"actions": actions, "indexes": ["movies*"], "expiresAt": null});
    let writer = ["indexes.get", "settings.update", "documents.add"];
    let (status, created) = send(&app, "POST", "/keys", master, Some(key_for(json!(writer)))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let scoped = created["key"].as_str().unwrap().to_owned();

    let (status, listed) = send(&app, "GET", "/indexes", Some(&scoped), None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let uids: Vec<&str> = listed["results"].as_array().unwrap().iter().map(|index| index["uid"].as_str().unwrap()).collect();
    assert_eq!((uids, listed["total"].clone()), (vec!["movies", "movies_b"], json!(2)));
    let (_, paged) = send(&app, "GET", "/indexes?offset=1&limit=5", Some(&scoped), None).await;
    assert_eq!((paged["results"][0]["uid"].clone(), paged["total"].clone()), (json!("movies_b"), json!(2)));
    let (_, everything) = send(&app, "GET", "/indexes", master, None).await;
    assert_eq!(everything["total"], 3);

    // A settings update or a document addition naming a missing index this key may not
    // create: accepted, and failed at once with `index_not_found`, creating nothing.
    for (path, body) in [
        ("/indexes/movies_new/settings", json!({"searchableAttributes": ["title"]})),
        ("/indexes/movies_new/documents", json!([{"id": 1}])),
    ] {
        let method = if path.ends_with("settings") { "PATCH" } else { "POST" };
        let (status, accepted) = send(&app, method, path, Some(&scoped), Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path}: {accepted}");
        let (_, task) = send(&app, "GET", &format!("/tasks/{}", accepted["taskUid"]), master, None).await;
        assert_eq!((task["status"].clone(), task["error"]["code"].clone()), (json!("failed"), json!("index_not_found")), "{path}");
        assert_eq!(task["error"]["message"], "Index `movies_new` not found.");
    }
    let (status, _) = send(&app, "GET", "/indexes/movies_new", master, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // With `indexes.create` the same settings update may create the index.
    let creator = ["indexes.get", "settings.update", "indexes.create"];
    let (_, created) = send(&app, "POST", "/keys", master, Some(key_for(json!(creator)))).await;
    let creator = created["key"].as_str().unwrap().to_owned();
    let (_, accepted) =
        send(&app, "PATCH", "/indexes/movies_new/settings", Some(&creator), Some(json!({"searchableAttributes": ["title"]}))).await;
    let (_, task) = send(&app, "GET", &format!("/tasks/{}", accepted["taskUid"]), master, None).await;
    assert_eq!((task["status"].clone(), task["error"].clone()), (json!("enqueued"), Value::Null));
    let (status, _) = send(&app, "GET", "/indexes/movies_new", master, None).await;
    assert_eq!(status, StatusCode::OK);
}

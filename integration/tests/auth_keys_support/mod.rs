//! A minimal gateway for the cluster-wide key tests (one per log backend): keys from the
//! `meta` log, `/keys`, and one search route behind the auth middleware.

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use miroir_clients::log::WriteLog;
use miroir_gateway::auth::{self, Auth, KeysOptions, KeysService};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const MASTER_KEY: &str = "masterKey";

/// A gateway on a loopback port. Dropping it stops the server and the watcher.
pub struct Gateway {
    pub url: String,
    pub keys: KeysService,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Gateway {
    pub async fn start(log: Arc<dyn WriteLog>) -> Gateway {
        let keys = KeysService::start(log, Some(MASTER_KEY.into()), KeysOptions::default()).await.expect("keys service");
        let app = Router::new().route("/indexes/{index}/search", post(|auth: Auth| async move { format!("{:?}", auth.key_uid()) }));
        let router = auth::mount(app, keys.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Gateway { url, keys, server }
    }

    pub async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new().request(method.parse().unwrap(), format!("{}{path}", self.url)).bearer_auth(key);
        if let Some(json) = body {
            request = request.json(&json);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn search(&self, index: &str, key: &str) -> (StatusCode, Value) {
        self.call("POST", &format!("/indexes/{index}/search"), key, None).await
    }
}

/// Creates a search key for `movies` through `a`; it works on `b` at once, limited to its
/// index, and `b` shows it exactly as `a` does. Returns the key, its uid and its view.
pub async fn a_key_created_on_a_works_on_b(a: &Gateway, b: &Gateway) -> (String, String, Value) {
    let body = json!({ "name": "web", "actions": ["search"], "indexes": ["movies"], "expiresAt": null });
    let (status, view) = a.call("POST", "/keys", MASTER_KEY, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let (key, uid) = (view["key"].as_str().unwrap().to_owned(), view["uid"].as_str().unwrap().to_owned());
    assert_eq!(b.search("movies", &key).await, (StatusCode::OK, Value::String(format!("Some({uid})"))));
    assert_eq!(b.search("books", &key).await.0, StatusCode::FORBIDDEN, "still limited to its index on B");
    assert_eq!(b.call("GET", &format!("/keys/{uid}"), MASTER_KEY, None).await, (StatusCode::OK, view.clone()));
    (key, uid, view)
}

/// After a restart, every gateway knows the key and the default keys were seeded once.
pub async fn both_still_know_it(gateways: [&Gateway; 2], key: &str, view: &Value) {
    for gateway in gateways {
        assert_eq!(gateway.search("movies", key).await.0, StatusCode::OK);
        let (status, list) = gateway.call("GET", "/keys", MASTER_KEY, None).await;
        assert_eq!((status, list["total"].clone()), (StatusCode::OK, json!(5)), "four default keys, seeded once, and ours");
        assert_eq!(&list["results"][0], view);
    }
}

/// A delete through `b`: `b` refuses the key at once, `a` as soon as its watcher folds the record.
pub async fn a_delete_on_b_is_refused_everywhere(a: &Gateway, b: &Gateway, key: &str, uid: &str) {
    assert_eq!(b.call("DELETE", &format!("/keys/{uid}"), MASTER_KEY, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(b.search("movies", key).await.0, StatusCode::FORBIDDEN);
    a.keys.catch_up().await.unwrap();
    assert_eq!(a.search("movies", key).await.0, StatusCode::FORBIDDEN);
}

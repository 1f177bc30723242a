//! Cluster-wide API keys on NATS JetStream: a key created through one gateway works on
//! another at once, and both still know it after every gateway and the broker restart.

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use miroir_clients::log::{LogConfig, NatsLog, WriteLog};
use miroir_gateway::auth::{self, Auth, KeysOptions, KeysService};
use miroir_integration::brokers::NatsServer;
use serde_json::{json, Value};

const MASTER_KEY: &str = "masterKey";

/// A gateway on a loopback port: keys from the `meta` stream, `/keys`, and one search route
/// behind the middleware. Dropping it stops the server and the watcher.
struct Gateway {
    url: String,
    keys: KeysService,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Gateway {
    async fn start(broker: &str, config: &LogConfig) -> Gateway {
        let log: Arc<dyn WriteLog> = Arc::new(NatsLog::connect(broker, config.clone()).await.expect("connect to NATS"));
        let keys = KeysService::start(log, Some(MASTER_KEY.into()), KeysOptions::default()).await.expect("keys service");
        let app = Router::new()
            .route("/indexes/{index}/search", post(|auth: Auth| async move { format!("{:?}", auth.key_uid()) }));
        let router = auth::mount(app, keys.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Gateway { url, keys, server }
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(key);
        if let Some(json) = body {
            request = request.json(&json);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn search(&self, index: &str, key: &str) -> (StatusCode, Value) {
        self.call("POST", &format!("/indexes/{index}/search"), key, None).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_created_on_one_gateway_works_on_another_and_survives_restarting_everything() {
    let mut server = NatsServer::start().expect("start nats-server");
    let config = LogConfig::for_tests(format!("authkeys{}", std::process::id()));
    let a = Gateway::start(server.url(), &config).await;
    let b = Gateway::start(server.url(), &config).await;

    let body = json!({ "name": "web", "actions": ["search"], "indexes": ["movies"], "expiresAt": null });
    let (status, view) = a.call("POST", "/keys", MASTER_KEY, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let (key, uid) = (view["key"].as_str().unwrap().to_owned(), view["uid"].as_str().unwrap().to_owned());
    assert_eq!(b.search("movies", &key).await, (StatusCode::OK, Value::String(format!("Some({uid})"))));
    assert_eq!(b.search("books", &key).await.0, StatusCode::FORBIDDEN, "still limited to its index on B");
    assert_eq!(b.call("GET", &format!("/keys/{uid}"), MASTER_KEY, None).await, (StatusCode::OK, view.clone()));

    // Every gateway goes away, then the broker restarts on its store (on a new port).
    drop((a, b));
    server.restart().expect("restart nats-server");
    let a = Gateway::start(server.url(), &config).await;
    let b = Gateway::start(server.url(), &config).await;
    for gateway in [&a, &b] {
        assert_eq!(gateway.search("movies", &key).await.0, StatusCode::OK);
        let (status, list) = gateway.call("GET", "/keys", MASTER_KEY, None).await;
        assert_eq!((status, list["total"].clone()), (StatusCode::OK, json!(5)), "four default keys, seeded once, and ours");
        assert_eq!(list["results"][0], view);
    }

    // A delete through B: B refuses at once, A as soon as its watcher folds the record.
    assert_eq!(b.call("DELETE", &format!("/keys/{uid}"), MASTER_KEY, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(b.search("movies", &key).await.0, StatusCode::FORBIDDEN);
    a.keys.catch_up().await.unwrap();
    assert_eq!(a.search("movies", &key).await.0, StatusCode::FORBIDDEN);
}

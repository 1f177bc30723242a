//! Gateways sharing one log, each with the auth middleware and `/keys` mounted over a small
//! app of its own whose handlers report what the middleware let through.

#![allow(dead_code)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use miroir_clients::log::{LogConfig, MemoryLog, WriteLog};
use miroir_gateway::auth::{self, Auth, KeysOptions, KeysService};
use miroir_gateway::error::GatewayError;
use serde_json::{json, Map, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;

pub const MASTER_KEY: &str = "masterKey";

/// A clock tests move by hand, so expiry is checked without waiting.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub const START: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

    pub fn now(&self) -> OffsetDateTime {
        Self::START + Duration::seconds(self.0.load(Ordering::SeqCst))
    }

    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.whole_seconds(), Ordering::SeqCst);
    }
}

/// Handlers standing in for the real ones: they use the verdict as real handlers must.
pub fn echo_app() -> Router {
    async fn search(auth: Auth, Path(index): Path<String>, Json(mut request): Json<Map<String, Value>>) -> Json<Value> {
        auth.restrict_search(&index, &mut request);
        Json(json!({ "index": index, "filter": request.get("filter") }))
    }
    async fn multi_search(auth: Auth, Json(mut body): Json<Map<String, Value>>) -> Result<Json<Value>, GatewayError> {
        auth.restrict_multi_search(&mut body)?;
        Ok(Json(Value::Object(body)))
    }
    async fn write(auth: Auth, Path(index): Path<String>) -> (StatusCode, Json<Value>) {
        (StatusCode::ACCEPTED, Json(json!({ "indexUid": index, "mayCreate": auth.allow_index_creation(&index) })))
    }
    /// Three fake tasks: one per index `movies` and `books`, and a swap of both.
    async fn tasks(auth: Auth) -> Json<Value> {
        let all = [("movies", true, vec!["movies"]), ("books", true, vec!["books"]), ("swap", false, vec!["movies", "books"])];
        let visible: Vec<&str> =
            all.iter().filter(|(_, one, indexes)| auth.task_visible(*one, indexes.iter().copied())).map(|(name, _, _)| *name).collect();
        Json(json!(visible))
    }
    async fn swap(auth: Auth, Json(pairs): Json<Vec<Value>>) -> Result<StatusCode, GatewayError> {
        let indexes: Vec<&str> = pairs.iter().flat_map(|p| p["indexes"].as_array().unwrap().iter().map(|i| i.as_str().unwrap())).collect();
        auth.check_indexes(indexes)?;
        Ok(StatusCode::ACCEPTED)
    }
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "available" })) }))
        .route("/indexes/{index}/search", post(search))
        .route("/indexes/{index}/documents", post(write).get(|| async { Json(json!({ "results": [] })) }))
        .route("/multi-search", post(multi_search))
        .route("/tasks", get(tasks))
        .route("/swap-indexes", post(swap))
        .route("/_miroir/status", get(|| async { Json(json!({ "ok": true })) }))
}

pub fn memory_log() -> Arc<dyn WriteLog> {
    Arc::new(MemoryLog::new(LogConfig::for_tests("auth")).unwrap())
}

/// One gateway replica: its keys service and its router.
pub struct Gateway {
    pub keys: KeysService,
    pub router: Router,
}

impl Gateway {
    pub async fn start(log: Arc<dyn WriteLog>, master_key: Option<&str>, clock: &ManualClock) -> Gateway {
        let clock = clock.clone();
        let options = KeysOptions { clock: Arc::new(move || clock.now()), ..KeysOptions::default() };
        let keys = KeysService::start(log, master_key.map(str::to_owned), options).await.unwrap();
        Gateway { router: auth::mount(echo_app(), keys.clone()), keys }
    }

    /// Sends `method path` with `Authorization: Bearer <key>` when a key is given.
    pub async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        send(&self.router, method, path, key.map(|k| format!("Bearer {k}")).as_deref(), body).await
    }

    pub async fn master(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(method, path, Some(MASTER_KEY), body).await
    }

    /// Creates a key through `POST /keys` and returns its view.
    pub async fn create_key(&self, body: Value) -> Value {
        let (status, view) = self.master("POST", "/keys", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        view
    }
}

/// Two gateways with the master key over one fresh log, and their clock.
pub async fn two_gateways() -> (Arc<dyn WriteLog>, ManualClock, Gateway, Gateway) {
    let (log, clock) = (memory_log(), ManualClock::default());
    let a = Gateway::start(log.clone(), Some(MASTER_KEY), &clock).await;
    let b = Gateway::start(log.clone(), Some(MASTER_KEY), &clock).await;
    (log, clock, a, b)
}

/// Sends a request with a raw `Authorization` header value; an empty body reads as `null`.
pub async fn send(router: &Router, method: &str, path: &str, authorization: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let body = match body {
        Some(json) => {
            request = request.header("Content-Type", "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    let response = router.clone().oneshot(request.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, json)
}

/// Meilisearch's error object.
pub fn meili_error(code: &str, kind: &str, message: &str) -> Value {
    json!({ "message": message, "code": code, "type": kind, "link": format!("https://docs.meilisearch.com/errors#{code}") })
}

pub fn invalid_api_key(message: &str) -> Value {
    meili_error("invalid_api_key", "auth", message)
}

pub const INVALID_KEY: &str = "The provided API key is invalid.";

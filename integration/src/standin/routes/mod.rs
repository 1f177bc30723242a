//! The HTTP routes of the stand-in, with Meilisearch's auth.

mod documents;
mod indexes;
mod search;
mod tasks;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::store::Shared;
use super::tasks::TaskKind;
use miroir_schemas::error::Code;

pub type AppState = Arc<Shared>;

pub fn router(shared: AppState) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/stats", get(stats))
        .route("/experimental-features", get(get_features).patch(patch_features))
        .route("/keys", get(list_keys).post(create_key))
        .route("/multi-search", post(search::multi_search))
        .merge(tasks::routes())
        .merge(indexes::routes())
        .merge(documents::routes())
        .merge(search::routes())
        .layer(axum::middleware::from_fn_with_state(shared.clone(), auth))
        // Meilisearch's default `--http-payload-size-limit` (axum's own default is 2 MB)
        .layer(axum::extract::DefaultBodyLimit::max(100 * 1024 * 1024))
        .route("/health", get(|| async { Json(json!({"status": "available"})) }))
        .with_state(shared)
}

/// Every route but `/health` needs `Authorization: Bearer <master key or a created key>` when
/// the node has a master key.
async fn auth(State(shared): State<AppState>, request: Request, next: Next) -> Response {
    let Some(master) = &shared.master_key else {
        return next.run(request).await;
    };
    let header = request.headers().get("authorization").and_then(|v| v.to_str().ok());
    let Some(header) = header else {
        return ApiError::new(
            Code::MissingAuthorizationHeader,
            "The Authorization header is missing. It must use the bearer authorization method.",
        )
        .into_response();
    };
    let token = header.strip_prefix("Bearer ").unwrap_or("").trim();
    let known = token == master
        || shared.lock().keys.iter().any(|k| k.get("key").and_then(Value::as_str) == Some(token));
    if !known {
        return ApiError::new(Code::InvalidApiKey, "The provided API key is invalid.").into_response();
    }
    next.run(request).await
}

/// Parses a JSON request body (not a documents payload).
pub fn json_body(body: &Bytes) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(Code::MissingPayload, "A json payload is missing."));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(Code::BadRequest, format!("The json payload provided is malformed. `{e}`."))
    })
}

/// Reads `customMetadata` from a route's query parameters.
pub fn custom_metadata(query: &[(String, String)]) -> Option<String> {
    query.iter().find(|(k, _)| k == "customMetadata").map(|(_, v)| v.clone())
}

/// Enqueues a task, wakes the worker and answers 202 with the summarized task.
pub fn enqueue(shared: &Shared, index_uid: Option<String>, kind: TaskKind, meta: Option<String>) -> Response {
    let task = shared.lock().enqueue(index_uid, kind, meta);
    shared.wake.notify_one();
    (StatusCode::ACCEPTED, Json(task.summary())).into_response()
}

/// Meilisearch's index uid rule.
pub fn check_index_uid(uid: &str, at_field: bool) -> ApiResult<()> {
    let ok = !uid.is_empty()
        && uid.len() <= 400
        && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    let text = format!("`{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes.");
    Err(ApiError::new(
        Code::InvalidIndexUid,
        if at_field { format!("Invalid value at `.uid`: {text}") } else { text },
    ))
}

async fn version() -> Json<Value> {
    Json(json!({"commitSha": "unknown", "commitDate": "unknown", "pkgVersion": "1.50.0"}))
}

async fn stats(State(shared): State<AppState>) -> Json<Value> {
    let store = shared.lock();
    let indexes: serde_json::Map<String, Value> =
        store.indexes.iter().map(|(uid, index)| (uid.clone(), index.stats())).collect();
    let size: u64 = indexes
        .values()
        .filter_map(|s| s.get("rawDocumentDbSize").and_then(Value::as_u64))
        .sum();
    Json(json!({
        "databaseSize": size + 94208,
        "usedDatabaseSize": size + 20480,
        "lastUpdate": store.last_update.map(super::clock::rfc3339),
        "indexes": indexes,
    }))
}

async fn get_features(State(shared): State<AppState>) -> Json<Value> {
    Json(Value::Object(shared.lock().features.clone()))
}

async fn patch_features(State(shared): State<AppState>, body: Bytes) -> ApiResult<Json<Value>> {
    let Value::Object(patch) = json_body(&body)? else {
        return Err(ApiError::new(Code::BadRequest, "Invalid value type: expected an object"));
    };
    let mut store = shared.lock();
    let known: Vec<String> = store.features.keys().cloned().collect();
    for (k, v) in patch {
        if !known.contains(&k) {
            let expected: Vec<&str> = known.iter().map(String::as_str).collect();
            return Err(ApiError::unknown_field(&k, &expected));
        }
        if !v.is_boolean() && !v.is_null() {
            return Err(ApiError::invalid_type(Code::BadRequest, &k, "a boolean", &v));
        }
        if let Value::Bool(b) = v {
            store.features.insert(k, Value::Bool(b));
        }
    }
    Ok(Json(Value::Object(store.features.clone())))
}

async fn list_keys(State(shared): State<AppState>) -> Json<Value> {
    let keys = shared.lock().keys.clone();
    Json(json!({"results": keys, "offset": 0, "limit": 20, "total": keys.len()}))
}

async fn create_key(State(shared): State<AppState>, body: Bytes) -> ApiResult<(StatusCode, Json<Value>)> {
    let key = super::keys::create(&json_body(&body)?)?;
    shared.lock().keys.push(key.clone());
    Ok((StatusCode::CREATED, Json(key)))
}

/// Whether the request carries `Meili-Proxy-Search: true`.
pub fn is_proxy_search(headers: &HeaderMap) -> bool {
    headers
        .get("meili-proxy-search")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

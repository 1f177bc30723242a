//! Search routes: `/indexes/{uid}/search` (GET and POST), facet search, similar, multi-search.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::{is_proxy_search, json_body, AppState};
use crate::standin::error::{ApiError, ApiResult};
use crate::standin::search::{facets, federated, params, search_response, similar};
use miroir_schemas::error::Code;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/indexes/{uid}/search", get(search_get).post(search_post))
        .route("/indexes/{uid}/facet-search", post(facet_search))
        .route("/indexes/{uid}/similar", post(similar))
}

fn object(body: &Bytes) -> ApiResult<serde_json::Map<String, Value>> {
    match json_body(body)? {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::new(Code::BadRequest, format!("Invalid value type: expected an object, but found {}: `{other}`", crate::standin::error::json_kind(&other)))),
    }
}

async fn search_post(State(shared): State<AppState>, Path(uid): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let body = object(&body)?;
    let p = params::from_json(&body, &[])?;
    let store = shared.lock();
    Ok(Json(search_response(store.index(&uid)?, &p)?))
}

async fn search_get(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Query<Vec<(String, String)>>) -> ApiResult<Json<Value>> {
    let p = params::from_json(&params::query_string_to_json(&q), &[])?;
    let store = shared.lock();
    Ok(Json(search_response(store.index(&uid)?, &p)?))
}

async fn facet_search(State(shared): State<AppState>, Path(uid): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let body = object(&body)?;
    let store = shared.lock();
    Ok(Json(facets::facet_search(store.index(&uid)?, &body)?))
}

async fn similar(State(shared): State<AppState>, Path(uid): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let body = object(&body)?;
    let store = shared.lock();
    Ok(Json(similar::similar_response(store.index(&uid)?, &body)?))
}

pub async fn multi_search(State(shared): State<AppState>, headers: HeaderMap, body: Bytes) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let store = shared.lock();
    let network = store.features.get("network").and_then(Value::as_bool).unwrap_or(false);
    let proxy = network && is_proxy_search(&headers);
    Ok(Json(federated::multi_search(&store, &body, proxy)?))
}

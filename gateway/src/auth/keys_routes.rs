//! The handlers of `GET/POST /keys` and `GET/PATCH/DELETE /keys/{uidOrKey}` (mounted by
//! [`crate::app`]), answered by the cluster-wide [`KeysService`]. The middleware has already
//! checked the `keys.*` action.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::key_view::parse_list_query;
use super::keys_service::KeysService;
use crate::body::{json_body, read_limited};
use crate::error::GatewayError;

/// A JSON body, refused as Meilisearch refuses it (content type, emptiness, syntax, size).
async fn json(keys: &KeysService, headers: &HeaderMap, body: Body) -> Result<Value, GatewayError> {
    let bytes = read_limited(body, keys.payload_limit()).await?;
    Ok(json_body(headers, &bytes)?)
}

pub async fn list(State(keys): State<KeysService>, Query(pairs): Query<Vec<(String, String)>>) -> Result<Response, GatewayError> {
    let query = parse_list_query(&pairs)?;
    Ok(Json(keys.list(query).await?).into_response())
}

pub async fn create(State(keys): State<KeysService>, headers: HeaderMap, body: Body) -> Result<Response, GatewayError> {
    let body = json(&keys, &headers, body).await?;
    Ok((StatusCode::CREATED, Json(keys.create(&body).await?)).into_response())
}

pub async fn get_one(State(keys): State<KeysService>, Path(key): Path<String>) -> Result<Response, GatewayError> {
    Ok(Json(keys.get(&key).await?).into_response())
}

pub async fn update(
    State(keys): State<KeysService>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, GatewayError> {
    let body = json(&keys, &headers, body).await?;
    Ok(Json(keys.update(&key, &body).await?).into_response())
}

pub async fn delete(State(keys): State<KeysService>, Path(key): Path<String>) -> Result<Response, GatewayError> {
    keys.delete(&key).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

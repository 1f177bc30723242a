//! `/_miroir/aliases` (master key): index aliases ([`crate::aliases`]).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::error::GatewayError;
use crate::routes::write::json_request;
use crate::state::AppState;

/// `GET /_miroir/aliases`: every alias, by name.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, GatewayError> {
    Ok(Json(state.aliases().list().await?))
}

/// `GET /_miroir/aliases/{name}`.
pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, GatewayError> {
    Ok(Json(state.aliases().get(&name).await?))
}

/// `PUT /_miroir/aliases/{name}` `{"indexes": [...]}`: `200` with the alias as set.
pub async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, GatewayError> {
    let body = json_request(&state, &headers, body).await?;
    Ok(Json(state.aliases().set(&state, &name, &body).await?))
}

/// `DELETE /_miroir/aliases/{name}`: `204`.
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<StatusCode, GatewayError> {
    state.aliases().delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

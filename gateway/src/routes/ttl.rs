//! `/_miroir/indexes/{uid}/ttl` (master key): an index's document TTL field (see
//! [`crate::ttl`], docs/ttl.md). `GET` answers `{"field": "expiresAt"}` or `{"field": null}`;
//! `PUT {"field": "expiresAt"}` sets it through the `meta` log and answers once this gateway has
//! folded it; `DELETE` removes it (`204`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::{json, Value};

use crate::error::GatewayError;
use crate::params::path_index_uid;
use crate::routes::write::json_request;
use crate::state::AppState;
use crate::ttl::requested_field;

/// `GET /_miroir/indexes/{uid}/ttl`.
pub async fn get(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    Ok(Json(json!({"indexUid": uid, "field": state.ttl().get(&uid).await?})))
}

/// `PUT /_miroir/indexes/{uid}/ttl` with `{"field": "<name>"}`.
pub async fn set(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let body = json_request(&state, &headers, body).await?;
    let field = requested_field(&body).map_err(|error| ResponseError::new(Code::BadRequest, error.to_string()))?;
    let field = state.ttl().set(&uid, field).await?;
    Ok(Json(json!({"indexUid": uid, "field": field})))
}

/// `DELETE /_miroir/indexes/{uid}/ttl`: `204`.
pub async fn delete(State(state): State<AppState>, Path(uid): Path<String>) -> Result<StatusCode, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    state.ttl().delete(&uid).await?;
    Ok(StatusCode::NO_CONTENT)
}

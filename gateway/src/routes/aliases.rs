//! `/_miroir/aliases` (master key): index aliases ([`crate::aliases`]).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::error::GatewayError;
use crate::routes::write::json_request;
use crate::session::{meta_token, SESSION_HEADER};
use crate::state::AppState;

/// `GET /_miroir/aliases`: every alias, by name.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, GatewayError> {
    Ok(Json(state.aliases().list().await?))
}

/// `GET /_miroir/aliases/{name}`.
pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Result<Json<Value>, GatewayError> {
    Ok(Json(state.aliases().get(&name).await?))
}

/// `PUT /_miroir/aliases/{name}` `{"indexes": [...]}`: `200` with the alias as set, and a
/// session token holding the switch (`Miroir-Session`).
pub async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(HeaderMap, Json<Value>), GatewayError> {
    let body = json_request(&state, &headers, body).await?;
    let alias = state.aliases().set(&state, &name, &body).await?;
    Ok((with_switch(&state), Json(alias)))
}

/// `DELETE /_miroir/aliases/{name}`: `204`, with a session token holding the deletion.
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Result<(StatusCode, HeaderMap), GatewayError> {
    state.aliases().delete(&name).await?;
    Ok((StatusCode::NO_CONTENT, with_switch(&state)))
}

/// `Miroir-Session` holding every alias change this gateway has folded, the request's included.
fn with_switch(state: &AppState) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(SESSION_HEADER, meta_token(state.aliases().folded()));
    headers
}

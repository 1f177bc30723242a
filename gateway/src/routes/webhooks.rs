//! `/webhooks`: the cluster's webhooks (see [`crate::webhooks`]).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;

use crate::error::GatewayError;
use crate::routes::write::json_request;
use crate::state::AppState;
use crate::webhooks::body::{parse_settings, WebhookSettings};

/// The body, read before the path's uuid as Meilisearch's extractors read it.
async fn settings(state: &AppState, headers: &HeaderMap, body: axum::body::Body) -> Result<WebhookSettings, GatewayError> {
    Ok(parse_settings(&json_request(state, headers, body).await?)?)
}

/// `GET /webhooks`.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, GatewayError> {
    Ok(Json(state.webhooks().list().await?))
}

/// `POST /webhooks`.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Value>), GatewayError> {
    let settings = settings(&state, &headers, body).await?;
    Ok((StatusCode::CREATED, Json(state.webhooks().create(settings).await?)))
}

/// `GET /webhooks/{uuid}`.
pub async fn get(State(state): State<AppState>, Path(uuid): Path<String>) -> Result<Json<Value>, GatewayError> {
    Ok(Json(state.webhooks().get(&uuid).await?))
}

/// `PATCH /webhooks/{uuid}`.
pub async fn update(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, GatewayError> {
    let settings = settings(&state, &headers, body).await?;
    Ok(Json(state.webhooks().update(&uuid, settings).await?))
}

/// `DELETE /webhooks/{uuid}`: `204`.
pub async fn delete(State(state): State<AppState>, Path(uuid): Path<String>) -> Result<StatusCode, GatewayError> {
    state.webhooks().delete(&uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

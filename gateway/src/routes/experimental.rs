//! `/experimental-features`: the cluster's features (see [`crate::features`]), fixed by what
//! Miroir serves, so they live in no log.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::Value;

use crate::error::GatewayError;
use crate::features;
use crate::routes::write::json_request;
use crate::state::AppState;

/// `GET /experimental-features`.
pub async fn get_features() -> Json<Value> {
    Json(features::view())
}

/// `PATCH /experimental-features`: `200` with the features when the body asks for what the
/// cluster has, else Meilisearch's body error or Miroir's refusal.
pub async fn patch_features(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<Value>, GatewayError> {
    let body = json_request(&state, &headers, body).await?;
    Ok(Json(features::patch(&body)?))
}

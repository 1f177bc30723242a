//! `/experimental-features`: the cluster's features (see [`crate::features`]), fixed by what
//! Miroir serves, so they live in no log.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use miroir_schemas::error::ResponseError;
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

/// A route gated by a feature the cluster has off, answered as a node answers it: the JSON body
/// read and checked by `check` (whose errors come first), then `refusal`.
pub async fn check_body_then_refuse(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
    check: impl FnOnce(&Value) -> Result<(), ResponseError>,
    refusal: ResponseError,
) -> GatewayError {
    match json_request(state, headers, body).await {
        Ok(body) => check(&body).err().unwrap_or(refusal).into(),
        Err(error) => error,
    }
}

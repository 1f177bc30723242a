//! The gateway's router: every route, its guard, and what unknown routes answer.

use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use axum::Router;

use crate::access::require_master_key;
use crate::routes;
use crate::state::AppState;

/// The whole HTTP API. Unknown paths answer `404` and known paths with another method `405`,
/// both with an empty body, as Meilisearch (actix-web without a default service) does.
pub fn router(state: AppState) -> Router {
    // Install the recorder before the first request is counted.
    routes::metrics::prometheus();
    let guarded = Router::new()
        .route("/version", get(routes::health::version))
        .route_layer(from_fn_with_state(state.clone(), require_master_key));
    Router::new()
        .route("/health", get(routes::health::health))
        .route("/metrics", get(routes::metrics::render))
        .merge(guarded)
        .layer(from_fn(routes::metrics::record_request))
        .with_state(state)
}

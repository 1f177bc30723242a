//! The gateway's router: every route, its guard, and what unknown routes answer.

use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;

use crate::access::require_master_key;
use crate::auth::{self, KeysService};
use crate::routes::{admin, document_writes, health, indexes, metrics, reads, settings, swap, tasks};
use crate::state::AppState;

/// Every Meilisearch route Miroir serves except `/health`, without any guard.
fn api() -> Router<AppState> {
    Router::new()
        .route("/version", get(health::version))
        .route("/indexes", get(indexes::list).post(indexes::create))
        .route("/indexes/{uid}", get(indexes::get).patch(indexes::update).delete(indexes::delete))
        .route("/swap-indexes", post(swap::swap_indexes))
        .route(
            "/indexes/{uid}/documents",
            get(reads::list_documents).post(document_writes::add).put(document_writes::update).delete(document_writes::clear),
        )
        .route("/indexes/{uid}/documents/{id}", get(reads::get_document).delete(document_writes::delete_one))
        .route("/indexes/{uid}/documents/fetch", post(reads::fetch_documents))
        .route("/indexes/{uid}/search", get(reads::search_get).post(reads::search))
        .route("/indexes/{uid}/facet-search", post(reads::facet_search))
        .route("/indexes/{uid}/similar", get(reads::similar_get).post(reads::similar))
        .route("/multi-search", post(reads::multi_search))
        .route("/indexes/{uid}/stats", get(reads::index_stats))
        .route("/stats", get(reads::stats))
        .route("/indexes/{uid}/documents/delete-batch", post(document_writes::delete_batch))
        .route("/indexes/{uid}/documents/delete", post(document_writes::delete_by_filter))
        .route("/indexes/{uid}/settings", get(settings::get_all).patch(settings::update_all).delete(settings::reset_all))
        .route(
            "/indexes/{uid}/settings/{name}",
            get(settings::get_one).put(settings::update_one).patch(settings::update_one).delete(settings::update_one),
        )
        .route("/tasks", get(tasks::list).delete(tasks::delete))
        .route("/tasks/cancel", post(tasks::cancel))
        .route("/tasks/{uid}", get(tasks::get))
        .route("/batches", get(tasks::list_batches))
        .route("/batches/{uid}", get(tasks::get_batch))
        // Miroir's own admin prefix: the auth layer lets only the master key through.
        .route("/_miroir/topology", get(admin::topology))
}

/// The API guarded by the master key alone (no API keys): for tests and embedding. Unknown
/// paths answer `404` and known paths with another method `405`, both with an empty body, as
/// Meilisearch (actix-web without a default service) does.
pub fn router(state: AppState) -> Router {
    // Install the recorder before the first request is counted.
    metrics::prometheus();
    let guarded = api().route_layer(from_fn_with_state(state.clone(), require_master_key));
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::render))
        .merge(guarded)
        .layer(from_fn(metrics::record_request))
        .with_state(state)
}

/// The API as the gateway process serves it: Meilisearch's API keys and tenant tokens
/// (`auth` middleware, `/keys` routes) in front of every route; `/metrics` for Prometheus.
pub fn authenticated_router(state: AppState, keys: KeysService) -> Router {
    metrics::prometheus();
    // `/health` is public by the auth policy, as in Meilisearch.
    let api = auth::mount(api().route("/health", get(health::health)).with_state(state), keys);
    Router::new().route("/metrics", get(metrics::render)).merge(api).layer(from_fn(metrics::record_request))
}

//! A Meilisearch 1.50 stand-in for tests on machines without a real Meilisearch binary.
//!
//! An in-memory axum server answering everything Miroir calls on nodes, with Meilisearch's
//! shapes, codes, statuses and messages (checked against the recorded 1.50 transcript by
//! `tests/standin_conformance.rs`). Product code never uses it.

pub mod clock;
pub mod documents;
pub mod error;
pub mod filter_eval;
pub mod keys;
mod routes;
pub mod search;
pub mod settings;
pub mod store;
pub mod tasks;
pub mod vectors;
pub mod worker;

use std::sync::Arc;

use axum::Router;

pub use store::Shared;

/// Builds the stand-in's router and starts its task worker on the current tokio runtime.
pub fn app(master_key: Option<String>) -> Router {
    let shared = Shared::new(master_key);
    tokio::spawn(worker::run(Arc::clone(&shared)));
    routes::router(shared)
}

/// Serves the stand-in on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, master_key: Option<String>) -> std::io::Result<()> {
    axum::serve(listener, app(master_key)).await
}

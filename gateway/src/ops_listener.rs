//! The gateway's operations listener: Prometheus `/metrics` and `/ready`, on an address of
//! their own (`--metrics-listen`), so that neither is ever reachable on the public API port
//! (where `/metrics` answers as a Meilisearch node without the `metrics` feature does). No key:
//! the address is meant for the scraper and the orchestrator, not for clients.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::readiness::ReadinessProbe;
use crate::routes::metrics;
use crate::state::AppState;

#[derive(Clone)]
struct OpsState {
    app: AppState,
    probe: Arc<ReadinessProbe>,
}

/// `/metrics` and `/ready` for `state`'s gateway.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let probe = Arc::new(ReadinessProbe::new(&state).context("cannot build the readiness probes")?);
    Ok(Router::new().route("/metrics", get(metrics::render)).route("/ready", get(ready)).with_state(OpsState { app: state, probe }))
}

/// `GET /ready`: 200 when ready, 503 otherwise; the body says why either way.
async fn ready(State(ops): State<OpsState>) -> (StatusCode, Json<Value>) {
    let verdict = ops.probe.check(&ops.app).await;
    let status = if verdict.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(verdict.body))
}

/// Binds `listen` (failing now if it cannot, so a misconfigured address stops the process at
/// start) and returns the server, to be spawned.
pub async fn bind(listen: SocketAddr, state: AppState) -> anyhow::Result<impl Future<Output = std::io::Result<()>>> {
    let router = router(state)?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen} (metrics)"))?;
    tracing::info!(address = %listener.local_addr()?, "gateway metrics and readiness listening");
    Ok(axum::serve(listener, router).into_future())
}

//! Prometheus `/metrics` and the per-request counters behind it.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::GatewayError;
use crate::features;

/// The process-wide Prometheus recorder. `metrics` has one global recorder per process, so
/// every router built in this process (tests build many) shares it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just renders nothing.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// `GET /metrics` in Prometheus text format.
pub async fn render() -> String {
    prometheus().render()
}

/// `GET /metrics` on the API port: what a Meilisearch node without the `metrics` experimental
/// feature answers (Meilisearch 1.50, once the key allows `metrics.get`).
pub async fn feature_not_enabled() -> GatewayError {
    features::METRICS.refuse("Getting metrics").into()
}

/// Counts every request and its duration by route template (not raw path, to bound labels).
pub async fn record_request(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("miroir_http_requests_total", &labels).increment(1);
    metrics::histogram!("miroir_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

//! `POST /export`: sends the cluster's indexes (settings and documents) to another Meilisearch,
//! as a node's export does (`docs/export.md`).
//!
//! The body is checked as a node checks it (`request.rs`; errors answered at once, nothing
//! registered). The task is one the receiving gateway runs itself (`crate::gateway_task`, as
//! dumps and snapshots): its record carries the request with the API key hidden, the key itself
//! stays in this gateway's memory. For each index matching a pattern (first matching pattern,
//! indexes in name order) it asks the remote whether the index exists, creates it with its
//! primary key when not, sends its settings when it created it or `overrideSettings` (Miroir's
//! rule removed, as `GET /settings` shows them), then its documents read through the document
//! read path (`crate::whole_index`: `_miroir_*` fields left out, the pattern's filter applied)
//! in gzipped NDJSON payloads of at most `payloadSize`. It does not wait for the remote's tasks.

mod payloads;
pub mod remote;
pub mod request;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use miroir_schemas::error::ResponseError;
use miroir_schemas::task_log::{TaskRecord, TaskType};
use miroir_schemas::tasks::summarized_task_view;
use reqwest::Method;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::error::GatewayError;
use crate::gateway_task::{self, run_by, GatewayTask};
use crate::state::AppState;
use crate::whole_index;
use payloads::Payloads;
use remote::{Body, Remote, RemoteError};
use request::ExportRequest;

/// The replica an export task waits for: the gateway sending it.
pub const EXPORTER: &str = "miroir-exporter";
/// Settings a node leaves out of an export when their experimental feature is off, as it is on
/// a cluster (a remote without the feature would refuse them).
const FEATURE_SETTINGS: [&str; 2] = ["chat", "foreignKeys"];

/// `POST /export`: checks the body, registers an `export` task and starts it. A node answers
/// `200` here (not `202`).
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<Map<String, Value>>), GatewayError> {
    let body = crate::routes::write::json_request(&state, &headers, body).await?;
    let request = request::parse(&body)?;
    let record = run_by(TaskRecord::new(TaskType::Export, None, Some(request.details()), OffsetDateTime::now_utc()), EXPORTER);
    let task = gateway_task::register(&state, &record, EXPORTER).await?;
    let task_uid = task.task_uid;
    tracing::info!(task_uid, "export task enqueued");
    tokio::spawn(run(state, task, request));
    Ok((StatusCode::OK, Json(summarized_task_view(task_uid, &record))))
}

async fn run(state: AppState, task: GatewayTask, request: ExportRequest) {
    let started_at = OffsetDateTime::now_utc();
    let task_uid = task.task_uid;
    let outcome = export(&state, &request).await;
    match &outcome {
        Ok(documents) => tracing::info!(task_uid, documents, "export sent"),
        Err(error) => tracing::error!(task_uid, error = %error.message, "export failed"),
    }
    gateway_task::report(&state, &task, started_at, outcome.map(|_| ())).await;
}

/// Sends every matching index; returns how many documents went.
async fn export(state: &AppState, request: &ExportRequest) -> Result<u64, ResponseError> {
    let remote = Remote::new(&request.url, request.api_key.as_deref())?;
    let default_payload = default_payload_size(state.payload_limit());
    let limit = request.payload_size.map_or(default_payload, |bytes| bytes as usize);
    let mut indexes: Vec<(String, Option<String>)> =
        state.catalog().read(|catalog| catalog.indexes().map(|(uid, info)| (uid.clone(), info.primary_key.clone())).collect());
    indexes.sort();
    let mut sent = 0;
    for (uid, primary_key) in indexes {
        let Some(settings) = request.settings_for(&uid) else { continue };
        sent += export_index(state, &remote, &uid, primary_key.as_deref(), settings, limit).await?;
    }
    Ok(sent)
}

/// A node's default payload size: its payload limit less 1 MiB, at least 20 MiB.
fn default_payload_size(payload_limit: usize) -> usize {
    payload_limit.saturating_sub(1 << 20).max(20 << 20)
}

async fn export_index(
    state: &AppState,
    remote: &Remote,
    uid: &str,
    primary_key: Option<&str>,
    export: &request::IndexExport,
    limit: usize,
) -> Result<u64, ResponseError> {
    let index_path = format!("/indexes/{uid}");
    let exists = match remote.call(Method::GET, &index_path, Body::None).await {
        Ok(_) => true,
        Err(error) if error.is_index_not_found() => false,
        Err(error) => return Err(error.into_task_error()),
    };
    let failed = RemoteError::into_task_error;
    if !exists {
        remote.call(Method::POST, "/indexes", Body::Json(&json!({"uid": uid, "primaryKey": primary_key}))).await.map_err(failed)?;
    } else if export.override_settings {
        remote.call(Method::PATCH, &index_path, Body::Json(&json!({"primaryKey": primary_key}))).await.map_err(failed)?;
    }
    let mut settings = crate::routes::settings::read_settings(state, uid, None).await.map_err(|error| error.response_error())?;
    if !exists || export.override_settings {
        if let Some(fields) = settings.as_object_mut() {
            FEATURE_SETTINGS.iter().for_each(|name| {
                fields.remove(*name);
            });
        }
        remote.call(Method::PATCH, &format!("{index_path}/settings"), Body::Json(&settings)).await.map_err(failed)?;
    }
    let vectors = whole_index::has_embedders(&settings);
    let documents_path = format!("{index_path}/documents");
    let mut payloads = Payloads::new(limit);
    let (mut offset, mut sent) = (0, 0);
    loop {
        let page = whole_index::document_page(state, uid, offset, export.filter.as_ref(), vectors).await?;
        for document in &page {
            let bytes = serde_json::to_vec(document).expect("documents serialize");
            if let Some(payload) = payloads.push(&bytes) {
                remote.call(Method::POST, &documents_path, Body::Documents(&payload)).await.map_err(failed)?;
            }
        }
        offset += page.len();
        sent += page.len() as u64;
        if page.len() < whole_index::PAGE {
            break;
        }
    }
    if let Some(payload) = payloads.finish() {
        remote.call(Method::POST, &documents_path, Body::Documents(&payload)).await.map_err(failed)?;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_payload_is_a_nodes() {
        // A node's default limit is 100 MB: 100,000,000 − 1 MiB.
        assert_eq!(default_payload_size(100_000_000), 98_951_424);
        assert_eq!(default_payload_size(1 << 20), 20 << 20);
    }
}

//! What every write route shares: catching up with the log before deciding, building the task
//! record, and answering `202` with the summarized task.

use std::time::Duration;

use axum::http::StatusCode;
use axum::Json;
use miroir_schemas::details::TaskDetails;
use miroir_schemas::envelope::Op;
use miroir_schemas::task_log::{TaskRecord, TaskType};
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use axum::http::HeaderMap;
use miroir_schemas::error::{Code, ResponseError};

use crate::body::{json_body, read_limited};
use crate::catalog::{Catalog, TaskLogEntry};
use crate::enqueue::{enqueue, Write};
use crate::error::GatewayError;
use crate::params::{path_index_uid, QueryParams};
use crate::request_errors::{incorrect_type, unknown_field, Kind};
use crate::state::AppState;
use crate::topology_changes::Routing;

/// How long a write waits for this gateway's catalog to reach the end of `tasks`.
const CATCH_UP: Duration = Duration::from_secs(10);

pub type Accepted = (StatusCode, Json<Map<String, Value>>);

/// Waits until the catalog has folded every task appended so far, then reads it.
pub async fn current_catalog<R>(state: &AppState, read: impl FnOnce(&Catalog) -> R) -> Result<R, GatewayError> {
    state.catalog().catch_up(state.log(), CATCH_UP).await?;
    Ok(state.catalog().read(read))
}

/// A task record enqueued now, with the `customMetadata` query parameter when given.
pub fn new_entry(task_type: TaskType, index_uid: Option<&str>, details: TaskDetails, query: &QueryParams) -> TaskLogEntry {
    let mut record = TaskRecord::new(task_type, index_uid.map(str::to_owned), Some(details), OffsetDateTime::now_utc());
    record.custom_metadata = query.get("customMetadata").map(str::to_owned);
    TaskLogEntry::new(record)
}

/// `ops` preceded, when the index does not exist yet, by its creation on every shard: the nodes
/// create a node index with Miroir's filterable rule for the shard field (which an index a
/// document or settings write creates implicitly would lack), and every node index gets the
/// primary key the gateway decided.
pub fn created_first(routing: &Routing, exists: bool, primary_key: Option<String>, ops: Vec<(ShardId, Op)>) -> Vec<(ShardId, Op)> {
    if exists {
        return ops;
    }
    let mut with_creation = routing.on_every_shard(Op::CreateIndex { primary_key });
    with_creation.extend(ops);
    with_creation
}

/// Whether the fold will fail `entry` (judged on the catalog as it stands: catch up first), as
/// Meilisearch fails its task; then nothing is sent to the nodes.
pub fn doomed(state: &AppState, entry: &TaskLogEntry) -> bool {
    state.catalog().read(|catalog| catalog.dry_run(entry)).is_err()
}

/// Enqueues the task; when the fold will fail it (judged on the caught-up catalog), nothing
/// is sent to the nodes and the task reads as failed with Meilisearch's error. `layout` is the
/// index layout that routed `ops` (see [`Routing`]).
pub async fn submit(state: &AppState, entry: TaskLogEntry, layout: Option<u32>, ops: Vec<(ShardId, Op)>) -> Result<Accepted, GatewayError> {
    let ops = if doomed(state, &entry) { Vec::new() } else { ops };
    submit_as_is(state, entry, layout, ops).await
}

/// Enqueues the task with exactly these ops, even when the task is already failed: for the
/// one side effect Meilisearch keeps from a failed task (a document addition creates its index).
pub async fn submit_as_is(
    state: &AppState,
    entry: TaskLogEntry,
    layout: Option<u32>,
    ops: Vec<(ShardId, Op)>,
) -> Result<Accepted, GatewayError> {
    let body = enqueue(state, Write { entry, layout, ops, cancels: None }).await?;
    Ok((StatusCode::ACCEPTED, Json(body)))
}

/// A write's query string (only `customMetadata`) and index uid from the path, checked.
pub fn checked_query(state: &AppState, uid: &str, query: Vec<(String, String)>) -> Result<QueryParams, GatewayError> {
    let query = QueryParams(query);
    query.check(&["customMetadata"])?;
    path_index_uid(uid, state.topology().replication_factor)?;
    Ok(query)
}

/// The request's JSON body, within the payload limit.
pub async fn json_request(state: &AppState, headers: &HeaderMap, body: axum::body::Body) -> Result<Value, GatewayError> {
    Ok(json_body(headers, &read_limited(body, state.payload_limit()).await?)?)
}

/// An object body's fields, refusing other shapes and unknown fields with deserr's messages.
pub fn object_fields<'v>(body: &'v Value, accepted: &[&str]) -> Result<&'v Map<String, Value>, ResponseError> {
    let object = body.as_object().ok_or_else(|| ResponseError::new(Code::BadRequest, incorrect_type(&[], &[Kind::Map], body)))?;
    if let Some(key) = object.keys().find(|key| !accepted.contains(&key.as_str())) {
        return Err(ResponseError::new(Code::BadRequest, unknown_field(&[], key, accepted)));
    }
    Ok(object)
}

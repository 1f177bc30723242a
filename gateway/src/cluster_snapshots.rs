//! `POST /snapshots`: a snapshot of the whole cluster, made of one Meilisearch snapshot per node
//! (`docs/snapshots.md`).
//!
//! Each replica's apply checkpoint lives inside its node (the `customMetadata` marker of its
//! newest Miroir node task), so a node's own snapshot says which log positions it covers:
//! restoring every node from its snapshot and letting the indexers replay the `ops` log from
//! each replica's checkpoint brings the cluster back. The task is run by the gateway that
//! registered it (`crate::gateway_task`): it asks every node for a snapshot, waits for them,
//! reads back what each node index covers, writes that as a manifest next to its dumps, and
//! finishes the task: succeeded when every node's snapshot succeeded, else failed with the
//! first failing node's error.

pub mod manifest;

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures::future::join_all;
use miroir_clients::node::{NodeClient, NodeClientConfig, NodeError, TaskFilter, TaskStatus};
use miroir_schemas::checkpoint_marker::Marker;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::task_log::{TaskRecord, TaskType};
use miroir_schemas::tasks::summarized_task_view;
use miroir_schemas::topology::Node;
use reqwest::Method;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::GatewayError;
use crate::gateway_task::{self, run_by, GatewayTask};
use crate::state::AppState;
use manifest::{Covered, NodeIndexCheckpoint, NodeSnapshot};

/// The replica a snapshot task waits for: the gateway asking the nodes.
pub const SNAPSHOT_TAKER: &str = "miroir-snapshot-taker";
/// How long a node may take to write its snapshot.
const NODE_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Node tasks read per page while looking for a node index's newest marker.
const TASK_PAGE: u32 = 100;
/// Node indexes listed per page.
const INDEX_PAGE: usize = 1000;

/// `POST /snapshots`: registers a `snapshotCreation` task and starts it; `202`.
pub async fn create(State(state): State<AppState>) -> Result<(StatusCode, Json<Map<String, Value>>), GatewayError> {
    // A node's snapshotCreation task shows no details.
    let record = run_by(TaskRecord::new(TaskType::SnapshotCreation, None, None, OffsetDateTime::now_utc()), SNAPSHOT_TAKER);
    let task = gateway_task::register(&state, &record, SNAPSHOT_TAKER).await?;
    let task_uid = task.task_uid;
    tracing::info!(task_uid, "cluster snapshot task enqueued");
    tokio::spawn(run(state, task));
    Ok((StatusCode::ACCEPTED, Json(summarized_task_view(task_uid, &record))))
}

async fn run(state: AppState, task: GatewayTask) {
    let started_at = OffsetDateTime::now_utc();
    let task_uid = task.task_uid;
    // The newest topology's nodes (nodes added by online topology changes included).
    let nodes = state.topology_changes().read(|book| book.newest().placement.topology().nodes.clone());
    let taken = join_all(nodes.iter().map(snapshot_node)).await;
    let mut snapshots = Vec::new();
    let mut failure = None;
    for result in taken {
        match result {
            Ok(snapshot) => snapshots.push(snapshot),
            Err(error) => {
                tracing::error!(task_uid, error = %error.message, "a node's snapshot failed");
                failure = failure.or(Some(error));
            }
        }
    }
    let outcome = match failure {
        Some(error) => Err(error),
        None => write_manifest(&state, task_uid, started_at, &snapshots).await,
    };
    if outcome.is_ok() {
        tracing::info!(task_uid, nodes = snapshots.len(), "cluster snapshot taken");
    }
    gateway_task::report(&state, &task, started_at, outcome).await;
}

/// Writes the manifest into the dump directory (aside, then renamed into place).
async fn write_manifest(state: &AppState, task_uid: u64, taken_at: OffsetDateTime, nodes: &[NodeSnapshot]) -> Result<(), ResponseError> {
    let topology = state.topology();
    let content = manifest::manifest(task_uid, taken_at, topology.shard_count, topology.replication_factor, nodes);
    let dir = state.dump_dir().to_path_buf();
    let target = dir.join(manifest::file_name(task_uid));
    let written = async {
        tokio::fs::create_dir_all(&dir).await?;
        let partial = target.with_extension("json.partial");
        tokio::fs::write(&partial, serde_json::to_vec_pretty(&content).map_err(std::io::Error::other)?).await?;
        tokio::fs::rename(&partial, &target).await
    };
    written.await.map_err(|error| {
        ResponseError::new(Code::Internal, format!("Writing the cluster snapshot's manifest `{}` failed: {error}.", target.display()))
    })
}

/// Asks `node` for a snapshot, waits for it, and reads what its node indexes cover.
async fn snapshot_node(node: &Node) -> Result<NodeSnapshot, ResponseError> {
    let failed = |error: NodeError| match error {
        NodeError::Meilisearch { error, .. } => {
            let mut error = error;
            error.message = format!("Snapshot of node `{}` failed: {}", node.id, error.message);
            error
        }
        other => ResponseError::new(Code::Internal, format!("Snapshot of node `{}` failed: {other}.", node.id)),
    };
    let client = NodeClient::new(NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone())).map_err(failed)?;
    let (_, answer) = client.request_json(Method::POST, "/snapshots", &[], None).await.map_err(failed)?;
    let Some(task_uid) = answer.get("taskUid").and_then(Value::as_u64) else {
        return Err(ResponseError::new(Code::Internal, format!("Snapshot of node `{}` failed: it answered {answer}.", node.id)));
    };
    let done = client.wait_for_task(task_uid, Duration::from_secs(1), NODE_SNAPSHOT_TIMEOUT).await.map_err(failed)?;
    if done.status != TaskStatus::Succeeded {
        let error =
            done.error.unwrap_or_else(|| ResponseError::new(Code::Internal, format!("the node's task ended {}", done.status.as_str())));
        return Err(failed(NodeError::Meilisearch { node: node.id.clone(), error }));
    }
    let mut indexes = Vec::new();
    for node_index in miroir_node_indexes(&client).await.map_err(failed)? {
        let covered = newest_marker(&client, &node_index, task_uid).await.map_err(failed)?;
        indexes.push(NodeIndexCheckpoint { node_index, covered });
    }
    tracing::info!(node = %node.id, task_uid, node_indexes = indexes.len(), "node snapshot taken");
    Ok(NodeSnapshot { node: node.id.clone(), task_uid, finished_at: done.finished_at, indexes })
}

/// The node's indexes that Miroir's layout names (`<index>__rank-<r>`).
async fn miroir_node_indexes(client: &NodeClient) -> Result<Vec<String>, NodeError> {
    let mut uids = Vec::new();
    let mut offset = 0;
    loop {
        let query = [("limit", INDEX_PAGE.to_string()), ("offset", offset.to_string())];
        let (_, page) = client.request_json(Method::GET, "/indexes", &query, None).await?;
        let results = page.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
        uids.extend(
            results
                .iter()
                .filter_map(|index| index.get("uid")?.as_str())
                .filter(|uid| miroir_schemas::node_layout::parse_node_index_uid(uid).is_some())
                .map(str::to_owned),
        );
        offset += results.len();
        if results.len() < INDEX_PAGE {
            return Ok(uids);
        }
    }
}

/// The newest Miroir task of `node_index` enqueued before the snapshot task `snapshot_uid`:
/// the node's tasks are numbered in order, so exactly those are in the snapshot.
async fn newest_marker(client: &NodeClient, node_index: &str, snapshot_uid: u64) -> Result<Option<Covered>, NodeError> {
    let Some(mut from) = snapshot_uid.checked_sub(1) else { return Ok(None) };
    loop {
        let filter =
            TaskFilter { index_uids: vec![node_index.to_owned()], limit: Some(TASK_PAGE), from: Some(from), ..TaskFilter::default() };
        let page = client.get_tasks(&filter).await?;
        let found = page.results.iter().find_map(|task| {
            let marker = Marker::parse(task.custom_metadata.as_deref()?)?;
            Some(Covered { marker, node_task_uid: task.uid, status: task.status })
        });
        if found.is_some() {
            return Ok(found);
        }
        match page.next {
            Some(next) => from = next,
            None => return Ok(None),
        }
    }
}

//! `/_miroir/topology/nodes…` (master key): online topology changes (docs/topology.md). Each
//! request builds the next topology from the newest one this gateway has folded, checks it,
//! and — unless `?dryRun=true` — records it in `meta`, waits for its own fold to take it, and
//! appends a copy barrier to every `ops` partition; it answers `202` with the plan. The
//! indexers move the replicas from there.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use futures::StreamExt;
use miroir_schemas::meta_log::topology_changes::ProposalError;
use miroir_schemas::topology::ShardId;

use crate::error::GatewayError;
use crate::routes::write::json_request;
use crate::state::AppState;
use crate::topology_changes::plan::{self, node_to_add, PlanError, TopologyRequest};

/// `POST /_miroir/topology/nodes` `{"id", "url", "replicaGroup", "apiKey"?}`: a node joins.
pub async fn add_node(
    State(state): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<plan::Plan>), GatewayError> {
    let body = json_request(&state, &headers, body).await?;
    let node = node_to_add(&body).map_err(refused)?;
    change(&state, TopologyRequest::Add(node), &query).await
}

/// `DELETE /_miroir/topology/nodes/{node_id}`: a node leaves; its replicas move to the other
/// nodes of its replica group.
pub async fn remove_node(
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<(StatusCode, Json<plan::Plan>), GatewayError> {
    change(&state, TopologyRequest::Remove(node_id), &query).await
}

/// `POST /_miroir/topology/nodes/{node_id}/drain`: a node stays but gives up every replica.
pub async fn drain_node(
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<(StatusCode, Json<plan::Plan>), GatewayError> {
    change(&state, TopologyRequest::Drain(node_id), &query).await
}

fn refused(error: PlanError) -> GatewayError {
    GatewayError::Meili(error.response_error())
}

/// `?dryRun=true|false` (absent: false) of an admin route; the message says why not.
pub fn dry_run_flag(query: &BTreeMap<String, String>) -> Result<bool, String> {
    match query.get("dryRun").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!("`dryRun` must be `true` or `false`, not `{other}`")),
    }
}

fn dry_run(query: &BTreeMap<String, String>) -> Result<bool, GatewayError> {
    dry_run_flag(query).map_err(|message| refused(PlanError::Body(message)))
}

async fn change(
    state: &AppState,
    request: TopologyRequest,
    query: &BTreeMap<String, String>,
) -> Result<(StatusCode, Json<plan::Plan>), GatewayError> {
    let dry_run = dry_run(query)?;
    let service = state.topology_changes();
    service.catch_up().await?;
    let (next, plan) = service.read(|book| plan::plan(book, &request, dry_run)).map_err(refused)?;
    let documents = documents_of_copied_shards(state, &plan).await;
    let plan = plan.with_documents(&documents);
    if dry_run {
        return Ok((StatusCode::OK, Json(plan)));
    }
    let current = next.version - 1;
    if !service.propose(next).await? {
        // Another gateway's change was recorded between our check and our record.
        return Err(refused(PlanError::Proposal(ProposalError::MoveInProgress { current })));
    }
    tracing::info!(version = plan.version, change = plan.change, node = %plan.node, copies = plan.copies.len(), "topology change recorded");
    service.append_copy_barriers(state.shared_log(), plan.version).await?;
    Ok((StatusCode::ACCEPTED, Json(plan)))
}

/// How many (index, shard) counts run at once while planning.
const COUNTS_AT_ONCE: usize = 8;

/// The documents of each shard `plan` copies, summed over every index: one node call per
/// (index, shard), before the change, on the replicas reads use now.
async fn documents_of_copied_shards(state: &AppState, plan: &plan::Plan) -> BTreeMap<u32, Option<u64>> {
    let shards: BTreeSet<u32> = plan.copies.iter().map(|copy| copy.shard).collect();
    let indexes: Vec<String> = state.catalog().read(|catalog| catalog.indexes().map(|(uid, _)| uid.clone()).collect());
    let asked: Vec<(String, u32)> = indexes.into_iter().flat_map(|index| shards.iter().map(move |&shard| (index.clone(), shard))).collect();
    let reads = state.reads();
    let counts: Vec<(u32, Option<u64>)> = futures::stream::iter(asked)
        .map(|(index, shard)| async move { (shard, reads.shard_documents(&index, ShardId(shard)).await) })
        .buffer_unordered(COUNTS_AT_ONCE)
        .collect()
        .await;
    plan::documents_per_shard(counts)
}

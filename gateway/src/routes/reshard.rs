//! `/_miroir/indexes/{uid}/reshard` (master key): resharding an index online
//! (docs/resharding.md). A `POST` checks the new shard count against the topology book this
//! gateway has caught up with, and — unless `?dryRun=true` — records the proposal in `meta`,
//! waits for its own fold to take it, and appends the reshard barrier to the index's `ops`
//! partition; it answers `202` with the plan. The indexer owning the partition does the rest.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use miroir_schemas::error::ResponseError;
use miroir_schemas::meta_log::topology_changes::ReshardError;
use serde_json::{json, Value};

use crate::error::GatewayError;
use crate::params::path_index_uid;
use crate::routes::topology::dry_run_flag;
use crate::routes::write::{current_catalog, json_request};
use crate::state::AppState;
use crate::topology_changes::reshard::{self, invalid, refused, requested_shards, reshard_view, ReshardPlan};

/// `POST /_miroir/indexes/{uid}/reshard` `{"shards": N}` (`?dryRun=true`: plan only).
pub async fn reshard(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ReshardPlan>), GatewayError> {
    let dry_run = dry_run_flag(&query).map_err(|message| invalid(format!("{message}.")))?;
    let body = json_request(&state, &headers, body).await?;
    let shards = requested_shards(&body)?;
    existing_index(&state, &uid).await?;
    let service = state.topology_changes();
    service.catch_up().await?;
    let plan = service.read(|book| reshard::plan(book, &uid, shards, dry_run))?;
    let stats = match state.reads().index_stats(&uid).await {
        Ok(answer) if answer.missing_shards.is_empty() => Some(answer.body),
        _ => None,
    };
    let plan = plan.with_sizes(stats.as_ref());
    if dry_run {
        return Ok((StatusCode::OK, Json(plan)));
    }
    let Some(recorded) = service.propose_reshard(&uid, shards).await? else {
        // Another reshard or a topology change was recorded between our check and our record.
        let error = service.read(|book| book.check_reshard(&uid, shards).err());
        let error = error.unwrap_or(ReshardError::InProgress { index: uid.clone(), shards });
        return Err(refused(&error).into());
    };
    tracing::info!(index = %uid, from = plan.from_shards, to = plan.to_shards, "reshard recorded");
    service.append_reshard_barrier(state.shared_log(), &recorded).await?;
    Ok((StatusCode::ACCEPTED, Json(plan)))
}

/// `GET /_miroir/indexes/{uid}/reshard`: the index's shard count and its reshard in progress
/// (`null` when none).
pub async fn get(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    existing_index(&state, &uid).await?;
    let service = state.topology_changes();
    service.catch_up().await?;
    let view = service.read(|book| {
        let layouts = book.layouts();
        let cluster_shards = layouts.shard_count(None);
        let reshard = layouts.reshard().filter(|reshard| reshard.index == uid);
        json!({
            "index": uid,
            "shardCount": layouts.shard_count(layouts.layout(&uid)),
            "reshard": reshard.map_or(Value::Null, |reshard| reshard_view(reshard, cluster_shards)),
        })
    });
    Ok(Json(view))
}

/// Meilisearch's `index_not_found` unless the index exists (judged on the caught-up catalog).
async fn existing_index(state: &AppState, uid: &str) -> Result<(), GatewayError> {
    path_index_uid(uid, state.topology().replication_factor)?;
    if current_catalog(state, |catalog| catalog.index(uid).is_none()).await? {
        return Err(ResponseError::index_not_found(uid).into());
    }
    Ok(())
}

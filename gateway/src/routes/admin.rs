//! Miroir's own admin routes under `/_miroir/` (master key only, see `auth::routes`): what an
//! operator needs to see of the cluster. Node addresses and keys never appear, even here — node
//! ids are enough to find a node in the deployment that named it.

use axum::extract::{Query, State};
use axum::Json;
use miroir_clients::cluster_config::DEFAULT_INDEXER_GROUP;
use miroir_clients::drift::{self, VerifyOptions};
use miroir_clients::log::{GroupPartition, Topic};
use miroir_schemas::drift::report::VerifyReport;
use miroir_schemas::meta_log::topology_changes::ProposalError;
use miroir_schemas::placement::Placement;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::GatewayError;
use crate::readiness::ReadinessProbe;
use crate::state::AppState;
use crate::topology_changes::plan::{move_view, PlanError};
use crate::topology_changes::reshard::status_fields;

/// `GET /_miroir/topology`: the newest topology (the one being moved to during a change), its
/// shards, replicas, draining nodes and what the read path thinks of each node, and the move
/// in progress if any (`move`, docs/topology.md).
pub async fn topology(State(state): State<AppState>) -> Result<Json<Value>, GatewayError> {
    Ok(Json(newest_topology_view(&state).await?))
}

/// The newest topology's view with its move, current with every change recorded before.
async fn newest_topology_view(state: &AppState) -> Result<Value, GatewayError> {
    let service = state.topology_changes();
    service.catch_up().await?;
    let reads = state.reads();
    let (placement, moving) = service.read(|book| (book.newest().placement.clone(), move_view(book)));
    let mut view = topology_view(&placement, |id| reads.is_node_benched(id));
    view["move"] = moving;
    Ok(view)
}

/// The topology as operators read it; `benched(id)` says whether a node is currently skipped
/// by searches after failing.
pub fn topology_view(placement: &Placement, benched: impl Fn(&str) -> bool) -> Value {
    let topology = placement.topology();
    let nodes: Vec<Value> = topology
        .nodes
        .iter()
        .map(|node| {
            let shards: Vec<u32> = placement.shards_of_node(&node.id).into_iter().map(|shard| shard.0).collect();
            json!({
                "id": node.id,
                "replicaGroup": node.replica_group,
                "shards": shards,
                "draining": !topology.holds_replicas(&node.id),
                "reads": if benched(&node.id) { "benched" } else { "serving" },
            })
        })
        .collect();
    let shards: Vec<Value> = placement
        .shards()
        .map(|shard| {
            let replicas: Vec<&str> = placement.replicas(shard).into_iter().map(|node| node.id.as_str()).collect();
            json!({"shard": shard.0, "replicas": replicas})
        })
        .collect();
    json!({
        "version": topology.version,
        "shardCount": topology.shard_count,
        "replicationFactor": topology.replication_factor,
        "replicaGroups": placement.replica_groups(),
        "nodes": nodes,
        "shards": shards,
    })
}

/// `GET /_miroir/status` parameters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusQuery {
    /// The indexers' consumer group (`MIROIR_INDEXER_GROUP`), when not the default.
    indexer_group: Option<String>,
}

/// `GET /_miroir/status`: the topology view, whether each node answers, readiness, and how far
/// the indexers are behind the `ops` log, partition by partition (`miroirctl status`).
pub async fn status(State(state): State<AppState>, Query(query): Query<StatusQuery>) -> Result<Json<Value>, GatewayError> {
    let probe = ReadinessProbe::new(&state).map_err(|error| GatewayError::Internal(error.to_string()))?;
    let readiness = probe.check(&state).await;
    let group = query.indexer_group.unwrap_or_else(|| DEFAULT_INDEXER_GROUP.to_owned());
    let log = state.log();
    let indexers = match log.group_status(Topic::Ops, &group).await {
        Ok(partitions) => {
            let mut ends = Vec::with_capacity(partitions.len());
            for partition in &partitions {
                ends.push(log.end_offset(Topic::Ops, partition.partition).await?);
            }
            consumer_lag_view(&group, &partitions, &ends)
        }
        Err(error) => json!({"group": group, "error": error.to_string()}),
    };
    let reads = state.reads();
    let mut view = newest_topology_view(&state).await?;
    let probed = readiness.body["nodes"].as_array().cloned().unwrap_or_default();
    for node in view["nodes"].as_array_mut().into_iter().flatten() {
        let id = node["id"].as_str().unwrap_or_default().to_owned();
        node["reachable"] = probed.iter().find(|p| p["id"] == id.as_str()).map_or(Value::Null, |p| p["reachable"].clone());
        // Read only when no other replica can answer, until the indexers say it caught up.
        node["laggingPartitions"] = json!(reads.lagging_partitions(&id));
    }
    view["ready"] = readiness.ready.into();
    view["log"] = readiness.body["log"].clone();
    view["shardsWithoutReachableReplica"] = readiness.body["shardsWithoutReachableReplica"].clone();
    view["indexers"] = indexers;
    let indexes: Vec<String> = state.catalog().read(|catalog| catalog.indexes().map(|(uid, _)| uid.clone()).collect());
    let (reshard, shard_counts) = state.topology_changes().read(|book| status_fields(book, indexes));
    view["reshard"] = reshard;
    view["shardCounts"] = shard_counts;
    Ok(Json(view))
}

/// `POST /_miroir/verify` parameters.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyQuery {
    /// Only this index (every index on the nodes when absent).
    index: Option<String>,
    /// Repair what differs, not only report it.
    #[serde(default)]
    repair: bool,
    /// The indexers' consumer group (`MIROIR_INDEXER_GROUP`), when not the default.
    indexer_group: Option<String>,
    /// Pause after each page of documents read (throttle), in milliseconds.
    page_pause_ms: Option<u64>,
}

/// `POST /_miroir/verify`: one verify pass over the replicas of every shard of the newest
/// topology (`miroirctl verify`, docs/repair.md), answered with its report once it is done.
/// Refused while a topology change moves replicas or a reshard runs: copies not released yet
/// would look like drift.
pub async fn verify(State(state): State<AppState>, Query(query): Query<VerifyQuery>) -> Result<Json<VerifyReport>, GatewayError> {
    let service = state.topology_changes();
    service.catch_up().await?;
    let book = service.read(|book| book.clone());
    if let Some((epoch, _)) = book.moving() {
        return Err(GatewayError::Meili(PlanError::Proposal(ProposalError::MoveInProgress { current: epoch.version() }).response_error()));
    }
    if let Some(reshard) = book.layouts().reshard() {
        return Err(GatewayError::Meili(
            PlanError::Proposal(ProposalError::ReshardInProgress { index: reshard.index.clone() }).response_error(),
        ));
    }
    let placement = book.newest().placement.clone();
    let nodes = drift::node_clients(placement.topology()).map_err(|error| GatewayError::Internal(error.to_string()))?;
    let cluster = drift::Cluster { placement: &placement, layout: None, book: Some(&book), nodes: &nodes, log: Some(state.log()) };
    let mut options = VerifyOptions { index: query.index, repair: query.repair, ..VerifyOptions::default() };
    if let Some(pause) = query.page_pause_ms {
        options.page_pause = std::time::Duration::from_millis(pause);
    }
    if let Some(group) = query.indexer_group {
        options.indexer_group = group;
    }
    Ok(Json(drift::verify(&cluster, &options).await))
}

/// Each `ops` partition's end, the group's committed position, the lag between them and the
/// member that owns it. Pure.
pub fn consumer_lag_view(group: &str, partitions: &[GroupPartition], end_offsets: &[u64]) -> Value {
    let rows: Vec<Value> = partitions
        .iter()
        .zip(end_offsets)
        .map(|(partition, &end)| {
            json!({
                "partition": partition.partition,
                "endOffset": end,
                "committed": partition.next_offset,
                "lag": partition.lag(end),
                "owner": partition.owner,
            })
        })
        .collect();
    let total: u64 = partitions.iter().zip(end_offsets).map(|(partition, &end)| partition.lag(end)).sum();
    json!({"group": group, "totalLag": total, "partitions": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::topology::{Node, Topology};

    fn placement() -> Placement {
        let nodes = (0..4)
            .map(|i| Node {
                id: format!("n{i}"),
                url: format!("http://user:secret@10.0.0.{i}:7700"),
                replica_group: format!("g{}", i % 2),
                api_key: Some("nodeKeySecret".into()),
            })
            .collect();
        Placement::new(Topology::new(3, 5, 1, nodes).unwrap())
    }

    #[test]
    fn every_shard_has_one_replica_per_group_and_nodes_list_their_shards() {
        let placement = placement();
        let view = topology_view(&placement, |node| node == "n2");
        assert_eq!(
            (view["version"].clone(), view["shardCount"].clone(), view["replicationFactor"].clone()),
            (json!(3), json!(5), json!(1))
        );
        assert_eq!(view["replicaGroups"], json!(["g0", "g1"]));
        let shards = view["shards"].as_array().unwrap();
        assert_eq!(shards.len(), 5);
        for shard in shards {
            let replicas = shard["replicas"].as_array().unwrap();
            assert_eq!(replicas.len(), 2, "RF=1 in each of two groups: {shard}");
            // The node side of the view says the same thing as the shard side.
            for replica in replicas {
                let node = view["nodes"].as_array().unwrap().iter().find(|n| &n["id"] == replica).unwrap();
                assert!(node["shards"].as_array().unwrap().contains(&shard["shard"]), "{node} {shard}");
            }
        }
        let held: usize = view["nodes"].as_array().unwrap().iter().map(|n| n["shards"].as_array().unwrap().len()).sum();
        assert_eq!(held, 10);
        assert_eq!(view["nodes"][2]["reads"], "benched");
        assert_eq!(view["nodes"][0]["reads"], "serving");
        assert_eq!(view["nodes"][0]["draining"], false);
    }

    #[test]
    fn lag_is_what_the_group_has_not_committed() {
        let partitions = [
            GroupPartition { partition: 0, next_offset: 10, owner: Some("indexer-a".into()) },
            GroupPartition { partition: 1, next_offset: 0, owner: None },
        ];
        let view = consumer_lag_view("miroir-indexer", &partitions, &[12, 5]);
        assert_eq!(view["totalLag"], 7);
        assert_eq!(view["partitions"][0], json!({"partition": 0, "endOffset": 12, "committed": 10, "lag": 2, "owner": "indexer-a"}));
        assert_eq!(view["partitions"][1], json!({"partition": 1, "endOffset": 5, "committed": 0, "lag": 5, "owner": null}));
    }

    #[test]
    fn no_node_address_or_key_appears() {
        let text = topology_view(&placement(), |_| false).to_string();
        for secret in ["10.0.0", "secret", "nodeKeySecret", "7700", "http"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

//! Miroir's own admin routes under `/_miroir/` (master key only, see `auth::routes`): what an
//! operator needs to see of the cluster. Node addresses and keys never appear, even here — node
//! ids are enough to find a node in the deployment that named it.

use axum::extract::State;
use axum::Json;
use miroir_schemas::placement::Placement;
use serde_json::{json, Value};

use crate::state::AppState;

/// `GET /_miroir/topology`: shards, replicas and what the read path thinks of each node.
pub async fn topology(State(state): State<AppState>) -> Json<Value> {
    let reads = state.reads();
    Json(topology_view(state.placement(), |node| reads.is_benched(node)))
}

/// The topology as operators read it; `benched(i)` says whether node `i` (topology order) is
/// currently skipped by searches after failing.
pub fn topology_view(placement: &Placement, benched: impl Fn(usize) -> bool) -> Value {
    let topology = placement.topology();
    let nodes: Vec<Value> = topology
        .nodes
        .iter()
        .enumerate()
        .map(|(position, node)| {
            let shards: Vec<u32> = placement.shards_of_node(&node.id).into_iter().map(|shard| shard.0).collect();
            json!({
                "id": node.id,
                "replicaGroup": node.replica_group,
                "shards": shards,
                "reads": if benched(position) { "benched" } else { "serving" },
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
        let view = topology_view(&placement, |node| node == 2);
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
    }

    #[test]
    fn no_node_address_or_key_appears() {
        let text = topology_view(&placement(), |_| false).to_string();
        for secret in ["10.0.0", "secret", "nodeKeySecret", "7700", "http"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

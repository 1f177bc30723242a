//! Readiness: whether this gateway can do its job right now, for the orchestrator that routes
//! traffic to it. `/health` says the process answers (as Meilisearch's does); ready means
//! writes can be acknowledged (the log answers) and every shard can be searched (some replica
//! of it answers its `/health`). Served on the operations listener (`ops_listener`).

use std::time::Duration;

use futures::future::join_all;
use miroir_clients::log::Topic;
use miroir_clients::node::{NodeClient, NodeClientConfig};
use miroir_schemas::placement::Placement;
use serde_json::{json, Value};

use crate::state::AppState;

/// How long one probe (the log, or one node's `/health`) may take before it counts as down.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The verdict and what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    pub ready: bool,
    pub body: Value,
}

/// Judges readiness from the probes: `node_reachable[i]` for node `i` in topology order, and
/// the log probe's error if it failed. Pure.
pub fn judge(placement: &Placement, node_reachable: &[bool], log_error: Option<&str>) -> Readiness {
    let topology = placement.topology();
    let reachable = |id: &str| topology.nodes.iter().position(|node| node.id == id).is_some_and(|i| node_reachable.get(i) == Some(&true));
    let unreachable_shards: Vec<u32> = placement
        .shards()
        .filter(|&shard| !placement.replicas(shard).iter().any(|node| reachable(&node.id)))
        .map(|shard| shard.0)
        .collect();
    let nodes: Vec<Value> = topology.nodes.iter().zip(node_reachable).map(|(node, &up)| json!({"id": node.id, "reachable": up})).collect();
    let ready = log_error.is_none() && unreachable_shards.is_empty();
    let body = json!({
        "status": if ready { "ready" } else { "unready" },
        "log": match log_error { None => json!({"reachable": true}), Some(error) => json!({"reachable": false, "error": error}) },
        "nodes": nodes,
        "shardsWithoutReachableReplica": unreachable_shards,
    });
    Readiness { ready, body }
}

/// Probes the log and every node of the topology, concurrently.
pub struct ReadinessProbe {
    nodes: Vec<NodeClient>,
}

impl ReadinessProbe {
    pub fn new(state: &AppState) -> anyhow::Result<ReadinessProbe> {
        let nodes = state
            .topology()
            .nodes
            .iter()
            .map(|node| {
                let mut config = NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone());
                config.request_timeout = PROBE_TIMEOUT;
                NodeClient::new(config)
            })
            .collect::<Result<_, _>>()?;
        Ok(ReadinessProbe { nodes })
    }

    pub async fn check(&self, state: &AppState) -> Readiness {
        let log = tokio::time::timeout(PROBE_TIMEOUT, state.log().end_offset(Topic::Tasks, 0));
        let nodes = join_all(self.nodes.iter().map(NodeClient::probe_health));
        let (log, node_reachable) = futures::join!(log, nodes);
        let log_error = match log {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        };
        judge(state.placement(), &node_reachable, log_error.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::topology::{Node, Topology};

    fn placement(nodes: usize, rf: u32) -> Placement {
        let nodes = (0..nodes)
            .map(|i| Node { id: format!("n{i}"), url: format!("http://127.0.0.1:{}", 7700 + i), replica_group: "g".into(), api_key: None })
            .collect();
        Placement::new(Topology::new(1, 6, rf, nodes).unwrap())
    }

    #[test]
    fn ready_when_the_log_answers_and_every_shard_has_a_reachable_replica() {
        let p = placement(3, 2);
        assert!(judge(&p, &[true, true, true], None).ready);
        // RF = 2 over 3 nodes: any one node down leaves every shard a replica
        for down in 0..3 {
            let mut up = [true; 3];
            up[down] = false;
            let verdict = judge(&p, &up, None);
            assert!(verdict.ready, "{}", verdict.body);
            assert_eq!(verdict.body["nodes"][down], json!({"id": format!("n{down}"), "reachable": false}));
        }
        let log_down = judge(&p, &[true; 3], Some("timed out"));
        assert!(!log_down.ready);
        assert_eq!(log_down.body["log"], json!({"reachable": false, "error": "timed out"}));
        assert_eq!(log_down.body["status"], "unready");
    }

    #[test]
    fn a_shard_whose_replicas_are_all_down_makes_the_gateway_unready_and_is_named() {
        let p = placement(3, 1);
        let verdict = judge(&p, &[false, true, true], None);
        let held: Vec<u32> = p.shards_of_node("n0").into_iter().map(|s| s.0).collect();
        assert!(!held.is_empty());
        assert!(!verdict.ready);
        assert_eq!(verdict.body["shardsWithoutReachableReplica"], json!(held));
    }
}

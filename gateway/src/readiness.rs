//! Readiness: whether this gateway can do its job right now, for the orchestrator that routes
//! traffic to it. `/health` says the process answers (as Meilisearch's does); ready means
//! writes can be acknowledged (the log answers) and every shard can be searched (some replica
//! of it answers its `/health`). Served on the operations listener (`ops_listener`).
//! The nodes probed are the newest topology's and, during a topology change, those the
//! placement reads use (docs/topology.md).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::join_all;
use miroir_clients::log::Topic;
use miroir_clients::node::{NodeClient, NodeClientConfig};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::Node;
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

/// Judges readiness from the probes: `probed` lists each node probed and whether it answered,
/// `placement` is the one reads use, and `log_error` the log probe's error if it failed. Pure.
pub fn judge(placement: &Placement, probed: &[(String, bool)], log_error: Option<&str>) -> Readiness {
    let reachable = |id: &str| probed.iter().any(|(node, up)| node == id && *up);
    let unreachable_shards: Vec<u32> = placement
        .shards()
        .filter(|&shard| !placement.replicas(shard).iter().any(|node| reachable(&node.id)))
        .map(|shard| shard.0)
        .collect();
    let nodes: Vec<Value> = probed.iter().map(|(node, up)| json!({"id": node, "reachable": up})).collect();
    let ready = log_error.is_none() && unreachable_shards.is_empty();
    let body = json!({
        "status": if ready { "ready" } else { "unready" },
        "log": match log_error { None => json!({"reachable": true}), Some(error) => json!({"reachable": false, "error": error}) },
        "nodes": nodes,
        "shardsWithoutReachableReplica": unreachable_shards,
    });
    Readiness { ready, body }
}

fn probe_client(node: &Node) -> Result<NodeClient, miroir_clients::node::NodeError> {
    let mut config = NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone());
    config.request_timeout = PROBE_TIMEOUT;
    NodeClient::new(config)
}

/// Probes the log and every node of the topology, concurrently.
pub struct ReadinessProbe {
    /// One client per node probed so far, by node id (nodes added by a topology change get
    /// theirs at their first probe).
    clients: Mutex<BTreeMap<String, NodeClient>>,
}

impl ReadinessProbe {
    pub fn new(state: &AppState) -> anyhow::Result<ReadinessProbe> {
        let clients =
            state.topology().nodes.iter().map(|node| Ok((node.id.clone(), probe_client(node)?))).collect::<anyhow::Result<_>>()?;
        Ok(ReadinessProbe { clients: Mutex::new(clients) })
    }

    /// The client of `node`, made at its first probe (`None`: no client can be made for it).
    fn client(&self, node: &Node) -> Option<NodeClient> {
        let mut clients = self.clients.lock().expect("probe clients lock");
        if !clients.contains_key(&node.id) {
            clients.insert(node.id.clone(), probe_client(node).ok()?);
        }
        clients.get(&node.id).cloned()
    }

    pub async fn check(&self, state: &AppState) -> Readiness {
        // A gateway that has not folded the topology changes yet (just started during a move)
        // would read from the launch placement, unnarrowed: not ready until it has.
        let folded = tokio::time::timeout(PROBE_TIMEOUT, state.topology_changes().catch_up()).await;
        let topology_error = match folded {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(format!("the topology changes in meta are not folded yet: {error}")),
            Err(_) => Some(format!("the topology changes in meta were not folded within {} s", PROBE_TIMEOUT.as_secs())),
        };
        // The nodes of every layout are the topology's: the launch layout's placement names them.
        let (read_placement, _) = state.read_placement(None);
        let newest = state.topology_changes().read(|book| book.newest().placement.clone());
        let mut nodes: Vec<Node> = newest.topology().nodes.clone();
        for node in &read_placement.topology().nodes {
            if !nodes.iter().any(|other| other.id == node.id) {
                nodes.push(node.clone());
            }
        }
        let log = tokio::time::timeout(PROBE_TIMEOUT, state.log().end_offset(Topic::Tasks, 0));
        let probes = join_all(nodes.iter().map(|node| async move {
            let up = match self.client(node) {
                Some(client) => client.probe_health().await,
                None => false,
            };
            (node.id.clone(), up)
        }));
        let (log, probed) = futures::join!(log, probes);
        let log_error = match log {
            Ok(Ok(_)) => None,
            Ok(Err(error)) => Some(error.to_string()),
            Err(_) => Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        }
        .or(topology_error);
        judge(&read_placement, &probed, log_error.as_deref())
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
        let probed = |up: [bool; 3]| -> Vec<(String, bool)> { (0..3).map(|i| (format!("n{i}"), up[i])).collect() };
        assert!(judge(&p, &probed([true; 3]), None).ready);
        // RF = 2 over 3 nodes: any one node down leaves every shard a replica
        for down in 0..3 {
            let mut up = [true; 3];
            up[down] = false;
            let verdict = judge(&p, &probed(up), None);
            assert!(verdict.ready, "{}", verdict.body);
            assert_eq!(verdict.body["nodes"][down], json!({"id": format!("n{down}"), "reachable": false}));
        }
        let log_down = judge(&p, &probed([true; 3]), Some("timed out"));
        assert!(!log_down.ready);
        assert_eq!(log_down.body["log"], json!({"reachable": false, "error": "timed out"}));
        assert_eq!(log_down.body["status"], "unready");
    }

    #[test]
    fn a_shard_whose_replicas_are_all_down_makes_the_gateway_unready_and_is_named() {
        let p = placement(3, 1);
        let probed: Vec<(String, bool)> = vec![("n0".into(), false), ("n1".into(), true), ("n2".into(), true)];
        let verdict = judge(&p, &probed, None);
        let held: Vec<u32> = p.shards_of_node("n0").into_iter().map(|s| s.0).collect();
        assert!(!held.is_empty());
        assert!(!verdict.ready);
        assert_eq!(verdict.body["shardsWithoutReachableReplica"], json!(held));
    }
}

//! The cluster's shape, as every Miroir process reads it from its launch configuration:
//! which Meilisearch nodes exist and in which replica group, how many shards (`S`) every
//! index is split into, and how many nodes of each group hold a shard (`RF`).
//! How a node holds the shards of an index is [`crate::node_layout`].

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::fmt;

/// One of the cluster's `S` shards, `shard-0 … shard-{S-1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ShardId(pub u32);

const SHARD_PREFIX: &str = "shard-";

impl ShardId {
    /// The shard's name, which is what placement hashes: `shard-<k>`.
    pub fn name(self) -> String {
        format!("{SHARD_PREFIX}{}", self.0)
    }

    /// Parses `shard-<k>` (canonical decimal, no sign or leading zeros).
    pub fn parse(name: &str) -> Option<ShardId> {
        let digits = name.strip_prefix(SHARD_PREFIX)?;
        parse_canonical_u32(digits).map(ShardId)
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHARD_PREFIX}{}", self.0)
    }
}

/// Only canonical decimal spellings parse, so a name maps back to exactly one number.
pub(crate) fn parse_canonical_u32(digits: &str) -> Option<u32> {
    let canonical = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if canonical {
        digits.parse().ok()
    } else {
        None
    }
}

/// One Meilisearch node.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Stable name of the node; placement hashes it, so renaming a node moves its shards.
    pub id: String,
    /// Base URL of the node's HTTP API.
    pub url: String,
    /// The replica group the node belongs to. Every group holds every shard.
    pub replica_group: String,
    /// Key Miroir uses to talk to the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

// Hand-written so a node's key never ends up in logs.
impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("replica_group", &self.replica_group)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The cluster's shape. Build it with [`Topology::new`], which checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "UncheckedTopology")]
pub struct Topology {
    /// Bumped by the operator on every change, so processes can tell which shape they run.
    pub version: u64,
    /// `S`: the number of shards every index is split into.
    pub shard_count: u32,
    /// `RF`: how many nodes of each replica group hold a shard.
    pub replication_factor: u32,
    pub nodes: Vec<Node>,
    /// Nodes being drained: still part of the cluster (reachable, shown in status) but holding
    /// no shard replica, so an operator can stop them once their replicas have moved.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub draining: BTreeSet<String>,
}

/// Why a topology was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("the shard count must be at least 1")]
    NoShards,
    #[error("the replication factor must be at least 1")]
    NoReplication,
    #[error("the topology has no nodes")]
    NoNodes,
    #[error("node ids must not be empty")]
    EmptyNodeId,
    #[error("node `{0}` has an empty replica group")]
    EmptyReplicaGroup(String),
    #[error("node id `{0}` appears more than once")]
    DuplicateNode(String),
    #[error("node `{0}` is drained but not part of the topology")]
    UnknownDrainedNode(String),
    #[error("replica group `{0}` would have no node left to hold its shards")]
    GroupDrained(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UncheckedTopology {
    version: u64,
    shard_count: u32,
    replication_factor: u32,
    nodes: Vec<Node>,
    #[serde(default)]
    draining: BTreeSet<String>,
}

impl TryFrom<UncheckedTopology> for Topology {
    type Error = TopologyError;
    fn try_from(t: UncheckedTopology) -> Result<Self, Self::Error> {
        Topology::new(t.version, t.shard_count, t.replication_factor, t.nodes)?.with_draining(t.draining)
    }
}

impl Topology {
    pub fn new(version: u64, shard_count: u32, replication_factor: u32, nodes: Vec<Node>) -> Result<Topology, TopologyError> {
        if shard_count == 0 {
            return Err(TopologyError::NoShards);
        }
        if replication_factor == 0 {
            return Err(TopologyError::NoReplication);
        }
        if nodes.is_empty() {
            return Err(TopologyError::NoNodes);
        }
        let mut seen = HashSet::new();
        for node in &nodes {
            if node.id.is_empty() {
                return Err(TopologyError::EmptyNodeId);
            }
            if node.replica_group.is_empty() {
                return Err(TopologyError::EmptyReplicaGroup(node.id.clone()));
            }
            if !seen.insert(node.id.as_str()) {
                return Err(TopologyError::DuplicateNode(node.id.clone()));
            }
        }
        Ok(Topology { version, shard_count, replication_factor, nodes, draining: BTreeSet::new() })
    }

    /// The same topology with `draining` nodes holding nothing. Every replica group keeps at
    /// least one node that is not drained.
    pub fn with_draining(mut self, draining: BTreeSet<String>) -> Result<Topology, TopologyError> {
        if let Some(unknown) = draining.iter().find(|id| self.node(id).is_none()) {
            return Err(TopologyError::UnknownDrainedNode(unknown.clone()));
        }
        for group in self.replica_groups() {
            if self.nodes.iter().filter(|n| n.replica_group == group).all(|n| draining.contains(&n.id)) {
                return Err(TopologyError::GroupDrained(group.to_owned()));
            }
        }
        self.draining = draining;
        Ok(self)
    }

    /// Whether `node_id` may hold shard replicas (it is not being drained).
    pub fn holds_replicas(&self, node_id: &str) -> bool {
        !self.draining.contains(node_id)
    }

    /// `shard-0 … shard-{S-1}`.
    pub fn shards(&self) -> impl Iterator<Item = ShardId> + Clone {
        (0..self.shard_count).map(ShardId)
    }

    /// Replica group names, sorted.
    pub fn replica_groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = self.nodes.iter().map(|n| n.replica_group.as_str()).collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, group: &str) -> Node {
        Node { id: id.into(), url: format!("http://{id}:7700"), replica_group: group.into(), api_key: None }
    }

    #[test]
    fn shard_names() {
        assert_eq!(ShardId(0).name(), "shard-0");
        assert_eq!(ShardId(12).to_string(), "shard-12");
        assert_eq!(ShardId::parse("shard-12"), Some(ShardId(12)));
        for bad in ["shard-", "shard-01", "shard--1", "shard-+1", "shard-1a", "shard-99999999999", "s-1"] {
            assert_eq!(ShardId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn topology_validation() {
        let ok = Topology::new(1, 4, 2, vec![node("a", "g1"), node("b", "g1")]).unwrap();
        assert_eq!(ok.shards().map(ShardId::name).collect::<Vec<_>>(), ["shard-0", "shard-1", "shard-2", "shard-3"]);
        assert_eq!(Topology::new(1, 0, 1, vec![node("a", "g")]), Err(TopologyError::NoShards));
        assert_eq!(Topology::new(1, 1, 0, vec![node("a", "g")]), Err(TopologyError::NoReplication));
        assert_eq!(Topology::new(1, 1, 1, vec![]), Err(TopologyError::NoNodes));
        assert_eq!(Topology::new(1, 1, 1, vec![node("a", "g"), node("a", "h")]), Err(TopologyError::DuplicateNode("a".into())));
        assert_eq!(Topology::new(1, 1, 1, vec![node("a", "")]), Err(TopologyError::EmptyReplicaGroup("a".into())));
    }

    #[test]
    fn topology_json_is_checked_and_hides_keys_from_debug() {
        let json = r#"{"version":3,"shardCount":2,"replicationFactor":1,
            "nodes":[{"id":"n1","url":"http://n1","replicaGroup":"g","apiKey":"secret"}]}"#;
        let topology: Topology = serde_json::from_str(json).unwrap();
        assert_eq!(topology.nodes[0].api_key.as_deref(), Some("secret"));
        assert!(!format!("{topology:?}").contains("secret"));
        let zero_shards = json.replace("\"shardCount\":2", "\"shardCount\":0");
        let err = serde_json::from_str::<Topology>(&zero_shards).unwrap_err();
        assert!(err.to_string().contains("shard count"), "{err}");
    }
}

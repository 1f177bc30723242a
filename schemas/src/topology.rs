//! The cluster's shape, as every Miroir process reads it from its launch configuration:
//! which Meilisearch nodes exist and in which replica group, how many shards (`S`) every
//! index is split into, and how many nodes of each group hold a shard (`RF`).
//!
//! Also the naming rules that tie a user index to its per-shard node indexes
//! (`movies` shard 3 lives on nodes as `movies__shard-3`).

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// One of the cluster's `S` shards, `shard-0 … shard-{S-1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ShardId(pub u32);

const SHARD_PREFIX: &str = "shard-";
/// Separator between the user's index uid and the shard name in a node index uid.
const NODE_INDEX_SEPARATOR: &str = "__";

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

/// Only the spelling `name()` produces parses back, so a node index uid maps to exactly one
/// (index, shard) pair.
fn parse_canonical_u32(digits: &str) -> Option<u32> {
    let canonical = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if canonical {
        digits.parse().ok()
    } else {
        None
    }
}

/// The node index holding shard `shard` of user index `index_uid`: `<index_uid>__shard-<k>`.
///
/// Meilisearch caps index uids at 400 bytes; the gateway must keep user uids short enough
/// for this suffix to fit.
pub fn node_index_uid(index_uid: &str, shard: ShardId) -> String {
    format!("{index_uid}{NODE_INDEX_SEPARATOR}{shard}")
}

/// Characters of an index uid (Meilisearch allows `[A-Za-z0-9_-]`).
fn is_uid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Replaces every word of `message` that is a node index uid (`movies__shard-3`) by its user
/// index uid (`movies`): node messages reach clients (search errors, failed tasks) only through
/// this, so node index names never leak.
pub fn rewrite_node_index_names(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, word: &str| match parse_node_index_uid(word) {
        Some((index_uid, _)) => out.push_str(index_uid),
        None => out.push_str(word),
    };
    for (at, c) in message.char_indices() {
        if is_uid_char(c) {
            word_start.get_or_insert(at);
            continue;
        }
        if let Some(start) = word_start.take() {
            flush(&mut out, &message[start..at]);
        }
        out.push(c);
    }
    if let Some(start) = word_start {
        flush(&mut out, &message[start..]);
    }
    out
}

/// The inverse of [`node_index_uid`]: `movies__shard-3` → `("movies", ShardId(3))`.
/// Splits at the last `__shard-`, so user uids that themselves contain `__` round-trip.
pub fn parse_node_index_uid(node_index_uid: &str) -> Option<(&str, ShardId)> {
    let marker = format!("{NODE_INDEX_SEPARATOR}{SHARD_PREFIX}");
    let (index_uid, _) = node_index_uid.rsplit_once(&marker)?;
    let shard_name = &node_index_uid[index_uid.len() + NODE_INDEX_SEPARATOR.len()..];
    if index_uid.is_empty() {
        return None;
    }
    ShardId::parse(shard_name).map(|shard| (index_uid, shard))
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
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UncheckedTopology {
    version: u64,
    shard_count: u32,
    replication_factor: u32,
    nodes: Vec<Node>,
}

impl TryFrom<UncheckedTopology> for Topology {
    type Error = TopologyError;
    fn try_from(t: UncheckedTopology) -> Result<Self, Self::Error> {
        Topology::new(t.version, t.shard_count, t.replication_factor, t.nodes)
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
        Ok(Topology { version, shard_count, replication_factor, nodes })
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
    use proptest::prelude::*;

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
    fn node_index_uids() {
        assert_eq!(node_index_uid("movies", ShardId(3)), "movies__shard-3");
        assert_eq!(parse_node_index_uid("movies__shard-3"), Some(("movies", ShardId(3))));
        assert_eq!(parse_node_index_uid("a__shard-1__shard-2"), Some(("a__shard-1", ShardId(2))));
        assert_eq!(parse_node_index_uid("movies"), None);
        assert_eq!(parse_node_index_uid("__shard-1"), None);
        assert_eq!(parse_node_index_uid("movies__shard-01"), None);
        assert_eq!(parse_node_index_uid("movies_shard-1"), None);
    }

    proptest! {
        #[test]
        fn node_index_uid_round_trips(uid in "[A-Za-z0-9_-]{1,64}", k in any::<u32>()) {
            let shard = ShardId(k);
            let node_uid = node_index_uid(&uid, shard);
            prop_assert_eq!(parse_node_index_uid(&node_uid), Some((uid.as_str(), shard)));
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

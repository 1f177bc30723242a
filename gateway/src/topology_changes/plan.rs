//! What an admin request asks of the topology, checked and planned without I/O: the next
//! topology (version + 1, same shard count and replication factor), why it is refused, and the
//! replicas the move would copy and release (docs/topology.md).

use std::collections::{BTreeMap, BTreeSet};

use miroir_schemas::error::{ErrorType, ResponseError};
use miroir_schemas::meta_log::topology_changes::{ProposalError, TopologyBook, TopologyChange};
use miroir_schemas::topology::{Node, Topology, TopologyError};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::miroir_error;

/// A change refused because the request or the topology it would give is invalid.
pub const INVALID_CODE: &str = "invalid_topology_change";
/// A change refused because the previous one is still moving replicas (or another gateway's
/// proposal came first).
pub const IN_PROGRESS_CODE: &str = "topology_change_in_progress";
/// A change naming a node the topology does not have.
pub const NODE_NOT_FOUND_CODE: &str = "topology_node_not_found";

/// One change an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologyRequest {
    /// A node joins (its replica group's placement takes its share).
    Add(Node),
    /// A node leaves: its replicas move to the other nodes of its group.
    Remove(String),
    /// A node stays in the cluster but holds no replica (so it can be stopped once moved).
    Drain(String),
}

/// Why a change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Body(String),
    #[error("node `{0}` is already part of the topology")]
    NodeExists(String),
    #[error("node `{0}` is not part of the topology")]
    NodeNotFound(String),
    #[error("node `{0}` is already being drained")]
    AlreadyDraining(String),
    #[error("node `{node}` is the last node of replica group `{group}`; a replica group cannot be removed")]
    LastOfGroup { node: String, group: String },
    #[error("{0}")]
    Topology(#[from] TopologyError),
    #[error("{0}")]
    Proposal(#[from] ProposalError),
}

impl PlanError {
    /// The error in Meilisearch's shape (codes listed in docs/topology.md).
    pub fn response_error(&self) -> ResponseError {
        let message = format!("{self}.");
        match self {
            PlanError::NodeNotFound(_) => miroir_error(NODE_NOT_FOUND_CODE, ErrorType::InvalidRequest, 404, message),
            PlanError::Proposal(ProposalError::MoveInProgress { .. }) => {
                miroir_error(IN_PROGRESS_CODE, ErrorType::InvalidRequest, 409, message)
            }
            PlanError::Proposal(ProposalError::ReshardInProgress { .. }) => {
                miroir_error(super::reshard::IN_PROGRESS_CODE, ErrorType::InvalidRequest, 409, message)
            }
            _ => miroir_error(INVALID_CODE, ErrorType::InvalidRequest, 400, message),
        }
    }
}

/// The node a `POST /_miroir/topology/nodes` body describes:
/// `{"id", "url", "replicaGroup", "apiKey"?}`.
pub fn node_to_add(body: &Value) -> Result<Node, PlanError> {
    let object = body
        .as_object()
        .ok_or_else(|| PlanError::Body("the body must be a JSON object: {\"id\", \"url\", \"replicaGroup\", \"apiKey\"?}".into()))?;
    if let Some(unknown) = object.keys().find(|key| !["id", "url", "replicaGroup", "apiKey"].contains(&key.as_str())) {
        return Err(PlanError::Body(format!("unknown field `{unknown}`: expected `id`, `url`, `replicaGroup` or `apiKey`")));
    }
    let text = |field: &str, required: bool| -> Result<Option<String>, PlanError> {
        match object.get(field) {
            None | Some(Value::Null) if !required => Ok(None),
            Some(Value::String(value)) if !value.is_empty() => Ok(Some(value.clone())),
            _ => Err(PlanError::Body(format!("`{field}` must be a non-empty string"))),
        }
    };
    let id = text("id", true)?.expect("required");
    let url = text("url", true)?.expect("required");
    let parsed = reqwest::Url::parse(&url).map_err(|_| PlanError::Body(format!("`url` is not a URL: `{url}`")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(PlanError::Body("`url` must be an http:// or https:// URL of the node".into()));
    }
    let replica_group = text("replicaGroup", true)?.expect("required");
    Ok(Node { id, url, replica_group, api_key: text("apiKey", false)? })
}

/// The topology `request` asks for after `current`: version + 1, the same shard count and
/// replication factor.
pub fn next_topology(current: &Topology, request: &TopologyRequest) -> Result<Topology, PlanError> {
    let mut nodes = current.nodes.clone();
    let mut draining = current.draining.clone();
    match request {
        TopologyRequest::Add(node) => {
            if current.node(&node.id).is_some() {
                return Err(PlanError::NodeExists(node.id.clone()));
            }
            nodes.push(node.clone());
        }
        TopologyRequest::Remove(id) => {
            let node = current.node(id).ok_or_else(|| PlanError::NodeNotFound(id.clone()))?;
            if !current.nodes.iter().any(|other| other.id != *id && other.replica_group == node.replica_group) {
                return Err(PlanError::LastOfGroup { node: id.clone(), group: node.replica_group.clone() });
            }
            nodes.retain(|other| other.id != *id);
            draining.remove(id);
        }
        TopologyRequest::Drain(id) => {
            if current.node(id).is_none() {
                return Err(PlanError::NodeNotFound(id.clone()));
            }
            if !draining.insert(id.clone()) {
                return Err(PlanError::AlreadyDraining(id.clone()));
            }
        }
    }
    Ok(Topology::new(current.version + 1, current.shard_count, current.replication_factor, nodes)?.with_draining(draining)?)
}

/// One shard replica: a node index (node, rank) holding a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replica {
    pub shard: u32,
    pub node: String,
    pub rank: u32,
}

/// One node index filled at the copy barrier, and how much it copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaCopy {
    pub shard: u32,
    pub node: String,
    pub rank: u32,
    /// The shard's documents summed over every index (a copy copies the shard of every
    /// index), counted before the change on one replica reads use; `None` (`null`) when some
    /// index's count could not be read (no replica of the shard answered).
    pub documents: Option<u64>,
}

/// What a change does, as the admin API answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The version the change becomes.
    pub version: u64,
    /// `addNode`, `removeNode` or `drainNode`.
    pub change: &'static str,
    pub node: String,
    /// Node indexes filled at the copy barrier (a shard reaching a node, or changing rank on
    /// a node that held it).
    pub copies: Vec<ReplicaCopy>,
    /// The documents of every copy summed; `None` (`null`) when one copy's count is unknown.
    pub documents_to_copy: Option<u64>,
    /// Node indexes emptied of a shard at the release barrier (a removed node is left as it is).
    pub releases: Vec<Replica>,
    /// Shard replicas reaching a node that did not hold them.
    pub moved: usize,
    /// The replicas that must move at least: a joining node's fair share (S·RF / nodes holding
    /// replicas in its group), or every replica a leaving node held.
    pub ideal: f64,
    pub dry_run: bool,
}

/// Checks `request` against `book` and plans it: the topology to propose and what it moves.
pub fn plan(book: &TopologyBook, request: &TopologyRequest, dry_run: bool) -> Result<(Topology, Plan), PlanError> {
    let current = book.newest().placement.clone();
    let next = next_topology(current.topology(), request)?;
    book.check_proposal(&next)?;
    let mut after = book.clone();
    after.apply(&TopologyChange::TopologyProposed { topology: next.clone(), at: OffsetDateTime::now_utc() });
    let version = next.version;
    let copies: Vec<ReplicaCopy> = after
        .copies(version, None)
        .into_iter()
        .map(|copy| ReplicaCopy { shard: copy.shard.0, node: copy.to.0, rank: copy.to.1 .0, documents: None })
        .collect();
    let releases =
        after.releases(version, None).into_iter().map(|(shard, (node, rank))| Replica { shard: shard.0, node, rank: rank.0 }).collect();
    let moved = after.copies(version, None).iter().filter(|copy| !copy.from.iter().any(|(node, _)| *node == copy.to.0)).count();
    let (change, node, ideal) = match request {
        TopologyRequest::Add(node) => {
            let holding =
                next.nodes.iter().filter(|other| other.replica_group == node.replica_group && next.holds_replicas(&other.id)).count();
            let replicas = f64::from(next.shard_count) * f64::from(next.replication_factor);
            ("addNode", node.id.clone(), replicas / holding.max(1) as f64)
        }
        TopologyRequest::Remove(id) => ("removeNode", id.clone(), current.shards_of_node(id).len() as f64),
        TopologyRequest::Drain(id) => ("drainNode", id.clone(), current.shards_of_node(id).len() as f64),
    };
    Ok((next, Plan { version, change, node, copies, documents_to_copy: None, releases, moved, ideal, dry_run }))
}

/// The documents of each shard summed over every index, from one `(shard, count)` per
/// (index, shard) counted (`None`: that count could not be read, so the shard's sum is
/// unknown).
pub fn documents_per_shard(counts: impl IntoIterator<Item = (u32, Option<u64>)>) -> BTreeMap<u32, Option<u64>> {
    let mut per_shard: BTreeMap<u32, Option<u64>> = BTreeMap::new();
    for (shard, count) in counts {
        let sum = per_shard.entry(shard).or_insert(Some(0));
        *sum = sum.zip(count).map(|(sum, count)| sum + count);
    }
    per_shard
}

impl Plan {
    /// The plan with each copy's documents from `per_shard` ([`documents_per_shard`]); a shard
    /// it does not list has no document (no index counted it: there is no index).
    pub fn with_documents(mut self, per_shard: &BTreeMap<u32, Option<u64>>) -> Plan {
        for copy in &mut self.copies {
            copy.documents = per_shard.get(&copy.shard).copied().unwrap_or(Some(0));
        }
        self.documents_to_copy = self.copies.iter().try_fold(0u64, |sum, copy| Some(sum + copy.documents?));
        self
    }
}

/// `GET /_miroir/topology`'s account of the newest topology's nodes: which drain, and the
/// move in progress, if any, with the `ops` partitions copied and released so far.
pub fn move_view(book: &TopologyBook) -> Value {
    let Some((epoch, phase)) = book.moving() else { return Value::Null };
    let partitions: BTreeSet<u32> = (0..book.partitions()).collect();
    let mut view = Map::new();
    view.insert("version".into(), epoch.version().into());
    view.insert("phase".into(), serde_json::to_value(phase).expect("a phase serializes"));
    view.insert("partitions".into(), book.partitions().into());
    view.insert("copiedPartitions".into(), epoch.copied.keys().copied().collect::<Vec<u32>>().into());
    view.insert("releasedPartitions".into(), epoch.released.keys().copied().collect::<Vec<u32>>().into());
    let waiting: Vec<u32> = partitions.iter().copied().filter(|p| !epoch.copied.contains_key(p)).collect();
    view.insert("partitionsNotCopied".into(), waiting.into());
    let proposed_at = epoch.proposed_at.and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok());
    view.insert("proposedAt".into(), proposed_at.into());
    Value::Object(view)
}

#[cfg(test)]
mod tests;

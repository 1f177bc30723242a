//! What the nodes hold, read directly from every node, against what was written, placed by HRW.

use std::collections::{BTreeMap, BTreeSet};

use miroir_clients::node::NodeClient;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::node_layout::{node_index_uid, parse_node_index_uid, ReplicaRank, SHARD_FIELD};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::ShardId;
use reqwest::Method;
use serde_json::Value;

use super::corpus::Document;

/// The documents an index should hold: primary key value → document.
pub type Contents = BTreeMap<String, Document>;

/// Documents of one node index: primary key value → document.
pub type NodeIndexDocuments = BTreeMap<String, Document>;

/// Everything every node holds: node id → node index uid → documents.
pub type Snapshot = BTreeMap<String, BTreeMap<String, NodeIndexDocuments>>;

/// The key of `document` under `primary_key` as a string (Meilisearch ids are strings or integers).
fn key_of(document: &Document, primary_key: &str) -> String {
    match document.get(primary_key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => panic!("a node returned a document without its primary key `{primary_key}`: {document:?}"),
    }
}

/// Every index of every node with all its documents.
pub async fn snapshot(nodes: &[NodeClient]) -> Snapshot {
    let mut out = Snapshot::new();
    for node in nodes {
        let (_, listing) = node
            .request_json(Method::GET, "/indexes", &[("limit", "10000".to_owned())], None)
            .await
            .unwrap_or_else(|e| panic!("listing the indexes of {}: {e}", node.node_id()));
        let mut indexes = BTreeMap::new();
        for index in listing["results"].as_array().expect("GET /indexes has results") {
            let uid = index["uid"].as_str().expect("an index uid").to_owned();
            let documents = node.all_documents(&uid, 1000).await.unwrap_or_else(|e| panic!("reading {uid} on {}: {e}", node.node_id()));
            let by_id = match index["primaryKey"].as_str() {
                Some(primary_key) => documents.into_iter().map(as_document).map(|d| (key_of(&d, primary_key), d)).collect(),
                None => {
                    assert!(documents.is_empty(), "{uid} on {} holds documents but has no primary key", node.node_id());
                    NodeIndexDocuments::new()
                }
            };
            indexes.insert(uid, by_id);
        }
        out.insert(node.node_id().to_owned(), indexes);
    }
    out
}

fn as_document(value: Value) -> Document {
    match value {
        Value::Object(map) => map,
        other => panic!("a node returned a document that is not an object: {other}"),
    }
}

/// The documents of `contents` that belong to `shard`.
fn shard_slice(placement: &Placement, contents: &Contents, shard: ShardId) -> NodeIndexDocuments {
    contents.iter().filter(|(id, _)| placement.shard_of(id) == shard).map(|(id, d)| (id.clone(), d.clone())).collect()
}

/// Describes how `actual` differs from `expected` (empty when equal).
fn describe_difference(place: &str, actual: &NodeIndexDocuments, expected: &NodeIndexDocuments) -> Option<String> {
    if actual == expected {
        return None;
    }
    let sample = |ids: Vec<&String>| ids.into_iter().take(5).cloned().collect::<Vec<_>>();
    let missing: Vec<&String> = expected.keys().filter(|id| !actual.contains_key(*id)).collect();
    let extra: Vec<&String> = actual.keys().filter(|id| !expected.contains_key(*id)).collect();
    let changed: Vec<&String> = expected.iter().filter(|(id, d)| actual.get(*id).is_some_and(|a| a != *d)).map(|(id, _)| id).collect();
    let first_change =
        changed.first().map(|id| format!("; e.g. `{id}` is {:?}, expected {:?}", actual[*id], expected[*id])).unwrap_or_default();
    Some(format!(
        "{place}: holds {} documents, expected {}; {} missing {:?}, {} unexpected {:?}, {} different {:?}{first_change}",
        actual.len(),
        expected.len(),
        missing.len(),
        sample(missing.clone()),
        extra.len(),
        sample(extra.clone()),
        changed.len(),
        sample(changed.clone()),
    ))
}

/// The node indexes of `index` on a node of the snapshot: rank → documents.
fn node_indexes_of<'s>(
    snapshot: &'s Snapshot,
    node: &str,
    index: &'s str,
) -> impl Iterator<Item = (ReplicaRank, &'s NodeIndexDocuments)> + 's {
    snapshot.get(node).into_iter().flatten().filter_map(move |(uid, documents)| match parse_node_index_uid(uid) {
        Some((of, rank)) if of == index => Some((rank, documents)),
        _ => None,
    })
}

/// The documents of `shard` of `index` on `node`, their shard field checked and removed, and
/// the ranks of the node indexes they were found in.
fn shard_documents(snapshot: &Snapshot, node: &str, index: &str, shard: ShardId) -> (NodeIndexDocuments, BTreeSet<ReplicaRank>) {
    let mut found = NodeIndexDocuments::new();
    let mut ranks = BTreeSet::new();
    for (rank, documents) in node_indexes_of(snapshot, node, index) {
        for (id, document) in documents {
            let value = document.get(SHARD_FIELD).and_then(Value::as_str);
            if value.and_then(ShardId::from_field_value) == Some(shard) {
                let mut document = document.clone();
                document.remove(SHARD_FIELD);
                found.insert(id.clone(), document);
                ranks.insert(rank);
            }
        }
    }
    (found, ranks)
}

/// Every way the nodes of `snapshot` differ from `contents` of `index` placed by `placement`:
/// each document on exactly the replicas of its HRW shard, in the node index of the replica's
/// rank, identical there, and on no other node; every document carries a shard field naming a
/// shard. Nodes missing from the snapshot are not checked.
pub fn placement_differences(snapshot: &Snapshot, placement: &Placement, index: &str, contents: &Contents) -> Vec<String> {
    let empty = NodeIndexDocuments::new();
    let mut differences = Vec::new();
    let checked = || placement.topology().nodes.iter().filter(|n| snapshot.contains_key(&n.id));
    for node in checked() {
        for (rank, documents) in node_indexes_of(snapshot, &node.id, index) {
            let unmarked =
                documents.values().filter(|d| d.get(SHARD_FIELD).and_then(Value::as_str).and_then(ShardId::from_field_value).is_none());
            if let Some(document) = unmarked.into_iter().next() {
                differences.push(format!(
                    "{} {}: a document without a valid shard field: {document:?}",
                    node.id,
                    node_index_uid(index, rank)
                ));
            }
        }
    }
    for shard in placement.shards() {
        let expected = shard_slice(placement, contents, shard);
        for node in checked() {
            let (actual, ranks) = shard_documents(snapshot, &node.id, index, shard);
            let rank = placement.rank_of(shard, &node.id);
            let wanted = if rank.is_some() { &expected } else { &empty };
            let place = format!("{} {shard} of {index}", node.id);
            differences.extend(describe_difference(&place, &actual, wanted));
            if ranks.iter().any(|r| Some(*r) != rank) {
                differences.push(format!("{place}: found in the node indexes of ranks {ranks:?}, placed at {rank:?}"));
            }
        }
    }
    differences
}

/// Per node: (documents of `index` it holds, documents placement gives it).
pub fn node_counts(snapshot: &Snapshot, placement: &Placement, index: &str, contents: &Contents) -> BTreeMap<String, (usize, usize)> {
    let mut counts = BTreeMap::new();
    for node in &placement.topology().nodes {
        let held: usize = node_indexes_of(snapshot, &node.id, index).map(|(_, documents)| documents.len()).sum();
        let placed: usize = placement.shards_of_node(&node.id).into_iter().map(|shard| shard_slice(placement, contents, shard).len()).sum();
        counts.insert(node.id.clone(), (held, placed));
    }
    counts
}

/// Asserts the nodes hold exactly `contents` for `index`, placed as `placement` says.
pub async fn assert_placed(nodes: &[NodeClient], placement: &Placement, index: &str, contents: &Contents) {
    let snapshot = snapshot(nodes).await;
    let counts = node_counts(&snapshot, placement, index, contents);
    let differences = placement_differences(&snapshot, placement, index, contents);
    assert!(
        differences.is_empty(),
        "index `{index}` ({} documents written) is not placed as HRW says (node: held/placed {counts:?}):\n{}",
        contents.len(),
        differences.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    for (node, (held, placed)) in &counts {
        assert_eq!(held, placed, "{node} holds {held} documents of `{index}`, placement gives it {placed}");
    }
    let copies: usize = counts.values().map(|(held, _)| held).sum();
    let rf = placement.topology().replication_factor as usize * placement.replica_groups().len();
    assert_eq!(copies, contents.len() * rf, "every document must be stored exactly {rf} times");
}

/// Meilisearch's `PUT /documents` merge: top-level fields of `update` replace the stored ones,
/// the others are kept; an unknown id is added as is.
pub fn merge_update(contents: &mut Contents, id: &str, update: &Document) {
    let stored = contents.entry(id.to_owned()).or_default();
    for (field, value) in update {
        stored.insert(field.clone(), value.clone());
    }
}

/// Polls the nodes `nodes` until they hold `contents` of `index` as placed (other nodes are not
/// read: one may be paused). `bound` only turns a hang into a failure.
pub async fn wait_until_placed_on(
    nodes: &[NodeClient],
    placement: &Placement,
    index: &str,
    contents: &Contents,
    bound: std::time::Duration,
) {
    let nodes_named: Vec<&str> = nodes.iter().map(NodeClient::node_id).collect();
    let deadline = Deadline::after(bound).polling_every(std::time::Duration::from_millis(200));
    wait_until(deadline, format!("the nodes {nodes_named:?} did not reach the written contents"), async || {
        let differences = placement_differences(&snapshot(nodes).await, placement, index, contents);
        Ok(match differences.is_empty() {
            true => Progress::Done(()),
            false => Progress::Waiting(differences.iter().take(10).cloned().collect::<Vec<_>>().join("\n")),
        })
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
}

//! The indexer's half of an online topology change (docs/topology.md; the protocol and its
//! fold are `miroir_schemas::meta_log::topology_changes`). The owner of an `ops` partition
//! meets the change's barriers in that partition's log order:
//! * at a copy barrier (position `H`), every operation before it has reached every replica, so
//!   each new replica of the partition's indexes is filled from an old one that is not lagging
//!   (its settings, then its shard's documents, paged), stamped with checkpoint `H`; then
//!   `shardsCopied` goes to `meta`, and operations after `H` reach old and new holders;
//! * once every partition is copied (reads have switched) and a grace period has passed, the
//!   owner appends a release barrier (position `K`); there the replicas that moved away are
//!   deleted (a node index left with no shard is deleted whole), and `shardsReleased` follows.
//!
//! Both steps are idempotent (documents are replaced, deletions repeat harmlessly), so an
//! owner that dies mid-step leaves the barrier to the next owner, which runs it again.

use crate::catch_up::Board;
use crate::checkpoint::Marker;
use crate::request::PositionedOp;
use crate::worker::Shared;
use bytes::Bytes;
use miroir_clients::log::{key_for_partition, partition_for_key, LogError, Topic};
use miroir_clients::node::{DocumentsMethod, NodeClient, NodeClientConfig, NodeError, TaskStatus, TaskView, WriteParams};
use miroir_schemas::envelope::{encode, ops_key, Op, OpEnvelope};
use miroir_schemas::meta_log::topology_changes::{Holder, ShardCopy, TopologyBook, TopologyChange};
use miroir_schemas::node_layout::{layout_node_index_uid, narrowed_to_shards, parse_node_index_uid, ReplicaRank};
use miroir_schemas::topology::ShardId;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Documents per page when copying a shard.
const COPY_PAGE: usize = 1000;
/// How long one node task of a copy or release may take.
const NODE_TASK_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("node {node}: {source}")]
    Node {
        node: String,
        #[source]
        source: NodeError,
    },
    #[error("node {node}: task {task_uid} ended {status:?}: {error}")]
    NodeTask { node: String, task_uid: u64, status: TaskStatus, error: String },
    #[error("no replica of shard {shard} of `{index}` has every operation up to the barrier (all lag)")]
    NoSource { index: String, shard: ShardId },
    #[error("replica {0} lags behind the log; waiting for it to catch up before moving its shards")]
    Lagging(String),
    #[error("topology version {0} is not folded yet")]
    NotFolded(u64),
    #[error("node {0} is in no topology")]
    UnknownNode(String),
    #[error("log: {0}")]
    Log(#[from] LogError),
}

pub(crate) fn node_error(node: &str) -> impl FnOnce(NodeError) -> MoveError + '_ {
    move |source| MoveError::Node { node: node.to_owned(), source }
}

/// A client for `node` (any node any topology named), for the copy's reads and writes.
pub(crate) fn client(book: &TopologyBook, node: &str) -> Result<NodeClient, MoveError> {
    let spec = book.node(node).ok_or_else(|| MoveError::UnknownNode(node.to_owned()))?;
    NodeClient::new(NodeClientConfig::new(spec.id.clone(), spec.url.clone(), spec.api_key.clone())).map_err(node_error(node))
}

pub(crate) async fn wait_ok(client: &NodeClient, task_uid: u64) -> Result<TaskView, MoveError> {
    let node = client.node_id().to_owned();
    let task = client.wait_for_task(task_uid, Duration::from_millis(200), NODE_TASK_TIMEOUT).await.map_err(node_error(&node))?;
    if task.status != TaskStatus::Succeeded {
        let error = task.error.as_ref().map(|e| e.message.clone()).unwrap_or_default();
        return Err(MoveError::NodeTask { node, task_uid, status: task.status, error });
    }
    Ok(task)
}

/// The node indexes on `node`, as `(index uid, rank)`.
async fn node_indexes(client: &NodeClient) -> Result<Vec<(String, ReplicaRank)>, MoveError> {
    let mut found = Vec::new();
    let mut offset = 0;
    loop {
        let query = [("limit", "1000".to_owned()), ("offset", offset.to_string())];
        let (_, page) = client.request_json(Method::GET, "/indexes", &query, None).await.map_err(node_error(client.node_id()))?;
        let results = page.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
        for result in &results {
            if let Some((index, rank)) = result.get("uid").and_then(Value::as_str).and_then(parse_node_index_uid) {
                found.push((index.to_owned(), rank));
            }
        }
        offset += results.len();
        let total = page.get("total").and_then(Value::as_u64).unwrap_or(0) as usize;
        if results.is_empty() || offset >= total {
            return Ok(found);
        }
    }
}

/// The indexes of `partition` that the nodes of `nodes` that answer hold: what a barrier must
/// move. A node that does not answer is passed over (removing a dead node is the common case;
/// at RF ≥ 2 its indexes are on other nodes too); none answering is an error.
pub(crate) async fn indexes_of_partition(
    book: &TopologyBook,
    nodes: &BTreeSet<String>,
    partition: u32,
) -> Result<BTreeSet<String>, MoveError> {
    let mut indexes = BTreeSet::new();
    let mut last_error = None;
    let mut answered = false;
    for node in nodes {
        match node_indexes(&client(book, node)?).await {
            Ok(found) => {
                answered = true;
                let ours = found.into_iter().filter(|(index, _)| partition_for_key(&ops_key(index), book.partitions()) == partition);
                indexes.extend(ours.map(|(index, _)| index));
            }
            Err(error) => {
                tracing::warn!(node, %error, "a node did not list its indexes for a topology barrier; passed over");
                last_error = Some(error);
            }
        }
    }
    match (answered, last_error) {
        (false, Some(error)) => Err(error),
        _ => Ok(indexes),
    }
}

/// The node index's primary key, or `None` when the node index does not exist.
pub(crate) async fn node_index_primary_key(client: &NodeClient, node_index: &str) -> Result<Option<Option<String>>, MoveError> {
    let path = format!("/indexes/{node_index}");
    match client.request_json(Method::GET, &path, &[], None).await {
        Ok((_, info)) => Ok(Some(info.get("primaryKey").and_then(Value::as_str).map(str::to_owned))),
        Err(NodeError::Meilisearch { error, .. }) if error.code == "index_not_found" => Ok(None),
        Err(e) => Err(node_error(client.node_id())(e)),
    }
}

/// Makes node index `uid` on `to` exist with `primary_key` and `settings` (a source's, which
/// carry Miroir's filterable rule).
pub(crate) async fn create_like(to: &NodeClient, uid: &str, primary_key: Option<&str>, settings: &Value) -> Result<(), MoveError> {
    let node = to.node_id().to_owned();
    if node_index_primary_key(to, uid).await?.is_none() {
        let task = to.create_index(uid, primary_key).await.map_err(node_error(&node))?;
        let created = to.wait_for_task(task.task_uid, Duration::from_millis(100), NODE_TASK_TIMEOUT).await.map_err(node_error(&node))?;
        let raced = created.error.as_ref().is_some_and(|e| e.code == "index_already_exists");
        if created.status != TaskStatus::Succeeded && !raced {
            let error = format!("{:?}", created.error);
            return Err(MoveError::NodeTask { node, task_uid: task.task_uid, status: created.status, error });
        }
    }
    let task = to.update_settings(uid, settings).await.map_err(node_error(&node))?;
    wait_ok(to, task.task_uid).await?;
    Ok(())
}

/// Deletes node index `uid` on `client` when it exists.
pub(crate) async fn delete_node_index(client: &NodeClient, uid: &str) -> Result<(), MoveError> {
    if node_index_primary_key(client, uid).await?.is_none() {
        return Ok(());
    }
    let task = client.delete_index(uid).await.map_err(node_error(client.node_id()))?;
    let deleted =
        client.wait_for_task(task.task_uid, Duration::from_millis(100), NODE_TASK_TIMEOUT).await.map_err(node_error(client.node_id()))?;
    let raced = deleted.error.as_ref().is_some_and(|e| e.code == "index_not_found");
    if deleted.status != TaskStatus::Succeeded && !raced {
        let error = format!("{:?}", deleted.error);
        return Err(MoveError::NodeTask { node: client.node_id().to_owned(), task_uid: task.task_uid, status: deleted.status, error });
    }
    Ok(())
}

/// Fills `copy` for `index` from the first of its sources that is not lagging and has the
/// index; the target ends with the source's settings and every document of the shard, and its
/// checkpoint at the barrier.
pub(crate) async fn copy_replica(
    book: &TopologyBook,
    index: &str,
    layout: Option<u32>,
    copy: &ShardCopy,
    lagging: &BTreeSet<String>,
    marker: &str,
) -> Result<u64, MoveError> {
    let mut source = None;
    let mut unreachable = 0;
    for (node, rank) in copy.from.iter().filter(|(node, _)| !lagging.contains(node)) {
        let client = client(book, node)?;
        let uid = layout_node_index_uid(index, layout, *rank);
        // A holder that does not answer (a dead node being removed) is passed over.
        match node_index_primary_key(&client, &uid).await {
            Ok(Some(primary_key)) => {
                source = Some((client, uid, primary_key));
                break;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(node, %error, "a copy source did not answer; trying another");
                unreachable += 1;
            }
        }
    }
    let Some((from, from_uid, primary_key)) = source else {
        // No old holder has the index at all: nothing of it reached this shard yet.
        if unreachable == 0 && copy.from.iter().all(|(node, _)| !lagging.contains(node)) {
            return Ok(0);
        }
        return Err(MoveError::NoSource { index: index.to_owned(), shard: copy.shard });
    };
    let (to_node, to_rank) = &copy.to;
    let to = client(book, to_node)?;
    let to_uid = layout_node_index_uid(index, layout, *to_rank);
    // The source's settings carry Miroir's filterable rule already.
    let settings = from.get_settings(&from_uid).await.map_err(node_error(from.node_id()))?;
    create_like(&to, &to_uid, primary_key.as_deref(), &settings).await?;
    let params = WriteParams { primary_key: primary_key.clone(), custom_metadata: Some(marker.to_owned()) };
    let filter = narrowed_to_shards(&Value::Null, &[copy.shard]);
    // Embeddings travel with their documents (`{"embeddings", "regenerate"}` per embedder, which
    // a write takes back as it is), so the target computes none again.
    let with_vectors = settings.get("embedders").and_then(Value::as_object).is_some_and(|e| !e.is_empty());
    let mut copied = 0u64;
    let mut offset = 0;
    loop {
        // Nothing writes to the source's shard meanwhile: this partition's operations wait
        // behind the barrier, and no other partition holds this index.
        let query = json!({ "filter": filter, "offset": offset, "limit": COPY_PAGE, "retrieveVectors": with_vectors });
        let page = from.fetch_documents(&from_uid, &query).await.map_err(node_error(from.node_id()))?;
        let documents = page.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
        if documents.is_empty() {
            break;
        }
        let mut ndjson = Vec::new();
        for document in &documents {
            serde_json::to_writer(&mut ndjson, document).expect("a JSON value serializes");
            ndjson.push(b'\n');
        }
        let task =
            to.add_documents_ndjson(&to_uid, DocumentsMethod::Replace, Bytes::from(ndjson), &params).await.map_err(node_error(to_node))?;
        wait_ok(&to, task.task_uid).await?;
        copied += documents.len() as u64;
        offset += documents.len();
        if documents.len() < COPY_PAGE {
            break;
        }
    }
    // The checkpoint, even when the shard had no document.
    let task = to.delete_documents_by_ids(&to_uid, &[], &params).await.map_err(node_error(to_node))?;
    wait_ok(&to, task.task_uid).await?;
    Ok(copied)
}

/// Deletes what moved away from `holder` for `index`: the node index whole when it keeps no
/// shard, else the released shards' documents.
async fn release_replica(
    book: &TopologyBook,
    version: u64,
    index: &str,
    layout: Option<u32>,
    holder: &Holder,
    shards: &[ShardId],
    marker: &str,
) -> Result<(), MoveError> {
    let (node, rank) = holder;
    let client = client(book, node)?;
    let uid = layout_node_index_uid(index, layout, *rank);
    if node_index_primary_key(&client, &uid).await?.is_none() {
        return Ok(());
    }
    // The version released is the newest: its placement of this layout.
    let keeps = book.epoch(version).is_some() && !book.newest_placement(layout).shards_of_node_at(node, *rank).is_empty();
    let task = if keeps {
        let params = WriteParams { primary_key: None, custom_metadata: Some(marker.to_owned()) };
        client.delete_documents_by_filter(&uid, &narrowed_to_shards(&Value::Null, shards), &params).await
    } else {
        client.delete_index(&uid).await
    }
    .map_err(node_error(node))?;
    wait_ok(&client, task.task_uid).await?;
    Ok(())
}

/// Runs the barrier `op` of `partition` once. `Err` when something must be waited for (a
/// lagging replica, an unreachable node): the caller retries, holding the partition.
pub async fn run_barrier(shared: &Shared, partition: u32, op: &PositionedOp, board: &Board) -> Result<(), MoveError> {
    let (version, copying) = match op.envelope.op {
        Op::CopyShards { version } => (version, true),
        Op::ReleaseShards { version } => (version, false),
        Op::Reshard { .. } => return crate::reshard::run_reshard(shared, partition, op, board).await,
        _ => return Ok(()),
    };
    let book = shared.cancels.topology();
    let Some(epoch) = book.epoch(version) else {
        // Proposals are appended before their barriers: one not folded yet is on its way.
        return Err(MoveError::NotFolded(version));
    };
    let done = if copying { epoch.copied.contains_key(&partition) } else { epoch.released.contains_key(&partition) };
    if done {
        return Ok(());
    }
    if !copying && epoch.copied.len() < book.partitions() as usize {
        // A release barrier before the switch was not appended by an indexer; ignore it.
        tracing::warn!(partition, version, "release barrier before the switch ignored");
        return Ok(());
    }
    let lagging: BTreeSet<String> = board.lock().expect("lag board lock").lagging.keys().cloned().collect();
    let previous = book.previous(version).cloned().expect("a proposed epoch has a previous one");
    let old_nodes: BTreeSet<String> = previous.topology().nodes.iter().map(|n| n.id.clone()).collect();
    let indexes = indexes_of_partition(&book, &old_nodes, partition).await?;
    let marker = Marker::single(partition, op.position).encode();
    if copying {
        // Every node index a copy of any layout fills must be caught up.
        let targets = indexes.iter().flat_map(|index| book.copies(version, book.layouts().layout(index))).map(|c| c.to.0);
        if let Some(busy) = targets.into_iter().find(|node| lagging.contains(node)) {
            return Err(MoveError::Lagging(busy));
        }
        let mut documents = 0;
        let mut replicas = 0;
        for index in &indexes {
            // Each index moves the shards of its own layout.
            let layout = book.layouts().layout(index);
            let copies = book.copies(version, layout);
            replicas += copies.len();
            for copy in &copies {
                documents += copy_replica(&book, index, layout, copy, &lagging, &marker).await?;
            }
        }
        tracing::info!(partition, version, indexes = indexes.len(), replicas, documents, "shard replicas copied");
        metrics::counter!("miroir_indexer_moved_documents_total").increment(documents);
        record(shared, TopologyChange::ShardsCopied { version, partition, position: op.position }).await?;
    } else {
        let mut by_holder: BTreeMap<(Option<u32>, Holder), Vec<ShardId>> = BTreeMap::new();
        let layouts: BTreeSet<Option<u32>> = indexes.iter().map(|index| book.layouts().layout(index)).collect();
        for &layout in &layouts {
            for (shard, holder) in book.releases(version, layout) {
                by_holder.entry((layout, holder)).or_default().push(shard);
            }
        }
        for ((layout, holder), shards) in &by_holder {
            if lagging.contains(&holder.0) {
                return Err(MoveError::Lagging(holder.0.clone()));
            }
            for index in indexes.iter().filter(|index| book.layouts().layout(index) == *layout) {
                release_replica(&book, version, index, *layout, holder, shards, &marker).await?;
            }
        }
        tracing::info!(partition, version, indexes = indexes.len(), replicas = by_holder.len(), "moved-away replicas released");
        record(shared, TopologyChange::ShardsReleased { version, partition, position: op.position }).await?;
    }
    Ok(())
}

/// Appends a barrier outcome to `meta` and waits until this process's fold has it, so the
/// operations after the barrier are routed by it.
pub(crate) async fn record(shared: &Shared, change: TopologyChange) -> Result<(), MoveError> {
    let dedup_id = match &change {
        TopologyChange::ShardsCopied { version, partition, .. } => format!("copied:{version}:{partition}"),
        TopologyChange::ShardsReleased { version, partition, .. } => format!("released:{version}:{partition}"),
        TopologyChange::TopologyProposed { topology, .. } => format!("proposed:{}", topology.version),
        TopologyChange::ReshardProposed { index, shards, at } => format!("reshard:{index}:{shards}:{}", at.unix_timestamp_nanos()),
        TopologyChange::ReshardSwitched { index, shards, position } => format!("reshard-switched:{index}:{shards}:{position}"),
        TopologyChange::ReshardAborted { index, shards, position, .. } => format!("reshard-aborted:{index}:{shards}:{position}"),
        TopologyChange::ReshardReleased { index, shards, position } => format!("reshard-released:{index}:{shards}:{position}"),
    };
    shared.cancels.append_and_fold(change, "topology", &dedup_id).await?;
    Ok(())
}

/// Appends the release barrier of a switched move to `partition`, once its grace has passed.
pub async fn append_release_barrier(shared: &Shared, partition: u32, version: u64) -> Result<(), LogError> {
    let envelope = OpEnvelope::topology_barrier(Op::ReleaseShards { version });
    let key = key_for_partition(partition, shared.log.config().ops_partitions);
    let dedup_id = format!("release:{version}:{partition}");
    let position = shared.log.append(Topic::Ops, &key, &dedup_id, Bytes::from(encode(&envelope))).await?;
    tracing::info!(partition, version, position = position.offset, "release barrier appended");
    Ok(())
}

//! The indexer's half of a reshard (docs/resharding.md; the records and their fold are
//! `miroir_schemas::meta_log::topology_changes::reshards`). The owner of the index's `ops`
//! partition meets the reshard barrier (position `H`) in log order, so every operation of the
//! index before it is on every replica of the old layout and none after it is anywhere yet.
//! There, holding the partition (writes are accepted and wait in the log):
//! 1. **build**: the new layout's node indexes (`movies__s12-rank-r`) are created with the old
//!    layout's primary key and settings, and every document of the old layout is read (one
//!    replica per old shard, with its embeddings), given its shard in the new layout, and
//!    written to every replica of that shard, stamped with checkpoint `H`;
//! 2. **verify**: every replica of every new shard is read back (ids only) and its count and
//!    digest of ids compared with what the old layout held for that shard. A mismatch gives the
//!    reshard up (`reshardAborted`, new node indexes deleted, the index keeps its layout);
//! 3. **switch**: `reshardSwitched{H}` — reads use the new layout as each process folds it, and
//!    operations after `H` are applied in the new layout (routed again when a gateway routed them
//!    by the old one, [`crate::reroute`]). Both layouts hold the same documents at this point;
//! 4. **release**, after the release grace (gateways that have not folded the switch still read
//!    the old layout, which is still complete): the old layout's node indexes are deleted, then
//!    `reshardReleased`. Only then do the operations after `H` run.
//!
//! Every step is idempotent: an owner that dies mid-way leaves the barrier to the next owner,
//! which builds again from scratch (the book still says *building*) or goes on to the release.

use crate::catch_up::Board;
use crate::checkpoint::Marker;
use crate::moves::{client, create_like, delete_node_index, node_error, node_index_primary_key, record, wait_ok, MoveError};
use crate::request::PositionedOp;
use crate::worker::Shared;
use bytes::Bytes;
use miroir_clients::node::{DocumentsMethod, NodeClient, WriteParams};
use miroir_schemas::document_id::document_id;
use miroir_schemas::envelope::Op;
use miroir_schemas::meta_log::topology_changes::{Reshard, ReshardPhase, TopologyBook, TopologyChange};
use miroir_schemas::node_layout::{layout_node_index_uid, narrowed_to_shards, ReplicaRank, SHARD_FIELD};
use miroir_schemas::placement::{hrw_hash, Placement};
use miroir_schemas::topology::ShardId;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Documents per page read from the old layout, and per request written to the new one.
const PAGE: usize = 1000;

mod tally;
pub use tally::{mismatches, Tally};

/// Runs the reshard barrier `op` of `partition` once. `Err` when something must be waited for
/// (a lagging replica, an unreachable node): the caller retries, holding the partition.
pub async fn run_reshard(shared: &Shared, partition: u32, op: &PositionedOp, board: &Board) -> Result<(), MoveError> {
    let (Op::Reshard { shards }, Some(index)) = (&op.envelope.op, &op.envelope.index_uid) else { return Ok(()) };
    // The proposal is stored before its barrier is appended: fold `meta` that far first.
    shared.cancels.caught_up().await?;
    let book = shared.cancels.topology();
    let Some(reshard) = book.layouts().reshard().filter(|r| r.index == *index && r.to == *shards).cloned() else {
        tracing::info!(
            partition,
            index,
            shards,
            position = op.position,
            "a reshard barrier with no such reshard in progress (done or given up): passed"
        );
        return Ok(());
    };
    let marker = Marker::single(partition, op.position).encode();
    match reshard.phase {
        ReshardPhase::Building => {
            let lagging: BTreeSet<String> = board.lock().expect("lag board lock").lagging.keys().cloned().collect();
            if let Some(node) = nodes(&book).into_iter().find(|node| lagging.contains(node)) {
                return Err(MoveError::Lagging(node));
            }
            match build(&book, &reshard, &lagging, &marker).await? {
                Ok(copied) => {
                    tracing::info!(partition, index, from = ?reshard.from, to = shards, copied, "reshard built and verified; switching");
                    record(shared, TopologyChange::ReshardSwitched { index: index.clone(), shards: *shards, position: op.position })
                        .await?;
                }
                Err(reason) => {
                    tracing::error!(partition, index, to = shards, %reason, "reshard did not verify; given up, the index keeps its layout");
                    drop_layout(&book, index, Some(*shards)).await?;
                    let change = TopologyChange::ReshardAborted { index: index.clone(), shards: *shards, position: op.position, reason };
                    record(shared, change).await?;
                    return Ok(());
                }
            }
        }
        ReshardPhase::Switched { position } if position == op.position => {}
        // Another barrier of the same reshard (a retried append stored twice).
        ReshardPhase::Switched { .. } => return Ok(()),
    }
    // Gateways that have not folded the switch yet still read the old layout, complete up to
    // this barrier: it is kept while nothing after the barrier is applied.
    tokio::time::sleep(shared.settings.release_grace).await;
    drop_layout(&book, index, reshard.from).await?;
    tracing::info!(partition, index, from = ?reshard.from, to = shards, "old layout released; reshard complete");
    record(shared, TopologyChange::ReshardReleased { index: index.clone(), shards: *shards, position: op.position }).await?;
    Ok(())
}

/// Every node of the newest topology.
fn nodes(book: &TopologyBook) -> Vec<String> {
    book.newest().placement.topology().nodes.iter().map(|n| n.id.clone()).collect()
}

/// Deletes every node index of `index` in `layout`, on every node of the newest topology.
async fn drop_layout(book: &TopologyBook, index: &str, layout: Option<u32>) -> Result<(), MoveError> {
    let replication = book.newest().placement.topology().replication_factor;
    for node in nodes(book) {
        let client = client(book, &node)?;
        for rank in (0..replication).map(ReplicaRank) {
            delete_node_index(&client, &layout_node_index_uid(index, layout, rank)).await?;
        }
    }
    Ok(())
}

/// A replica of the old layout to read `shard` from: the first holder that is not lagging and
/// has the node index. `None` when no holder has it (nothing of the index reached the shard).
async fn source_of(
    book: &TopologyBook,
    placement: &Placement,
    reshard: &Reshard,
    shard: ShardId,
    lagging: &BTreeSet<String>,
) -> Result<Option<(NodeClient, String, Option<String>)>, MoveError> {
    let mut last_error = None;
    for node in placement.replicas(shard).into_iter().filter(|n| !lagging.contains(&n.id)) {
        let Some(rank) = placement.rank_of(shard, &node.id) else { continue };
        let client = client(book, &node.id)?;
        let uid = layout_node_index_uid(&reshard.index, reshard.from, rank);
        match node_index_primary_key(&client, &uid).await {
            Ok(Some(primary_key)) => return Ok(Some((client, uid, primary_key))),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(node = %node.id, %error, "a reshard source did not answer; trying another");
                last_error = Some(error);
            }
        }
    }
    last_error.map_or(Ok(None), Err)
}

/// Builds and verifies the new layout: `Ok(Ok(documents copied))`, or `Ok(Err(why))` when it
/// does not verify.
async fn build(book: &TopologyBook, reshard: &Reshard, lagging: &BTreeSet<String>, marker: &str) -> Result<Result<u64, String>, MoveError> {
    let index = &reshard.index;
    let old = book.newest_placement(reshard.from).clone();
    let new = book.newest_placement(Some(reshard.to)).clone();
    // What an interrupted build left behind goes first.
    drop_layout(book, index, Some(reshard.to)).await?;
    let mut sources = BTreeMap::new();
    for shard in old.shards() {
        if let Some(source) = source_of(book, &old, reshard, shard, lagging).await? {
            sources.insert(shard, source);
        }
    }
    let Some((first, first_uid, primary_key)) = sources.values().next() else {
        // The index has no node index anywhere: nothing to copy; its creation will come in the
        // new layout.
        return Ok(Ok(0));
    };
    let settings = first.get_settings(first_uid).await.map_err(node_error(first.node_id()))?;
    let with_vectors = settings.get("embedders").and_then(Value::as_object).is_some_and(|e| !e.is_empty());
    let mut targets: BTreeMap<(String, ReplicaRank), Target> = BTreeMap::new();
    for node in &new.topology().nodes {
        for rank in (0..new.topology().replication_factor).map(ReplicaRank) {
            if new.shards_of_node_at(&node.id, rank).is_empty() {
                continue;
            }
            let client = client(book, &node.id)?;
            let uid = layout_node_index_uid(index, Some(reshard.to), rank);
            create_like(&client, &uid, primary_key.as_deref(), &settings).await?;
            targets.insert((node.id.clone(), rank), Target { client, uid, buffer: Vec::new(), tasks: Vec::new() });
        }
    }
    let params = WriteParams { primary_key: primary_key.clone(), custom_metadata: Some(marker.to_owned()) };
    let mut expected: BTreeMap<ShardId, Tally> = BTreeMap::new();
    let mut copied = 0u64;
    for (shard, (from, from_uid, _)) in &sources {
        let filter = narrowed_to_shards(&Value::Null, &[*shard]);
        let mut offset = 0;
        loop {
            // Nothing writes to the old layout meanwhile: this partition waits at the barrier.
            let query = json!({ "filter": filter, "offset": offset, "limit": PAGE, "retrieveVectors": with_vectors });
            let page = from.fetch_documents(from_uid, &query).await.map_err(node_error(from.node_id()))?;
            let documents = page.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
            for document in &documents {
                let Value::Object(mut document) = document.clone() else { continue };
                let id = id_of(primary_key.as_deref(), &document);
                let to = new.shard_of(&id);
                expected.entry(to).or_default().add(&id);
                document.insert(SHARD_FIELD.into(), Value::String(to.field_value()));
                for holder in new.replicas(to) {
                    let rank = new.rank_of(to, &holder.id).expect("a holder has a rank");
                    let target = targets.get_mut(&(holder.id.clone(), rank)).expect("every holder's node index was created");
                    target.buffer.push(document.clone());
                    if target.buffer.len() >= PAGE {
                        target.flush(&params).await?;
                    }
                }
            }
            copied += documents.len() as u64;
            metrics::counter!("miroir_indexer_reshard_documents_total").increment(documents.len() as u64);
            offset += documents.len();
            if documents.len() < PAGE {
                break;
            }
        }
    }
    for target in targets.values_mut() {
        target.flush(&params).await?;
        // The checkpoint, even on a node index that got no document.
        let task = target.client.delete_documents_by_ids(&target.uid, &[], &params).await.map_err(node_error(target.client.node_id()))?;
        target.tasks.push(task.task_uid);
        for &task_uid in &target.tasks {
            wait_ok(&target.client, task_uid).await?;
        }
    }
    let mut found: Vec<(String, ShardId, Tally)> = Vec::new();
    for shard in new.shards() {
        for holder in new.replicas(shard) {
            let rank = new.rank_of(shard, &holder.id).expect("a holder has a rank");
            let target = &targets[&(holder.id.clone(), rank)];
            let tally = read_tally(&target.client, &target.uid, primary_key.as_deref(), shard).await?;
            found.push((holder.id.clone(), shard, tally));
        }
    }
    let problems = mismatches(&expected, &found);
    if problems.is_empty() {
        Ok(Ok(copied))
    } else {
        Ok(Err(problems.join("; ")))
    }
}

/// A document's id as routing reads it (the primary key's value; integers in decimal).
fn id_of(primary_key: Option<&str>, document: &Map<String, Value>) -> String {
    primary_key.and_then(|key| document_id(key, document).ok()).unwrap_or_default()
}

/// The count and digest of the ids `shard` holds in node index `uid`.
async fn read_tally(client: &NodeClient, uid: &str, primary_key: Option<&str>, shard: ShardId) -> Result<Tally, MoveError> {
    let filter = narrowed_to_shards(&Value::Null, &[shard]);
    let fields: Vec<&str> = primary_key.into_iter().collect();
    let mut tally = Tally::default();
    let mut offset = 0;
    loop {
        let query = json!({ "filter": filter, "offset": offset, "limit": PAGE, "fields": fields });
        let page = client.fetch_documents(uid, &query).await.map_err(node_error(client.node_id()))?;
        let documents = page.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
        for document in documents.iter().filter_map(Value::as_object) {
            tally.add(&id_of(primary_key, document));
        }
        offset += documents.len();
        if documents.len() < PAGE {
            return Ok(tally);
        }
    }
}

/// A node index of the new layout being filled: documents waiting to be sent, tasks sent.
struct Target {
    client: NodeClient,
    uid: String,
    buffer: Vec<Map<String, Value>>,
    tasks: Vec<u64>,
}

impl Target {
    /// Sends the buffered documents (the node queues them; they are waited for at the end).
    async fn flush(&mut self, params: &WriteParams) -> Result<(), MoveError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut ndjson = Vec::new();
        for document in self.buffer.drain(..) {
            serde_json::to_writer(&mut ndjson, &document).expect("a JSON object serializes");
            ndjson.push(b'\n');
        }
        let task = self
            .client
            .add_documents_ndjson(&self.uid, DocumentsMethod::Replace, Bytes::from(ndjson), params)
            .await
            .map_err(node_error(self.client.node_id()))?;
        self.tasks.push(task.task_uid);
        Ok(())
    }
}

/// The digest of one id (order-free: digests of a set are summed).
fn id_digest(id: &str) -> u64 {
    hrw_hash("miroir-reshard-digest", id)
}

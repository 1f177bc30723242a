//! From `ops` records to node requests (pure): which operations may share a request, and what
//! request a batch becomes on a node index that holds several shards of one replica rank
//! (documents carry their shard in [`SHARD_FIELD`], deletions by filter and clears are narrowed
//! to the operation's shard, and every settings change keeps Miroir's filterable rule first).

use crate::batch::Batchable;
use bytes::Bytes;
use miroir_schemas::envelope::{DocumentMethod, Op, OpEnvelope};
use miroir_schemas::node_layout::edit_function::node_function;
use miroir_schemas::node_layout::{layout_node_index_uid, narrowed_to_shards, with_shard_rule, ReplicaRank, SHARD_FIELD};
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};

/// One `ops` record with where it sits in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionedOp {
    pub partition: u32,
    pub position: u64,
    /// Size of the record as stored, used to bound merged requests.
    pub bytes: usize,
    pub envelope: OpEnvelope,
    /// A piece of an operation routed by another layout of its index than the one it is applied
    /// in ([`crate::reroute`]): applied like any operation, reported through its source.
    pub piece: bool,
}

impl PositionedOp {
    pub fn shard(&self) -> ShardId {
        self.envelope.shard
    }

    /// The node indexes this operation touches on a replica holding its shard at `rank`: one,
    /// except for a swap, which touches both sides of every pair.
    pub fn node_indexes(&self, rank: ReplicaRank) -> Vec<String> {
        match (&self.envelope.op, &self.envelope.index_uid) {
            (Op::SwapIndexes { swaps }, _) => {
                swaps.iter().flat_map(|s| s.indexes.iter().map(|uid| self.node_index_uid(uid, rank))).collect()
            }
            (_, Some(index)) => vec![self.node_index_uid(index, rank)],
            (_, None) => Vec::new(),
        }
    }

    /// The node index of `index` at `rank` in the layout this operation is applied in.
    pub fn node_index_uid(&self, index: &str, rank: ReplicaRank) -> String {
        layout_node_index_uid(index, self.envelope.layout, rank)
    }

    /// Whether this operation creates its index: the only one that may reach a node index that
    /// holds no checkpoint of its partition yet.
    pub fn creates_its_index(&self) -> bool {
        matches!(self.envelope.op, Op::CreateIndex { .. })
    }

    /// A swap reorders the names other operations refer to, so it is applied on its own (one
    /// request for all the shards of its task), with every operation before it finished first.
    pub fn is_barrier(&self) -> bool {
        matches!(self.envelope.op, Op::SwapIndexes { .. }) || self.envelope.index_uid.is_none() || self.envelope.is_topology_barrier()
    }
}

/// Which operations one node request can carry together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeKey {
    /// Document additions with one method and one primary key, from any tasks.
    Documents(DocumentMethod, String),
    /// Deletions by id of one task and shard (its parts). Not merged across tasks or shards: the
    /// node reports one `deletedDocuments` per request, which could not be split between them.
    DeleteIds(u64, ShardId),
    /// The same index-level operation (creation, settings, deletion, swap…) of one task, one
    /// per shard the node index holds: the node index gets it once.
    SameForEveryShard(u64, std::mem::Discriminant<Op>),
}

impl Batchable for PositionedOp {
    type Key = MergeKey;

    fn batch_key(&self) -> Option<MergeKey> {
        match &self.envelope.op {
            Op::Documents { method, primary_key, .. } => Some(MergeKey::Documents(*method, primary_key.clone())),
            Op::DeleteDocuments { .. } => Some(MergeKey::DeleteIds(self.envelope.task_uid, self.envelope.shard)),
            // Narrowed to their own shard, so each shard's count is the node's.
            Op::DeleteByFilter { .. } | Op::ClearDocuments => None,
            op => Some(MergeKey::SameForEveryShard(self.envelope.task_uid, std::mem::discriminant(op))),
        }
    }

    fn bytes(&self) -> usize {
        self.bytes
    }

    fn items(&self) -> usize {
        match &self.envelope.op {
            Op::Documents { documents, .. } => documents.len(),
            Op::DeleteDocuments { ids } => ids.len(),
            _ => 1,
        }
    }
}

/// What one node request does, with its payload ready to send.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeRequest {
    Documents {
        method: DocumentMethod,
        primary_key: String,
        ndjson: Bytes,
        count: usize,
    },
    DeleteIds(Vec<Value>),
    DeleteByFilter(Value),
    /// `POST …/documents/edit`: the body, its function wrapped and its filter narrowed to the
    /// shards of the request.
    EditDocuments(Value),
    UpdateSettings(Map<String, Value>),
    ResetSettings,
    CreateIndex {
        primary_key: Option<String>,
    },
    UpdateIndex {
        primary_key: Option<String>,
        new_node_index: Option<String>,
    },
    DeleteIndex,
    /// `POST /indexes/{uid}/compact`.
    Compact,
    /// `(a, b, rename)` node index pairs.
    Swap(Vec<(String, String, bool)>),
}

impl NodeRequest {
    /// Only document routes take `customMetadata`; other requests are followed by an empty
    /// deletion that carries the checkpoint.
    pub fn carries_metadata(&self) -> bool {
        matches!(
            self,
            NodeRequest::Documents { .. } | NodeRequest::DeleteIds(_) | NodeRequest::DeleteByFilter(_) | NodeRequest::EditDocuments(_)
        )
    }
}

/// One NDJSON line: the document with its shard in [`SHARD_FIELD`], written last so the user's
/// fields keep their order.
fn write_with_shard(out: &mut Vec<u8>, document: &Map<String, Value>, shard: ShardId) {
    serde_json::to_writer(&mut *out, document).expect("a JSON object always serializes");
    out.pop(); // the closing brace
    if !document.is_empty() {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, SHARD_FIELD).expect("a string always serializes");
    out.push(b':');
    serde_json::to_writer(&mut *out, &shard.field_value()).expect("a string always serializes");
    out.extend_from_slice(b"}\n");
}

/// The request carrying `batch` (a range [`crate::batch::plan_batches`] produced, so its
/// operations share a merge key, or it holds one operation) to a node index of replica `rank`.
pub fn build_request(batch: &[PositionedOp], rank: ReplicaRank) -> NodeRequest {
    let first = &batch[0];
    let shard = first.envelope.shard;
    match &first.envelope.op {
        Op::Documents { method, primary_key, .. } => {
            let mut ndjson = Vec::new();
            let mut count = 0;
            for op in batch {
                let Op::Documents { documents, .. } = &op.envelope.op else { unreachable!("only documents share a documents batch") };
                for doc in documents {
                    write_with_shard(&mut ndjson, doc, op.envelope.shard);
                    count += 1;
                }
            }
            NodeRequest::Documents { method: *method, primary_key: primary_key.clone(), ndjson: ndjson.into(), count }
        }
        Op::DeleteDocuments { .. } => NodeRequest::DeleteIds(
            batch
                .iter()
                .flat_map(|op| match &op.envelope.op {
                    Op::DeleteDocuments { ids } => ids.iter().map(|id| Value::String(id.clone())),
                    _ => unreachable!("only deletions by id share a deletion batch"),
                })
                .collect(),
        ),
        Op::DeleteByFilter { filter } => NodeRequest::DeleteByFilter(narrowed_to_shards(filter, &[shard])),
        // The node index holds other shards too.
        Op::ClearDocuments => NodeRequest::DeleteByFilter(narrowed_to_shards(&Value::Null, &[shard])),
        // One task's edition of every shard this node index holds: once, narrowed to them.
        Op::EditDocuments { function, filter, context, wrapping } => {
            let shards: Vec<ShardId> = batch.iter().map(PositionedOp::shard).collect();
            let mut body = Map::new();
            body.insert("function".into(), Value::String(node_function(function, *wrapping)));
            body.insert("filter".into(), narrowed_to_shards(filter.as_ref().unwrap_or(&Value::Null), &shards));
            if let Some(context) = context {
                body.insert("context".into(), Value::Object(context.clone()));
            }
            NodeRequest::EditDocuments(Value::Object(body))
        }
        Op::UpdateSettings { settings } => {
            let mut settings = settings.clone();
            if let Some(user) = settings.get("filterableAttributes") {
                let rules = with_shard_rule(user);
                settings.insert("filterableAttributes".into(), rules);
            }
            NodeRequest::UpdateSettings(settings)
        }
        Op::ResetSettings => NodeRequest::ResetSettings,
        Op::CreateIndex { primary_key } => NodeRequest::CreateIndex { primary_key: primary_key.clone() },
        Op::UpdateIndex { primary_key, new_index_uid } => NodeRequest::UpdateIndex {
            primary_key: primary_key.clone(),
            new_node_index: new_index_uid.as_ref().map(|uid| first.node_index_uid(uid, rank)),
        },
        Op::DeleteIndex => NodeRequest::DeleteIndex,
        Op::CompactIndex => NodeRequest::Compact,
        Op::SwapIndexes { swaps } => NodeRequest::Swap(
            swaps
                .iter()
                .map(|s| (first.node_index_uid(&s.indexes[0], rank), first.node_index_uid(&s.indexes[1], rank), s.rename))
                .collect(),
        ),
        Op::CopyShards { .. } | Op::ReleaseShards { .. } | Op::Reshard { .. } => {
            unreachable!("the worker runs topology barriers itself (crate::moves)")
        }
    }
}

/// What must succeed or fail as a whole: one task's operations on one shard. Every replica of a
/// shard receives the same units, but a node index holds several shards and its requests merge
/// them, and which shards share a request differs from node to node; so a merged request that
/// fails is re-sent unit by unit ([`per_unit_runs`]), and every replica ends with the same
/// outcome per unit (one shard's invalid document never fails another shard on one node only).
fn unit(op: &PositionedOp) -> (u64, ShardId) {
    (op.envelope.task_uid, op.envelope.shard)
}

/// Whether a batch holds more than one unit (task × shard).
pub fn spans_several_units(batch: &[PositionedOp]) -> bool {
    batch.windows(2).any(|w| unit(&w[0]) != unit(&w[1]))
}

/// Splits a batch into runs of one unit (task × shard) each, as ranges relative to the batch.
pub fn per_unit_runs(batch: &[PositionedOp]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=batch.len() {
        if i == batch.len() || unit(&batch[i]) != unit(&batch[start]) {
            runs.push(start..i);
            start = i;
        }
    }
    runs
}

#[cfg(test)]
mod tests;

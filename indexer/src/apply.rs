//! Applying one node index's operations to one replica, one request at a time: each is waited
//! for before the next is sent. Meilisearch runs tasks that queue up on an index together
//! (autobatching), and such a batch fails whole when one document in it is invalid (watched on
//! the real 1.50 binary): two of Miroir's requests batched on one node but not on another would
//! fail together on one replica only, and the replicas would differ. Alone on the node's queue,
//! a request fails only for what it carries. A request that merged several units (Miroir task ×
//! shard) and fails is re-sent unit by unit, so one shard's bad document fails only that unit.

use crate::batch::{plan_batches, BatchLimits};
use crate::checkpoint::Marker;
use crate::replica::ReplicaNode;
use crate::request::{build_request, per_unit_runs, spans_several_units, NodeRequest, PositionedOp};
use miroir_clients::node::{NodeError, TaskStatus, TaskView};
use miroir_schemas::details::DetailCounts;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::node_layout::edit_function;
use miroir_schemas::node_layout::{shard_filter_rule, with_shard_rule, ReplicaRank};
use miroir_schemas::task_log::ReplicaStatus;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::ops::Range;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How one operation ended on one replica.
#[derive(Debug, Clone, PartialEq)]
pub struct OpOutcome {
    pub status: ReplicaStatus,
    pub error: Option<ResponseError>,
    pub counts: DetailCounts,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
}

/// The replica stopped answering: every operation from `from_index` (into the ops slice) on has
/// no known outcome and must be caught up later.
#[derive(Debug)]
pub struct Unavailable {
    pub from_index: usize,
    pub error: NodeError,
}

/// A request the node accepted (`Task`) or refused outright (`Refused`, nothing enqueued).
enum Sent {
    Task(u64),
    Refused(ResponseError),
}

/// Applies `ops` (one node index of replica rank `rank`, log order, already past the replica's
/// checkpoint) to `node`. Returns one outcome per op, in order, or where it stopped.
pub async fn apply_to_replica(
    node: &dyn ReplicaNode,
    node_index: &str,
    rank: ReplicaRank,
    ops: &[PositionedOp],
    limits: BatchLimits,
) -> (Vec<Option<OpOutcome>>, Option<Unavailable>) {
    let mut outcomes: Vec<Option<OpOutcome>> = vec![None; ops.len()];
    let mut queue: VecDeque<(Range<usize>, bool)> = plan_batches(ops, limits).into_iter().map(|r| (r, true)).collect();
    while let Some((range, may_split)) = queue.pop_front() {
        let batch = &ops[range.clone()];
        let merged = spans_several_units(batch);
        let settled = match send_batch(node, node_index, rank, batch, merged).await {
            Ok(sent) => settle(node, batch, sent).await,
            Err(error) => Err(error),
        };
        let per_op = match settled {
            Ok(per_op) => per_op,
            Err(error) => {
                let stopped = first_unknown(&outcomes, error);
                return (outcomes, Some(stopped));
            }
        };
        if merged && may_split && user_failure(per_op.first()) {
            // The node changed nothing; re-send each task's part of each shard alone, so one
            // bad task does not fail the others (as Meilisearch's own batches do) and one
            // shard's bad document fails that shard on every replica alike.
            for run in per_unit_runs(batch).into_iter().rev() {
                queue.push_front((range.start + run.start..range.start + run.end, false));
            }
            continue;
        }
        for (i, outcome) in range.zip(per_op) {
            outcomes[i] = Some(outcome);
        }
    }
    (outcomes, None)
}

/// A request enqueued but not waited for has no known outcome either: the replica's checkpoint
/// will tell later whether it was applied.
fn first_unknown(outcomes: &[Option<OpOutcome>], error: NodeError) -> Unavailable {
    let from_index = outcomes.iter().position(Option::is_none).unwrap_or(outcomes.len());
    Unavailable { from_index, error }
}

fn user_failure(outcome: Option<&OpOutcome>) -> bool {
    outcome.is_some_and(|o| o.status == ReplicaStatus::Failed && o.error.as_ref().is_some_and(|e| e.error_type == "invalid_request"))
}

async fn send_batch(
    node: &dyn ReplicaNode,
    node_index: &str,
    rank: ReplicaRank,
    batch: &[PositionedOp],
    merged: bool,
) -> Result<Sent, NodeError> {
    let first = &batch[0];
    let last = &batch[batch.len() - 1];
    let marker = Marker { partition: first.partition, last: last.position, merged_from: merged.then_some(first.position) }.encode();
    let request = build_request(batch, rank);
    metrics::histogram!("miroir_indexer_batch_operations").record(batch.len() as f64);
    let sent = match node.send(node_index, &request, request.carries_metadata().then_some(&marker)).await {
        Ok(uid) => Sent::Task(uid),
        Err(NodeError::Meilisearch { error, .. }) if error.error_type == "invalid_request" => Sent::Refused(error),
        Err(e) => return Err(e),
    };
    match (&request, &sent) {
        // Whether this request created the node index or another shard's did (or a replay
        // finds it), the index must carry Miroir's filterable rule before anything else runs.
        (NodeRequest::CreateIndex { .. }, Sent::Task(uid)) => {
            node.wait(*uid).await?;
            ensure_shard_rule(node, node_index).await?;
        }
        (NodeRequest::ResetSettings, Sent::Task(_)) => {
            let rule = Map::from_iter([("filterableAttributes".to_owned(), Value::Array(vec![shard_filter_rule()]))]);
            node.send(node_index, &NodeRequest::UpdateSettings(rule), None).await?;
        }
        _ => {}
    }
    if !request.carries_metadata() {
        // Index, settings and swap routes take no customMetadata: record the checkpoint with an
        // empty deletion right behind (the node runs its queue in order).
        let empty = NodeRequest::DeleteIds(Vec::new());
        for target in checkpoint_targets(first, node_index, rank) {
            node.send(&target, &empty, Some(&marker)).await?;
        }
    }
    Ok(sent)
}

/// Where the checkpoint of a metadata-less request goes: the node index itself, or both sides
/// of every swapped pair.
fn checkpoint_targets(op: &PositionedOp, node_index: &str, rank: ReplicaRank) -> Vec<String> {
    let targets = op.node_indexes(rank);
    if targets.is_empty() {
        vec![node_index.to_owned()]
    } else {
        targets
    }
}

/// Puts Miroir's filterable rule first in `node_index`'s `filterableAttributes` unless it is
/// there already, keeping the user's rules (a settings change in flight also carries the rule).
async fn ensure_shard_rule(node: &dyn ReplicaNode, node_index: &str) -> Result<(), NodeError> {
    let current = node.filterable_attributes(node_index).await?;
    if current.as_array().and_then(|rules| rules.first()) == Some(&shard_filter_rule()) {
        return Ok(());
    }
    let settings = Map::from_iter([("filterableAttributes".to_owned(), with_shard_rule(&current))]);
    node.send(node_index, &NodeRequest::UpdateSettings(settings), None).await?;
    Ok(())
}

/// Waits for a sent request and returns the outcome of each of its operations.
async fn settle(node: &dyn ReplicaNode, batch: &[PositionedOp], sent: Sent) -> Result<Vec<OpOutcome>, NodeError> {
    match sent {
        Sent::Task(uid) => {
            let task = node.wait(uid).await?;
            let processing = parse_time(task.finished_at.as_deref()) - parse_time(task.started_at.as_deref());
            metrics::histogram!("miroir_indexer_node_task_seconds", "node" => node.id().to_owned())
                .record(processing.as_seconds_f64().max(0.0));
            if let Some(error) = task.error.as_ref().filter(|e| is_node_side(e)) {
                // The node failed for its own reasons (disk, I/O…) and changed nothing: the
                // replica is treated as unavailable and replays from here later.
                return Err(NodeError::Meilisearch { node: node.id().to_owned(), error: error.clone() });
            }
            Ok(outcomes_of_task(batch, &task))
        }
        Sent::Refused(error) => {
            let now = OffsetDateTime::now_utc();
            Ok(batch.iter().map(|_| failed(error.clone(), now, now)).collect())
        }
    }
}

/// An error the node would not repeat on a retry: `internal` or `system` (as opposed to
/// `invalid_request`, the same on every replica and every attempt).
pub fn is_node_side(error: &ResponseError) -> bool {
    matches!(error.error_type.as_str(), "internal" | "system")
}

fn failed(error: ResponseError, started_at: OffsetDateTime, finished_at: OffsetDateTime) -> OpOutcome {
    OpOutcome { status: ReplicaStatus::Failed, error: Some(error), counts: DetailCounts::default(), started_at, finished_at }
}

fn parse_time(s: Option<&str>) -> OffsetDateTime {
    s.and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok()).unwrap_or_else(OffsetDateTime::now_utc)
}

/// A node index holds several shards, and an index creation or deletion reaches it once per
/// shard (or again on a replay): finding it already created or already gone is what the task
/// asked for. (Whether the index exists is decided by the gateway's catalog before any node
/// sees the task, so this is never a user's conflict.)
fn already_done(batch: &[PositionedOp], task: &TaskView) -> bool {
    use miroir_schemas::envelope::Op;
    let code = task.error.as_ref().and_then(ResponseError::known_code);
    match batch[0].envelope.op {
        Op::CreateIndex { .. } => code == Some(Code::IndexAlreadyExists),
        Op::DeleteIndex => code == Some(Code::IndexNotFound),
        _ => false,
    }
}

/// Splits a finished node task's outcome over the operations it carried: document counts per
/// operation (each operation's own document count), deletion counts to the batch's first
/// operation (deletion batches never span tasks).
pub fn outcomes_of_task(batch: &[PositionedOp], task: &TaskView) -> Vec<OpOutcome> {
    use miroir_schemas::envelope::Op;
    let started_at = parse_time(task.started_at.as_deref());
    let finished_at = parse_time(task.finished_at.as_deref());
    if task.status != TaskStatus::Succeeded && !already_done(batch, task) {
        let error = task.error.clone().unwrap_or_else(|| {
            ResponseError::new(miroir_schemas::error::Code::Internal, format!("node task {} was {}", task.uid, task.status.as_str()))
        });
        let error = match &batch[0].envelope.op {
            // The node ran the client's function wrapped: its messages are read back as the
            // client's code alone would give them.
            Op::EditDocuments { wrapping, .. } => {
                ResponseError { message: edit_function::client_error_message(&error.message, *wrapping), ..error }
            }
            _ => error,
        };
        return batch.iter().map(|_| failed(error.clone(), started_at, finished_at)).collect();
    }
    let node_count = |field: &str| task.details.as_ref().and_then(|d| d.get(field)).and_then(serde_json::Value::as_u64);
    let node_deleted = task.details.as_ref().and_then(|d| d.get("deletedDocuments")).and_then(serde_json::Value::as_u64);
    let node_size = |field: &str| {
        let text = task.details.as_ref().and_then(|d| d.get(field)).and_then(serde_json::Value::as_str);
        text.and_then(miroir_schemas::details::byte_size::from_text)
    };
    batch
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let counts = match &op.envelope.op {
                Op::Documents { documents, .. } => {
                    DetailCounts { indexed_documents: Some(documents.len() as u64), deleted_documents: None, ..DetailCounts::NONE }
                }
                Op::DeleteDocuments { .. } | Op::DeleteByFilter { .. } | Op::ClearDocuments | Op::DeleteIndex => {
                    DetailCounts { deleted_documents: Some(if i == 0 { node_deleted.unwrap_or(0) } else { 0 }), ..DetailCounts::NONE }
                }
                // The node ran the edition once for every shard of the request: its counts (the
                // documents the filter matched) are booked on the first, 0 on the others.
                Op::EditDocuments { .. } => {
                    let booked = |count: Option<u64>| Some(if i == 0 { count.unwrap_or(0) } else { 0 });
                    DetailCounts {
                        edited_documents: booked(node_count("editedDocuments")),
                        deleted_documents: booked(node_count("deletedDocuments")),
                        ..DetailCounts::NONE
                    }
                }
                // The node index was compacted once for every shard of the request: its sizes
                // are booked on the first, 0 on the others, so summing shards counts it once.
                Op::CompactIndex => {
                    let booked = |size: Option<u64>| Some(if i == 0 { size.unwrap_or(0) } else { 0 });
                    DetailCounts {
                        pre_compaction_bytes: booked(node_size("preCompactionSize")),
                        post_compaction_bytes: booked(node_size("postCompactionSize")),
                        ..DetailCounts::NONE
                    }
                }
                _ => DetailCounts::default(),
            };
            OpOutcome { status: ReplicaStatus::Succeeded, error: None, counts, started_at, finished_at }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_node::FakeNode;
    use miroir_schemas::envelope::{DocumentMethod, Op, OpEnvelope};
    use miroir_schemas::topology::ShardId;
    use serde_json::json;

    fn documents(position: u64, shard: u32, documents: Vec<Value>) -> PositionedOp {
        let op = Op::Documents {
            method: DocumentMethod::Replace,
            primary_key: "id".into(),
            documents: documents.into_iter().map(|d| d.as_object().unwrap().clone()).collect(),
        };
        PositionedOp {
            partition: 0,
            position,
            bytes: 10,
            envelope: OpEnvelope::new(7, Some("movies".into()), ShardId(shard), op),
            piece: false,
        }
    }

    /// One task's documents for two shards share a request on this node index; the second
    /// shard's document has no id, so the node fails the whole request. Re-sent shard by shard,
    /// the first shard's documents are applied and only the second shard's part fails — what a
    /// replica holding the shards in separate node indexes ends with too.
    #[tokio::test]
    async fn a_bad_document_fails_only_its_shard() {
        a_bad_document_fails_only_its_shard_on(FakeNode::new("n1")).await;
    }

    /// A node that batches whatever queues up (a busy Meilisearch does) must not fail the good
    /// shard's part together with the bad one's.
    #[tokio::test]
    async fn a_bad_document_fails_only_its_shard_on_an_autobatching_node() {
        a_bad_document_fails_only_its_shard_on(FakeNode::autobatching("n1")).await;
    }

    /// A node index holding two shards is compacted once for both: its sizes are booked on the
    /// first shard and 0 on the second, so a sum over shards counts the node index once.
    #[tokio::test]
    async fn a_compaction_books_the_node_index_sizes_once() {
        let node = FakeNode::new("n1");
        let ops = [documents(0, 1, vec![json!({"id": 1})]), documents(1, 3, vec![json!({"id": 2})])];
        apply_to_replica(&node, "movies__rank-0", ReplicaRank(0), &ops, BatchLimits::default()).await;
        let compact = |position, shard| PositionedOp {
            partition: 0,
            position,
            bytes: 10,
            envelope: OpEnvelope::new(8, Some("movies".into()), ShardId(shard), Op::CompactIndex),
            piece: false,
        };
        let ops = [compact(2, 1), compact(3, 3)];
        assert_eq!(plan_batches(&ops, BatchLimits::default()), vec![0..2], "one request for the node index");
        let (outcomes, stopped) = apply_to_replica(&node, "movies__rank-0", ReplicaRank(0), &ops, BatchLimits::default()).await;
        assert!(stopped.is_none());
        let counts: Vec<(Option<u64>, Option<u64>)> = outcomes
            .iter()
            .map(|o| o.as_ref().expect("an outcome for every op"))
            .map(|o| (o.counts.pre_compaction_bytes, o.counts.post_compaction_bytes))
            .collect();
        // The fake node holds 2 documents: 4 KiB each and one more before, half of it after.
        assert_eq!(counts, vec![(Some(12_288), Some(6_144)), (Some(0), Some(0))]);
    }

    /// A node index holding two shards runs one task's edition once: the node's counts (the
    /// documents the filter matched) are booked on the first shard, so a sum over shards counts
    /// it once; a failure's message is read back as the client's code alone gives it.
    #[test]
    fn an_edition_books_the_node_counts_once_and_reads_errors_back() {
        use miroir_clients::node::TaskStatus;
        use miroir_schemas::node_layout::edit_function::Wrapping;
        let edit = |position, shard| PositionedOp {
            partition: 0,
            position,
            bytes: 10,
            envelope: OpEnvelope::new(
                9,
                Some("movies".into()),
                ShardId(shard),
                Op::EditDocuments { function: "throw 1".into(), filter: None, context: None, wrapping: Wrapping::Closure },
            ),
            piece: false,
        };
        let batch = [edit(1, 1), edit(2, 3)];
        let task = |status, details: Value, error: Option<ResponseError>| {
            serde_json::from_value::<TaskView>(json!({
                "uid": 4, "status": status, "type": "documentEdition", "details": details, "error": error,
                "enqueuedAt": "2026-12-07T08:33:24.249482131Z",
                "startedAt": "2026-12-07T08:33:24.252006573Z", "finishedAt": "2026-12-07T08:33:24.732233423Z"
            }))
            .unwrap()
        };
        let done = outcomes_of_task(&batch, &task(TaskStatus::Succeeded, json!({"editedDocuments": 5, "deletedDocuments": 5}), None));
        let counts: Vec<(Option<u64>, Option<u64>)> =
            done.iter().map(|o| (o.counts.edited_documents, o.counts.deleted_documents)).collect();
        assert_eq!(counts, vec![(Some(5), Some(5)), (Some(0), Some(0))]);
        let message = "Index `movies__rank-0`: Document edition runtime error encountered while running the function: Runtime error: 1 (line 2, position 1)\nin closure call (line 3, position 16)";
        let error = ResponseError::new(Code::EditDocumentsByFunctionError, message);
        let failed = outcomes_of_task(&batch, &task(TaskStatus::Failed, json!({"editedDocuments": 0}), Some(error)));
        let shown = failed[1].error.as_ref().unwrap();
        assert_eq!(shown.message, "Index `movies__rank-0`: Document edition runtime error encountered while running the function: Runtime error: 1 (line 1, position 1)");
        assert_eq!(shown.code, "edit_documents_by_function_error");
    }

    async fn a_bad_document_fails_only_its_shard_on(node: FakeNode) {
        let ops = [documents(0, 1, vec![json!({"id": 1}), json!({"id": 2})]), documents(1, 3, vec![json!({"title": "no id"})])];
        assert_eq!(plan_batches(&ops, BatchLimits::default()), vec![0..2], "both shards go in one request");
        let (outcomes, stopped) = apply_to_replica(&node, "movies__rank-0", ReplicaRank(0), &ops, BatchLimits::default()).await;
        assert!(stopped.is_none());
        let statuses: Vec<ReplicaStatus> = outcomes.iter().map(|o| o.as_ref().expect("an outcome for every op").status).collect();
        assert_eq!(statuses, vec![ReplicaStatus::Succeeded, ReplicaStatus::Failed]);
        let held = node.documents("movies__rank-0").expect("the good shard's documents were applied");
        assert_eq!(held.keys().cloned().collect::<Vec<_>>(), vec!["1".to_owned(), "2".to_owned()]);
    }
}

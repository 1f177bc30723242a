//! The gateway's half of a write (ARCHITECTURE.md, "A write, end to end"): append the task
//! record to `tasks` (its position is the task uid), then the per-shard operations to `ops`,
//! and answer `202` only once every append is durably acknowledged.

use std::collections::BTreeMap;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use miroir_clients::log::{LogError, NewRecord, Topic, WriteLog};
use miroir_schemas::envelope::{encode, ops_key, Op, OpEnvelope};
use miroir_schemas::error::ResponseError;
use miroir_schemas::meta_log::{MetaEnvelope, TaskChange};
use miroir_schemas::task_log::ShardTarget;
use miroir_schemas::tasks::summarized_task_view;
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};

use crate::catalog::TaskLogEntry;
use crate::documents::payload::payload_too_large;
use crate::error::GatewayError;
use crate::idempotency::Settled;
use crate::state::AppState;

/// Bytes kept free in every `ops` message for the envelope around the documents.
const ENVELOPE_OVERHEAD: usize = 1024;
/// Appends of `ops` are tried this many times before the client gets `503` (same dedup ids, so
/// nothing is stored twice) …
const OPS_ATTEMPTS: usize = 3;
/// … and then this many more times in the background (about an hour at the 10 s ceiling).
const BACKGROUND_OPS_ATTEMPTS: usize = 360;
/// How long a `202` waits for this gateway to fold its own task, so `GET /tasks/{uid}` right
/// after finds it.
const FOLD_WAIT: Duration = Duration::from_secs(5);
/// How long a keyed write not folded in time is still waited for in the background.
const BACKGROUND_FOLD_WAIT: Duration = Duration::from_secs(3600);

/// A task and what it does to each shard.
#[derive(Debug, Clone)]
pub struct Write {
    pub entry: TaskLogEntry,
    /// The layout of the index that routed `ops` (`None`: the launch layout; see
    /// [`crate::topology_changes::Routing`]).
    pub layout: Option<u32>,
    /// Operations in application order; several may target one shard.
    pub ops: Vec<(ShardId, Op)>,
    /// For a `taskCancelation`: the tasks it may cancel, announced in `meta` once the task has
    /// its uid (see `miroir_schemas::cancelation`).
    pub cancels: Option<Vec<u64>>,
}

/// The shards the operations touch, ascending, each once.
pub fn touched_shards(ops: &[(ShardId, Op)]) -> Vec<ShardId> {
    let mut shards: Vec<ShardId> = ops.iter().map(|(shard, _)| *shard).collect();
    shards.sort_unstable();
    shards.dedup();
    shards
}

/// Every node each shard the operations touch reaches (`replicas[i]` for the `i`-th touched
/// shard): the replicas whose events finish the task.
pub fn targets(ops: &[(ShardId, Op)], replicas: Vec<Vec<String>>) -> Vec<ShardTarget> {
    touched_shards(ops).into_iter().zip(replicas).map(|(shard, replicas)| ShardTarget { shard, replicas }).collect()
}

/// Splits documents into consecutive runs whose JSON fits in `budget` bytes each.
pub fn split_documents(documents: Vec<Map<String, Value>>, budget: usize) -> Result<Vec<Vec<Map<String, Value>>>, ResponseError> {
    let mut parts = vec![Vec::new()];
    let mut used = 0;
    for document in documents {
        let size = serde_json::to_vec(&document).expect("documents serialize").len() + 1;
        if size > budget {
            return Err(payload_too_large(budget as u64));
        }
        if used + size > budget {
            parts.push(Vec::new());
            used = 0;
        }
        used += size;
        parts.last_mut().expect("never empty").push(document);
    }
    Ok(parts)
}

/// The `ops` envelopes of task `task_uid` in the order of `ops` (so an index creation given
/// first reaches every node index before the documents), documents split to fit `max_payload`
/// bytes, each shard's parts numbered so the dedup id `<taskUid>:<shard>:<part>` is unique per
/// task. Every envelope names `layout`, the index layout its shard belongs to.
pub fn envelopes(
    task_uid: u64,
    index_uid: Option<&str>,
    layout: Option<u32>,
    ops: Vec<(ShardId, Op)>,
    max_payload: usize,
) -> Result<Vec<OpEnvelope>, ResponseError> {
    let budget = max_payload.saturating_sub(ENVELOPE_OVERHEAD + index_uid.map_or(0, str::len));
    let mut split: Vec<(ShardId, Op)> = Vec::new();
    for (shard, op) in ops {
        match op {
            Op::Documents { method, primary_key, documents } => {
                for part in split_documents(documents, budget.saturating_sub(primary_key.len()))? {
                    split.push((shard, Op::Documents { method, primary_key: primary_key.clone(), documents: part }));
                }
            }
            other => split.push((shard, other)),
        }
    }
    let mut parts: BTreeMap<ShardId, u32> = BTreeMap::new();
    split.iter().for_each(|(shard, _)| *parts.entry(*shard).or_default() += 1);
    let mut next_part: BTreeMap<ShardId, u32> = BTreeMap::new();
    let envelopes = split
        .into_iter()
        .map(|(shard, op)| {
            let part = next_part.entry(shard).or_default();
            let mut envelope = OpEnvelope::new(task_uid, index_uid.map(str::to_owned), shard, op);
            envelope.part = *part;
            envelope.parts = parts[&shard];
            envelope.layout = layout;
            *part += 1;
            envelope
        })
        .collect();
    Ok(envelopes)
}

/// Appends the task and its operations; returns the `202` body.
///
/// Everything that can refuse the write (sizes, encoding) is checked before the task record is
/// appended, so a refusal never leaves a task behind. What remains is the log failing between
/// the task record and its operations: the client gets `503` (nothing acknowledged), and the
/// operations keep being retried in the background with the same dedup ids, so the recorded task
/// still completes — exactly once — when the log returns, instead of staying `enqueued` forever.
/// A retrying client gets a second task, which is harmless: every operation is idempotent —
/// unless it sent an `Idempotency-Key`: then the record carries the key, and its operations are
/// appended only once this gateway has folded it and found it the first of its key; a repeat
/// answers with the first task instead (`crate::idempotency`).
pub async fn enqueue(state: &AppState, write: Write) -> Result<Map<String, Value>, GatewayError> {
    let Write { mut entry, layout, ops, cancels } = write;
    // Swaps name their indexes in the op; they are ordered with the first index's operations.
    let key_index = entry.record.index_uid.clone().or_else(|| swap_key_index(&ops)).unwrap_or_default();
    // The replicas the operations will reach on their `ops` partition, as far as this
    // gateway's topology book knows (a move adds the new holders after its copy barrier).
    let replicas =
        if ops.is_empty() { Vec::new() } else { state.topology_changes().write_targets(&key_index, layout, &touched_shards(&ops)).await? };
    entry.record.targets = targets(&ops, replicas);
    entry.record.request_id = crate::request_id::current();
    entry.record.idempotency = crate::idempotency::current_claim();
    let log = state.log();
    let mut envelopes = envelopes(0, entry.record.index_uid.as_deref(), layout, ops, log.max_payload_bytes())?;

    let task_dedup = format!("task:{}", uuid::Uuid::new_v4().simple());
    let position = log.append(Topic::Tasks, "tasks", &task_dedup, Bytes::from(encode(&entry))).await?;
    let task_uid = position.offset;
    for envelope in &mut envelopes {
        envelope.task_uid = task_uid;
    }
    let ops_records: Vec<NewRecord> =
        envelopes.iter().map(|envelope| NewRecord::new(ops_key(&key_index), envelope.dedup_id(), encode(envelope))).collect();
    let mut follow_ups = vec![(Topic::Ops, ops_records)];
    if let Some(tasks) = cancels {
        let change = TaskChange::TasksCanceled { cancelation_uid: task_uid, tasks, at: entry.record.enqueued_at };
        let record = NewRecord::new("cancelations", format!("cancel:{task_uid}"), encode(&MetaEnvelope::new(change)));
        follow_ups.push((Topic::Meta, vec![record]));
    }
    if let Some(claim) = &entry.record.idempotency {
        match crate::idempotency::settle(state, task_uid, claim).await {
            Ok(Settled::First) => {}
            Ok(Settled::Repeat(first_answer)) => {
                tracing::info!(task_uid, "a repeated keyed write: its record is dropped, the first task answers");
                return first_answer;
            }
            Err(error) => {
                tracing::warn!(task_uid, %error, "keyed write not folded yet; its operations follow in the background if it is the first");
                tokio::spawn(append_when_first(state.clone(), task_uid, follow_ups));
                return Err(error);
            }
        }
    }
    append_follow_ups(state, task_uid, follow_ups, OPS_ATTEMPTS).await?;
    metrics::counter!("miroir_tasks_enqueued_total").increment(1);
    // Inside the request's span: this line ties the request id to the task uid the indexers log.
    tracing::info!(task_uid, task_type = ?entry.record.task_type, "task enqueued");
    if !state.catalog().wait_folded(task_uid + 1, FOLD_WAIT).await {
        tracing::warn!(task_uid, "answering before this gateway folded its own task");
    } else if state.catalog().read(|catalog| catalog.cleanup_due(task_uid)) {
        tokio::spawn(crate::routes::tasks::clean_up_task_store(state.clone(), task_uid));
    }
    Ok(summarized_task_view(task_uid, &entry.record))
}

/// What follows a task record in other topics: its operations, a cancelation's announcement.
type FollowUps = Vec<(Topic, Vec<NewRecord>)>;

/// Appends `follow_ups` in order, each retried `attempts` times; when one still fails, keeps
/// retrying it and the rest in the background and returns the error (the task is recorded).
async fn append_follow_ups(state: &AppState, task_uid: u64, follow_ups: FollowUps, attempts: usize) -> Result<(), GatewayError> {
    let mut pending = follow_ups.into_iter().filter(|(_, records)| !records.is_empty());
    while let Some((topic, records)) = pending.next() {
        if let Err(error) = append_retried(state.log(), topic, &records, attempts).await {
            tracing::error!(task_uid, ?topic, %error, "task recorded but what follows it could not be appended yet; retrying in the background");
            let log = state.shared_log();
            let rest: FollowUps = std::iter::once((topic, records)).chain(pending).collect();
            tokio::spawn(async move {
                for (topic, records) in rest {
                    match append_retried(log.as_ref(), topic, &records, BACKGROUND_OPS_ATTEMPTS).await {
                        Ok(()) => tracing::info!(task_uid, ?topic, "records of the task appended after a log outage"),
                        Err(error) => {
                            tracing::error!(task_uid, ?topic, %error, "gave up appending the records of the task");
                            return;
                        }
                    }
                }
            });
            return Err(error.into());
        }
    }
    Ok(())
}

/// A keyed write whose record this gateway had not folded in time: once folded, its
/// operations are appended if it is the first of its key (else nothing is).
async fn append_when_first(state: AppState, task_uid: u64, follow_ups: FollowUps) {
    if !state.catalog().wait_folded(task_uid + 1, BACKGROUND_FOLD_WAIT).await {
        tracing::error!(task_uid, "gave up waiting to fold a keyed write; its task stays enqueued");
        return;
    }
    if state.catalog().read(|catalog| catalog.has_task(task_uid)) {
        // The client already had its 503; a failure here is logged inside.
        let _ = append_follow_ups(&state, task_uid, follow_ups, BACKGROUND_OPS_ATTEMPTS).await;
    }
}

fn swap_key_index(ops: &[(ShardId, Op)]) -> Option<String> {
    ops.iter().find_map(|(_, op)| match op {
        Op::SwapIndexes { swaps } => swaps.first().map(|swap| swap.indexes[0].clone()),
        _ => None,
    })
}

/// Appends `records` to `topic`, retrying while the log is unavailable. Retries reuse the dedup
/// ids, so a message the broker stored before failing to answer is not stored twice.
async fn append_retried(log: &dyn WriteLog, topic: Topic, records: &[NewRecord], attempts: usize) -> Result<(), LogError> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(attempts.saturating_sub(1));
    (|| log.append_many(topic, records.to_vec()))
        .retry(backoff)
        .when(|error| matches!(error, LogError::Unavailable(_)))
        .notify(|error, delay| tracing::warn!(%error, ?delay, ?topic, "retrying an append"))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::envelope::DocumentMethod;
    use proptest::prelude::*;
    use serde_json::json;

    fn doc(i: usize, filler: usize) -> Map<String, Value> {
        json!({"id": i, "text": "x".repeat(filler)}).as_object().unwrap().clone()
    }

    proptest! {
        /// Splitting keeps every document once, in order, and every part fits its budget.
        #[test]
        fn split_keeps_order_and_fits(sizes in prop::collection::vec(0usize..300, 0..60), budget in 320usize..2000) {
            let docs: Vec<_> = sizes.iter().enumerate().map(|(i, &n)| doc(i, n)).collect();
            let parts = split_documents(docs.clone(), budget).unwrap();
            prop_assert_eq!(parts.concat(), docs);
            for part in &parts {
                let size: usize = part.iter().map(|d| serde_json::to_vec(d).unwrap().len() + 1).sum();
                prop_assert!(size <= budget);
            }
        }
    }

    #[test]
    fn a_document_bigger_than_a_message_is_refused() {
        let error = split_documents(vec![doc(1, 5000)], 1000).unwrap_err();
        assert_eq!(error.code, "payload_too_large");
    }

    #[test]
    fn envelopes_number_parts_per_shard() {
        let docs = |n| (0..n).map(|i| doc(i, 400)).collect::<Vec<_>>();
        let documents = |n| Op::Documents { method: DocumentMethod::Replace, primary_key: "id".into(), documents: docs(n) };
        let ops = vec![(ShardId(1), documents(6)), (ShardId(0), Op::ClearDocuments), (ShardId(1), Op::ClearDocuments)];
        let envelopes = envelopes(9, Some("movies"), Some(12), ops, ENVELOPE_OVERHEAD + 6 + 2 + 1000).unwrap();
        let ids: Vec<String> = envelopes.iter().map(OpEnvelope::dedup_id).collect();
        // 6 documents of ~420 bytes: 2 per 1000-byte message → 3 parts, then the clear; the
        // operations keep the order they were given in.
        assert_eq!(ids, ["9:shard-1:0", "9:shard-1:1", "9:shard-1:2", "9:shard-0:0", "9:shard-1:3"]);
        assert!(envelopes.iter().filter(|e| e.shard == ShardId(1)).all(|e| e.parts == 4));
        assert!(matches!(envelopes[4].op, Op::ClearDocuments), "order within a shard is kept");
        assert!(envelopes.iter().all(|e| e.layout == Some(12)), "every envelope names the layout that routed it");
        assert_eq!(ops_key("movies"), "movies");
    }
}

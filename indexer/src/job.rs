//! One (node index, replica) job: what the replica already has, what to send, and how it ended.
//! A node index holds every shard its node holds at one replica rank, so a job carries the
//! operations of all those shards, in log order.
//! Shared by the main loop (every healthy replica) and catch-up tasks (one lagging replica).

use crate::apply::{apply_to_replica, OpOutcome};
use crate::batch::BatchLimits;
use crate::events::EventAssembler;
use crate::replay::outcomes_from_history;
use crate::replica::{read_history, ReplicaNode};
use crate::request::PositionedOp;
use miroir_clients::log::Record;
use miroir_clients::node::NodeError;
use miroir_schemas::envelope::{decode, OpEnvelope};
use miroir_schemas::meta_log::topology_changes::Holder;
use miroir_schemas::node_layout::ReplicaRank;
use miroir_schemas::task_log::{ReplicaStatus, TaskEvent};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

/// A job to run: the segment's op indexes for one node index on one replica.
pub struct Job {
    pub node_index: String,
    /// The replica rank `node_index` holds.
    pub rank: ReplicaRank,
    pub replica: String,
    pub idxs: Vec<usize>,
    /// The replica's checkpoint on that node index when known (`None`: read it from the node).
    pub cached: Option<Option<u64>>,
}

/// Result of one job.
pub struct JobResult {
    pub replica: String,
    pub node_index: String,
    /// Op indexes the replica already had, with their outcome when the node's task history was
    /// read (first contact after a start: their events may never have been reported).
    pub skipped: Vec<(usize, Option<OpOutcome>)>,
    /// Op indexes applied now with their outcome (`None`: unknown, the replica stopped).
    pub applied: Vec<(usize, Option<OpOutcome>)>,
    /// First op index the replica may have missed.
    pub unavailable_from: Option<usize>,
    /// The replica lost everything it had (its node lost its database): it is rebuilt from the
    /// start of the partition, whatever `unavailable_from` says.
    pub lost_data: bool,
    pub checkpoint: Option<u64>,
    /// The node's reset count when the job began: `checkpoint` holds only if it is still that.
    pub node_resets: u64,
}

/// One job per (node index, replica accepted by `wanted`): the op indexes of `segment` it must
/// see, with the cached checkpoint `cached(replica, node index)` gives. `holders(i)` are the
/// replicas (node, rank) operation `i` reaches.
pub fn plan_jobs(
    segment: &[PositionedOp],
    holders: impl Fn(usize) -> Vec<Holder>,
    wanted: impl Fn(&str) -> bool,
    cached: impl Fn(&str, &str) -> Option<Option<u64>>,
) -> Vec<Job> {
    let mut by_target: BTreeMap<(String, String), (ReplicaRank, Vec<usize>)> = BTreeMap::new();
    for (i, op) in segment.iter().enumerate() {
        for (replica, rank) in holders(i) {
            if !wanted(&replica) {
                continue;
            }
            for node_index in op.node_indexes(rank).into_iter().take(1) {
                let entry = by_target.entry((node_index, replica.clone())).or_insert_with(|| (rank, Vec::new()));
                if entry.1.last() != Some(&i) {
                    entry.1.push(i);
                }
            }
        }
    }
    by_target
        .into_iter()
        .map(|((node_index, replica), (rank, idxs))| {
            let cached = cached(&replica, &node_index);
            Job { node_index, rank, replica, idxs, cached }
        })
        .collect()
}

impl JobResult {
    /// Feeds this job's outcomes to `events` and returns the task events that became complete.
    /// Operations the replica already had count as seen (with the outcome its task history gave,
    /// when it was read); operations applied now count with their outcome; an operation whose
    /// outcome is unknown (the replica stopped) stays open, so its task is replayed whole.
    /// The one rule for the main loop and catch-up alike.
    pub fn record_outcomes(&self, segment: &[PositionedOp], events: &mut EventAssembler) -> Vec<TaskEvent> {
        count_outcomes(&self.replica, "already_applied", self.skipped.len());
        let (succeeded, failed) = self.applied.iter().filter_map(|(_, outcome)| outcome.as_ref()).fold((0, 0), |(s, f), outcome| {
            if outcome.status == ReplicaStatus::Succeeded {
                (s + 1, f)
            } else {
                (s, f + 1)
            }
        });
        count_outcomes(&self.replica, "succeeded", succeeded);
        count_outcomes(&self.replica, "failed", failed);
        let skipped = self.skipped.iter().map(|(i, outcome)| (i, outcome.as_ref()));
        let applied = self.applied.iter().filter_map(|(i, outcome)| outcome.as_ref().map(|o| (i, Some(o))));
        // A piece of a re-routed operation is reported through its source ([`crate::rerouted_events`]).
        let own = skipped.chain(applied).filter(|(&i, _)| !segment[i].piece);
        own.filter_map(|(&i, outcome)| events.record(&segment[i], &self.replica, outcome)).collect()
    }

    /// Where a replica whose node lost its data stopped reporting (the first operation of this
    /// job it did not apply), if it did.
    pub fn lost_at(&self, segment: &[PositionedOp]) -> Option<u64> {
        self.unavailable_from.filter(|_| self.lost_data).map(|i| segment[i].position)
    }

    /// The log position from which the replica may have missed operations, if it stopped: the
    /// partition's start when it lost its data.
    pub fn unavailable_position(&self, segment: &[PositionedOp]) -> Option<u64> {
        self.unavailable_from.map(|i| if self.lost_data { 0 } else { segment[i].position })
    }
}

/// `miroir_indexer_operations_total`: operations that reached a replica, by how they ended.
fn count_outcomes(replica: &str, outcome: &'static str, count: usize) {
    if count > 0 {
        metrics::counter!("miroir_indexer_operations_total", "node" => replica.to_owned(), "outcome" => outcome).increment(count as u64);
    }
}

pub async fn run_job(node: Arc<dyn ReplicaNode>, partition: u32, segment: &[PositionedOp], job: Job, limits: BatchLimits) -> JobResult {
    let span = tracing::info_span!("apply_job", node = %job.replica, partition, operations = job.idxs.len());
    apply_job(node, partition, segment, job, limits).instrument(span).await
}

async fn apply_job(node: Arc<dyn ReplicaNode>, partition: u32, segment: &[PositionedOp], job: Job, limits: BatchLimits) -> JobResult {
    let Job { node_index, rank, replica, idxs, cached } = job;
    let node_resets = node.resets();
    let segment_start = idxs[0];
    let mut result = JobResult {
        replica,
        node_index,
        skipped: Vec::new(),
        applied: Vec::new(),
        unavailable_from: None,
        lost_data: false,
        checkpoint: None,
        node_resets,
    };
    // A cached checkpoint that already covers some of these operations means the replica applied
    // them before this process saw them (a poll after the first one following a restart, with
    // the replica ahead of the group's commit): their outcomes are in the node's task history,
    // and without them their task events would never be reported.
    let covers_some = |c: Option<u64>| idxs.iter().any(|&i| c.is_some_and(|c| segment[i].position <= c));
    let (checkpoint, history) = match cached {
        Some(c) if !covers_some(c) => (c, None),
        _ => match read_history(node.as_ref(), &result.node_index, partition, segment[idxs[0]].position).await {
            Ok(h) if h.tasks.is_empty() && !segment[idxs[0]].creates_its_index() => {
                // The node index has no task at all, yet what comes first is not its creation:
                // the replica lost what it had (its node came back empty). (A node index with
                // tasks but no checkpoint of this partition is one a swap or rename gave its
                // name: Meilisearch moves the tasks with the index, so their markers name
                // another partition, and nothing is lost.)
                tracing::warn!(node = %result.replica, partition, "a replica holds nothing of operations before these; rebuilding it");
                result.unavailable_from = Some(idxs[0]);
                result.lost_data = true;
                return result;
            }
            Ok(h) => (h.checkpoint, Some(h.tasks)),
            Err(e) => {
                tracing::debug!(error = %e, "checkpoint read failed");
                result.unavailable_from = Some(idxs[0]);
                return result;
            }
        },
    };
    let (skipped, pending): (Vec<usize>, Vec<usize>) =
        idxs.into_iter().partition(|&i| checkpoint.is_some_and(|c| segment[i].position <= c));
    let skipped_ops: Vec<PositionedOp> = skipped.iter().map(|&i| segment[i].clone()).collect();
    let known = match &history {
        Some(tasks) => outcomes_from_history(&skipped_ops, tasks),
        None => vec![None; skipped.len()],
    };
    result.skipped = skipped.into_iter().zip(known).collect();
    result.checkpoint = checkpoint;
    if pending.is_empty() {
        return result;
    }
    let ops: Vec<PositionedOp> = pending.iter().map(|&i| segment[i].clone()).collect();
    let (outcomes, unavailable) = apply_to_replica(node.as_ref(), &result.node_index, rank, &ops, limits).await;
    if let Some(u) = &unavailable {
        tracing::debug!(error = %u.error, "replica stopped");
        result.unavailable_from = Some(pending[u.from_index.min(pending.len() - 1)]);
        if let NodeError::Reset { .. } = u.error {
            tracing::warn!(node = %result.replica, error = %u.error, "rebuilding the node's replicas from the log");
            result.lost_data = true;
        }
    }
    result.checkpoint =
        pending.iter().zip(&outcomes).filter(|(_, o)| o.is_some()).map(|(&i, _)| segment[i].position).next_back().or(checkpoint);
    result.applied = pending.into_iter().zip(outcomes).collect();
    if node.resets() != node_resets && !result.lost_data {
        // The node was found empty while this job ran (another job's request saw it): what this
        // job sent may have gone to a node index the node re-created empty.
        tracing::warn!(node = %result.replica, partition, "the node lost its data during this job; rebuilding its replica");
        result.unavailable_from = result.unavailable_from.or(Some(segment_start));
        result.lost_data = true;
    }
    result
}

/// Splits ops at barriers (swaps): everything before a barrier is applied before it, and it
/// alone (with the same task's barriers for its other shards), before anything after it.
pub fn segments(ops: &[PositionedOp]) -> Vec<&[PositionedOp]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < ops.len() {
        if !ops[i].is_barrier() {
            i += 1;
            continue;
        }
        if start < i {
            out.push(&ops[start..i]);
        }
        // A swap comes as one operation per shard; a node index gets it once, for all of them.
        let task = ops[i].envelope.task_uid;
        let end = i + ops[i..].iter().take_while(|op| op.is_barrier() && op.envelope.task_uid == task).count();
        out.push(&ops[i..end]);
        start = end;
        i = end;
    }
    if start < ops.len() {
        out.push(&ops[start..]);
    }
    out
}

pub fn decode_ops(records: &[Record]) -> Vec<PositionedOp> {
    records
        .iter()
        .filter_map(|r| match decode::<OpEnvelope>(&r.payload) {
            Ok(envelope) => Some(PositionedOp {
                partition: r.position.partition,
                position: r.position.offset,
                bytes: r.payload.len(),
                envelope,
                piece: false,
            }),
            Err(e) => {
                tracing::error!(partition = r.position.partition, offset = r.position.offset, error = %e, "skipping an unreadable ops record");
                None
            }
        })
        .collect()
}

//! The indexer loop: consume `ops` as a group member, apply each partition's operations to
//! every healthy replica of their shard, report `task-events`, commit, and catch lagging
//! replicas up from their own checkpoints.

use crate::apply::{apply_to_replica, OpOutcome};
use crate::batch::BatchLimits;
use crate::events::EventAssembler;
use crate::replay::outcomes_from_history;
use crate::replica::{read_history, ReplicaNode};
use crate::request::PositionedOp;
use bytes::Bytes;
use futures::future::join_all;
use miroir_clients::log::{GroupConsumer, LogError, NewRecord, Position, Record, Topic, WriteLog};
use miroir_schemas::envelope::{decode, encode, OpEnvelope};
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::TaskEvent;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct IndexerSettings {
    pub group: String,
    pub member: String,
    pub limits: BatchLimits,
    /// Records taken per poll (and so per round of node requests).
    pub poll_max: usize,
    pub poll_wait: Duration,
}

impl IndexerSettings {
    pub fn new(group: impl Into<String>, member: impl Into<String>) -> Self {
        IndexerSettings {
            group: group.into(),
            member: member.into(),
            limits: BatchLimits::default(),
            poll_max: 1000,
            poll_wait: Duration::from_millis(200),
        }
    }
}

/// What this member knows about one `ops` partition it owns.
#[derive(Default)]
struct PartitionState {
    /// `(node id, node index)` → last position applied there (`None`: nothing yet).
    checkpoints: HashMap<(String, String), Option<u64>>,
    /// Replicas that stopped answering → first position they may have missed.
    lagging: BTreeMap<String, u64>,
    events: EventAssembler,
    /// Last offset handled for the healthy replicas.
    head: Option<u64>,
}

impl PartitionState {
    /// Highest offset every replica and every pending event is past.
    fn committable(&self) -> Option<u64> {
        let mut upto = self.head?;
        for bound in self.lagging.values().copied().chain(self.events.oldest_open_position()) {
            upto = upto.min(bound.checked_sub(1)?);
        }
        Some(upto)
    }
}

pub struct Indexer {
    log: Arc<dyn WriteLog>,
    placement: Placement,
    nodes: HashMap<String, Arc<dyn ReplicaNode>>,
    settings: IndexerSettings,
    partitions: HashMap<u32, PartitionState>,
    /// The assignment seen at the last poll (logged when it changes).
    owned: Vec<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("the topology names node `{0}` but no client was given for it")]
    MissingNode(String),
}

/// Result of one (node index, replica) job.
struct JobResult {
    replica: String,
    node_index: String,
    /// Op indexes the replica already had, with their outcome when the node's task history was
    /// read (first contact after a start or a lag: their events may never have been reported).
    skipped: Vec<(usize, Option<OpOutcome>)>,
    /// Op indexes applied now with their outcome (`None`: unknown, the replica stopped).
    applied: Vec<(usize, Option<OpOutcome>)>,
    /// First op index the replica may have missed.
    unavailable_from: Option<usize>,
    checkpoint: Option<u64>,
}

impl Indexer {
    pub fn new(
        log: Arc<dyn WriteLog>,
        placement: Placement,
        nodes: HashMap<String, Arc<dyn ReplicaNode>>,
        settings: IndexerSettings,
    ) -> Result<Indexer, IndexerError> {
        if let Some(missing) = placement.topology().nodes.iter().find(|n| !nodes.contains_key(&n.id)) {
            return Err(IndexerError::MissingNode(missing.id.clone()));
        }
        Ok(Indexer { log, placement, nodes, settings, partitions: HashMap::new(), owned: Vec::new() })
    }

    /// Runs until `shutdown` resolves, then leaves the group.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), IndexerError> {
        let mut consumer = self.log.join_group(Topic::Ops, &self.settings.group, &self.settings.member).await?;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                step = self.step(consumer.as_mut()) => {
                    if let Err(e) = step {
                        tracing::warn!(error = %e, "indexer step failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
        consumer.leave().await?;
        Ok(())
    }

    /// One poll: apply, report, commit, then try to catch lagging replicas up.
    pub async fn step(&mut self, consumer: &mut dyn GroupConsumer) -> Result<(), IndexerError> {
        let records = consumer.poll(self.settings.poll_max, self.settings.poll_wait).await?;
        let owned = consumer.assignment();
        if owned != self.owned {
            tracing::info!(member = %self.settings.member, partitions = ?owned, "ops partitions owned");
            self.owned = owned.clone();
        }
        self.partitions.retain(|p, _| owned.contains(p));
        let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for record in records {
            by_partition.entry(record.position.partition).or_default().push(record);
        }
        for (partition, records) in by_partition {
            let head = records.last().map(|r| r.position.offset);
            tracing::debug!(partition, records = records.len(), first = records[0].position.offset, ?head, "polled");
            let ops = decode_ops(&records);
            let events = self.process(partition, &ops, None).await;
            self.publish(events).await?;
            let state = self.partitions.entry(partition).or_default();
            state.head = head.max(state.head);
        }
        let commits: Vec<Position> = self
            .partitions
            .iter()
            .filter_map(|(&partition, s)| s.committable().map(|offset| Position { partition, offset }))
            .collect();
        if !commits.is_empty() {
            consumer.commit(&commits).await?;
        }
        self.catch_up().await
    }

    async fn publish(&self, events: Vec<TaskEvent>) -> Result<(), IndexerError> {
        if events.is_empty() {
            return Ok(());
        }
        let records = events
            .iter()
            .map(|e| {
                NewRecord::new(
                    e.task_uid.to_string(),
                    format!("{}:{}:{}", e.task_uid, e.shard, e.replica),
                    Bytes::from(encode(e)),
                )
            })
            .collect();
        self.log.append_many(Topic::TaskEvents, records).await?;
        Ok(())
    }

    /// Replays, for each lagging replica that answers again, the partition from the first
    /// position it may have missed up to the head; its checkpoints skip what it already has.
    async fn catch_up(&mut self) -> Result<(), IndexerError> {
        let lagging: Vec<(u32, String, u64, u64)> = self
            .partitions
            .iter()
            .flat_map(|(&p, s)| s.lagging.iter().filter_map(move |(n, &from)| Some((p, n.clone(), from, s.head?))))
            .collect();
        for (partition, node_id, from, head) in lagging {
            if !self.nodes[&node_id].healthy().await {
                continue;
            }
            tracing::info!(node = %node_id, partition, from, head, "catching a replica up");
            let state = self.partitions.get_mut(&partition).expect("listed above");
            state.lagging.remove(&node_id);
            state.checkpoints.retain(|(n, _), _| *n != node_id);
            let mut reader = self.log.read_partition(Topic::Ops, partition, from).await?;
            let mut next = from;
            while next <= head {
                let records: Vec<Record> = reader
                    .next_batch(self.settings.poll_max, self.settings.poll_wait)
                    .await?
                    .into_iter()
                    .filter(|r| r.position.offset <= head)
                    .collect();
                let Some(last) = records.last() else { break };
                next = last.position.offset + 1;
                let events = self.process(partition, &decode_ops(&records), Some(&node_id)).await;
                self.publish(events).await?;
                if self.partitions[&partition].lagging.contains_key(&node_id) {
                    break; // failed again: stays lagging from where it stopped
                }
            }
        }
        Ok(())
    }

    /// Applies `ops` (one partition, log order) to every replica of their shards that is not
    /// lagging (or only to `only`), and returns the task events that became complete.
    async fn process(&mut self, partition: u32, ops: &[PositionedOp], only: Option<&str>) -> Vec<TaskEvent> {
        let mut events = Vec::new();
        for segment in segments(ops) {
            let jobs = self.jobs(partition, segment, only);
            let results = join_all(jobs.into_iter().map(|(node_index, replica, idxs, cached)| {
                let node = self.nodes[&replica].clone();
                let limits = self.settings.limits;
                run_job(node, partition, node_index, replica, segment, idxs, cached, limits)
            }))
            .await;
            let state = self.partitions.entry(partition).or_default();
            for result in results {
                for (i, outcome) in &result.skipped {
                    events.extend(state.events.record(&segment[*i], &result.replica, outcome.as_ref()));
                }
                for (i, outcome) in &result.applied {
                    if let Some(outcome) = outcome {
                        events.extend(state.events.record(&segment[*i], &result.replica, Some(outcome)));
                    }
                }
                match result.unavailable_from {
                    Some(i) => {
                        let position = segment[i].position;
                        tracing::warn!(node = %result.replica, node_index = %result.node_index, position, "replica unavailable; marked lagging");
                        let from = state.lagging.entry(result.replica.clone()).or_insert(position);
                        *from = (*from).min(position);
                        state.events.forget_replica(&result.replica);
                        state.checkpoints.retain(|(n, _), _| *n != result.replica);
                    }
                    None => {
                        state.checkpoints.insert((result.replica, result.node_index), result.checkpoint);
                    }
                }
            }
            if only.is_some_and(|n| state.lagging.contains_key(n)) {
                break;
            }
        }
        events
    }

    /// One job per (node index, replica): the op indexes of the segment it must see.
    fn jobs(
        &self,
        partition: u32,
        segment: &[PositionedOp],
        only: Option<&str>,
    ) -> Vec<(String, String, Vec<usize>, Option<Option<u64>>)> {
        let state = self.partitions.get(&partition);
        let mut by_index: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, op) in segment.iter().enumerate() {
            if let Some(node_index) = op.node_indexes().into_iter().next() {
                by_index.entry(node_index).or_default().push(i);
            }
        }
        let mut jobs = Vec::new();
        for (node_index, idxs) in by_index {
            for replica in self.placement.replicas(segment[idxs[0]].shard()) {
                let skip = match only {
                    Some(node) => node != replica.id,
                    None => state.is_some_and(|s| s.lagging.contains_key(&replica.id)),
                };
                if skip {
                    continue;
                }
                let cached = state.and_then(|s| s.checkpoints.get(&(replica.id.clone(), node_index.clone())).copied());
                jobs.push((node_index.clone(), replica.id.clone(), idxs.clone(), cached));
            }
        }
        jobs
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_job(
    node: Arc<dyn ReplicaNode>,
    partition: u32,
    node_index: String,
    replica: String,
    segment: &[PositionedOp],
    idxs: Vec<usize>,
    cached: Option<Option<u64>>,
    limits: BatchLimits,
) -> JobResult {
    let mut result =
        JobResult { replica, node_index, skipped: Vec::new(), applied: Vec::new(), unavailable_from: None, checkpoint: None };
    let (checkpoint, history) = match cached {
        Some(c) => (c, None),
        None => match read_history(node.as_ref(), &result.node_index, partition, segment[idxs[0]].position).await {
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
    let (outcomes, unavailable) = apply_to_replica(node.as_ref(), &result.node_index, &ops, limits).await;
    if let Some(u) = &unavailable {
        tracing::debug!(error = %u.error, "replica stopped");
        result.unavailable_from = Some(pending[u.from_index.min(pending.len() - 1)]);
    }
    result.checkpoint = pending.iter().zip(&outcomes).filter(|(_, o)| o.is_some()).map(|(&i, _)| segment[i].position).last().or(checkpoint);
    result.applied = pending.into_iter().zip(outcomes).collect();
    result
}

/// Splits ops at barriers (swaps): everything before a barrier is applied before it, and it
/// alone, before anything after it.
fn segments(ops: &[PositionedOp]) -> Vec<&[PositionedOp]> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, op) in ops.iter().enumerate() {
        if op.is_barrier() {
            if start < i {
                out.push(&ops[start..i]);
            }
            out.push(&ops[i..i + 1]);
            start = i + 1;
        }
    }
    if start < ops.len() {
        out.push(&ops[start..]);
    }
    out
}

fn decode_ops(records: &[Record]) -> Vec<PositionedOp> {
    records
        .iter()
        .filter_map(|r| match decode::<OpEnvelope>(&r.payload) {
            Ok(envelope) => Some(PositionedOp {
                partition: r.position.partition,
                position: r.position.offset,
                bytes: r.payload.len(),
                envelope,
            }),
            Err(e) => {
                tracing::error!(partition = r.position.partition, offset = r.position.offset, error = %e, "skipping an unreadable ops record");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;

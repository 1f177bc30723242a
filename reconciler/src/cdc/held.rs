//! `ops` records waiting for their task's outcome (pure).
//!
//! Records are held per ops partition and per key (an index: every operation of an index is on
//! one key), and released in log order per key as soon as the task of the first one held is
//! decided: an applied task's records become events, a failed or canceled task's records are
//! dropped. A key whose first task is undecided holds back only that key; other indexes of the
//! partition go on. The partition's commit never passes a record still held, so a restart
//! delivers every held record again (and the events published after that point again, with the
//! same event ids).

use crate::cdc::outcomes::Verdict;
use miroir_clients::log::Position;
use miroir_schemas::cdc::{events_of, CdcEvent};
use miroir_schemas::envelope::OpEnvelope;
use miroir_schemas::topology::ShardId;
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

#[derive(Debug)]
struct HeldOp {
    offset: u64,
    envelope: OpEnvelope,
    bytes: usize,
    since: Instant,
}

#[derive(Debug, Default)]
struct PartitionHold {
    by_key: BTreeMap<String, VecDeque<HeldOp>>,
    /// Highest offset received.
    received: Option<u64>,
    /// Highest offset handed out for commit.
    committed: Option<u64>,
}

/// What [`HeldOps::release`] let go.
#[derive(Debug, Default)]
pub struct Release {
    /// Events of applied tasks, in log order per key.
    pub events: Vec<CdcEvent>,
    /// Per partition, the position up to which everything is published or dropped (commit it
    /// once the events are stored).
    pub commits: Vec<Position>,
    /// Records dropped because their task failed on their shard.
    pub failed: u64,
    /// Records dropped because their task was canceled.
    pub canceled: u64,
}

#[derive(Debug, Default)]
pub struct HeldOps {
    partitions: BTreeMap<u32, PartitionHold>,
    bytes: usize,
    count: usize,
}

impl HeldOps {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the record at `offset` of `partition` (`envelope: None` when it cannot be read: it
    /// is stepped over). A record at or before one already received means the partition is
    /// being read again from its commit (it changed owner, or this member rejoined): what was
    /// held from that offset on is forgotten, as it is coming again.
    pub fn receive(&mut self, partition: u32, offset: u64, key: &str, envelope: Option<OpEnvelope>, bytes: usize, now: Instant) {
        let hold = self.partitions.entry(partition).or_default();
        if hold.received.is_some_and(|received| offset <= received) {
            for queue in hold.by_key.values_mut() {
                while queue.back().is_some_and(|op| op.offset >= offset) {
                    let op = queue.pop_back().expect("just seen");
                    self.bytes -= op.bytes;
                    self.count -= 1;
                }
            }
            hold.by_key.retain(|_, queue| !queue.is_empty());
            hold.committed = hold.committed.filter(|&committed| committed < offset);
        }
        hold.received = Some(offset);
        if let Some(envelope) = envelope {
            hold.by_key.entry(key.to_owned()).or_default().push_back(HeldOp { offset, envelope, bytes, since: now });
            self.bytes += bytes;
            self.count += 1;
        }
    }

    /// Lets go every record whose task is decided (on the record's shard) and that has no
    /// undecided record before it on its key.
    pub fn release(&mut self, verdict: impl Fn(u64, ShardId) -> Option<Verdict>) -> Release {
        let mut release = Release::default();
        for (&partition, hold) in &mut self.partitions {
            for queue in hold.by_key.values_mut() {
                while let Some(op) = queue.front() {
                    match verdict(op.envelope.task_uid, op.envelope.shard) {
                        None => break,
                        Some(Verdict::Applied(task)) => release.events.extend(events_of(&op.envelope, partition, op.offset, &task)),
                        Some(Verdict::Failed) => release.failed += 1,
                        Some(Verdict::Canceled) => release.canceled += 1,
                    }
                    self.bytes -= op.bytes;
                    self.count -= 1;
                    queue.pop_front();
                }
            }
            hold.by_key.retain(|_, queue| !queue.is_empty());
            let first_held = hold.by_key.values().filter_map(|queue| queue.front()).map(|op| op.offset).min();
            let done = match first_held {
                Some(offset) => offset.checked_sub(1),
                None => hold.received,
            };
            if let Some(done) = done.filter(|&done| hold.committed.is_none_or(|committed| done > committed)) {
                hold.committed = Some(done);
                release.commits.push(Position { partition, offset: done });
            }
        }
        release
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// When the record waiting longest was received, and its task.
    pub fn oldest(&self) -> Option<(Instant, u64)> {
        let fronts = self.partitions.values().flat_map(|hold| hold.by_key.values()).filter_map(|queue| queue.front());
        fronts.map(|op| (op.since, op.envelope.task_uid)).min()
    }
}

#[cfg(test)]
mod tests;

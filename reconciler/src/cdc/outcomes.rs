//! Whether a task's changes were applied on a shard, decided from what a gateway folds into a
//! task's status (pure): the task's record (`tasks`), its per-replica events (`task-events`,
//! folded by [`fold_task`]) and the cancelation fold of `meta` ([`CancelationBook`]).
//!
//! A task is decided once every replica it targets has reported. A task that succeeded was
//! applied on every shard. A task that failed may still have been applied on some shards: its
//! operations for each shard are separate node tasks, and Miroir does not roll back the shards
//! whose replicas all succeeded (a batch with one invalid document fails only that document's
//! shard on the nodes). Those shards hold the changes, so their changes are published: the
//! shard's own fold ([`fold_task`] over that shard's replicas) says whether it applied them.
//!
//! Memory: a task waiting for its outcome keeps its record and events; a decided task keeps a
//! verdict of a few dozen bytes (an operation of it may still be delivered again).

use miroir_schemas::cancelation::CancelationBook;
use miroir_schemas::cdc::AppliedTask;
use miroir_schemas::idempotency::{Claimed, IdempotencyBook};
use miroir_schemas::meta_log::TaskChange;
use miroir_schemas::task_log::{ShardTarget, TaskEvent, TaskRecord};
use miroir_schemas::tasks::{fold_task, TaskStatus};
use miroir_schemas::topology::ShardId;
use std::collections::HashMap;

/// What became of a task's operations on one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every replica of the shard applied them: their changes are published.
    Applied(AppliedTask),
    /// Not applied on this shard (failed on a replica, or the task failed when enqueued):
    /// nothing is published.
    Failed,
    /// Canceled before any node saw it: nothing is published.
    Canceled,
}

/// A decided task.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decided {
    /// `None`: applied on no shard.
    applied: Option<AppliedTask>,
    /// Shards it targets that did not apply it (empty when it succeeded).
    failed_shards: Vec<ShardId>,
}

#[derive(Debug)]
struct Waiting {
    record: TaskRecord,
    events: Vec<TaskEvent>,
}

#[derive(Debug, Default)]
pub struct TaskOutcomes {
    waiting: HashMap<u64, Waiting>,
    /// Events read before their task's record (the logs are read side by side).
    early_events: HashMap<u64, Vec<TaskEvent>>,
    decided: HashMap<u64, Decided>,
    cancelations: CancelationBook,
    /// Task uid of the next `tasks` record to fold.
    next_task: u64,
    /// Idempotency keys reserved: a repeated keyed record is no task (its gateway appends no
    /// operations), so it is not waited for.
    idempotency: IdempotencyBook,
}

impl TaskOutcomes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the fold at `tasks` record `uid`, the first the log kept: events of older tasks
    /// are dropped rather than held for a record that will never come.
    pub fn start_at(&mut self, uid: u64) {
        self.next_task = self.next_task.max(uid);
    }

    /// Folds `tasks` record `uid` (records come in uid order; a repeat changes nothing).
    pub fn apply_task(&mut self, uid: u64, record: TaskRecord) {
        if uid < self.next_task {
            return;
        }
        self.next_task = uid + 1;
        self.idempotency.advance(record.enqueued_at);
        if let Some(claim) = &record.idempotency {
            if self.idempotency.claim(uid, claim, &record) == Claimed::Repeat {
                self.early_events.remove(&uid);
                return;
            }
        }
        let events = self.early_events.remove(&uid).unwrap_or_default();
        self.decide(uid, Waiting { record, events });
    }

    /// Steps over a `tasks` record this build cannot read: its task never gets a verdict.
    pub fn skip_task(&mut self, uid: u64) {
        self.next_task = self.next_task.max(uid + 1);
        self.early_events.remove(&uid);
    }

    /// Folds one `task-events` record.
    pub fn apply_event(&mut self, event: TaskEvent) {
        let uid = event.task_uid;
        if let Some(mut waiting) = self.waiting.remove(&uid) {
            waiting.events.push(event);
            self.decide(uid, waiting);
        } else if uid >= self.next_task {
            self.early_events.entry(uid).or_default().push(event);
        }
    }

    /// Folds one task record of `meta` (cancelations).
    pub fn apply_change(&mut self, change: &TaskChange) {
        self.cancelations.apply(change);
    }

    /// What became of task `uid` on `shard`, once known.
    pub fn verdict(&self, uid: u64, shard: ShardId) -> Option<Verdict> {
        if self.cancelations.canceled(uid).is_some() {
            return Some(Verdict::Canceled);
        }
        let decided = self.decided.get(&uid)?;
        Some(match decided.applied {
            Some(task) if !decided.failed_shards.contains(&shard) => Verdict::Applied(task),
            _ => Verdict::Failed,
        })
    }

    /// Tasks folded but still waiting for replicas to report.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    fn decide(&mut self, uid: u64, waiting: Waiting) {
        let Waiting { record, events } = waiting;
        let state = fold_task(uid, &record, &events);
        if !state.status.is_finished() {
            self.waiting.insert(uid, Waiting { record, events });
            return;
        }
        let applied = AppliedTask {
            finished_at: state.finished_at.unwrap_or(record.enqueued_at),
            first_shard: record.targets.iter().map(|target| target.shard).min(),
        };
        let decided = match state.status {
            TaskStatus::Succeeded => Decided { applied: Some(applied), failed_shards: Vec::new() },
            // Failed before reaching any node.
            _ if record.error.is_some() => Decided { applied: None, failed_shards: Vec::new() },
            _ => {
                let shard_applied = |target: &ShardTarget| {
                    let one_shard = TaskRecord { targets: vec![target.clone()], ..record.clone() };
                    fold_task(uid, &one_shard, &events).status == TaskStatus::Succeeded
                };
                let failed_shards = record.targets.iter().filter(|target| !shard_applied(target)).map(|target| target.shard).collect();
                Decided { applied: Some(applied), failed_shards }
            }
        };
        self.decided.insert(uid, decided);
    }
}

#[cfg(test)]
mod tests;

//! Whether a task's changes were applied, decided as a gateway decides a task's status (pure):
//! the task's record (`tasks`), its per-replica events (`task-events`, folded by
//! [`fold_task`]) and the cancelation fold of `meta` ([`CancelationBook`]).
//!
//! Memory: a task waiting for its outcome keeps its record and events; a decided task keeps a
//! verdict of a few dozen bytes (an operation of it may still be delivered again).

use miroir_schemas::cancelation::CancelationBook;
use miroir_schemas::cdc::AppliedTask;
use miroir_schemas::meta_log::TaskChange;
use miroir_schemas::task_log::{TaskEvent, TaskRecord};
use miroir_schemas::tasks::{fold_task, TaskStatus};
use std::collections::HashMap;

/// What became of a task's operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Succeeded on every replica: its changes are published.
    Applied(AppliedTask),
    /// Failed (on a node, or already when enqueued): nothing is published.
    Failed,
    /// Canceled before any node saw it: nothing is published.
    Canceled,
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
    decided: HashMap<u64, Verdict>,
    cancelations: CancelationBook,
    /// Task uid of the next `tasks` record to fold.
    next_task: u64,
}

impl TaskOutcomes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds `tasks` record `uid` (records come in uid order; a repeat changes nothing).
    pub fn apply_task(&mut self, uid: u64, record: TaskRecord) {
        if uid < self.next_task {
            return;
        }
        self.next_task = uid + 1;
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

    /// The task's verdict, once known.
    pub fn verdict(&self, uid: u64) -> Option<Verdict> {
        if self.cancelations.canceled(uid).is_some() {
            return Some(Verdict::Canceled);
        }
        self.decided.get(&uid).copied()
    }

    /// Tasks folded but still waiting for replicas to report.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    fn decide(&mut self, uid: u64, waiting: Waiting) {
        let state = fold_task(uid, &waiting.record, &waiting.events);
        let verdict = match state.status {
            TaskStatus::Succeeded => Verdict::Applied(AppliedTask {
                finished_at: state.finished_at.unwrap_or(waiting.record.enqueued_at),
                first_shard: waiting.record.targets.iter().map(|target| target.shard).min(),
            }),
            TaskStatus::Failed => Verdict::Failed,
            TaskStatus::Canceled => Verdict::Canceled,
            TaskStatus::Enqueued | TaskStatus::Processing => {
                self.waiting.insert(uid, waiting);
                return;
            }
        };
        self.decided.insert(uid, verdict);
    }
}

#[cfg(test)]
mod tests;

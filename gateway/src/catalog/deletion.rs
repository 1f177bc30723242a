//! What a `taskDeletion` does to the folded state, the same on every gateway.
//!
//! Meilisearch deletes, when the deletion runs, the tasks its filter matched at registration
//! that are finished (succeeded, failed, canceled) by then: never an enqueued or processing
//! task, never itself (it only matches older tasks), possibly an older `taskDeletion`. Its
//! `deletedTasks` counts what it removed; `matchedTasks` what its filter matched.
//!
//! In Miroir whether a task is finished comes from `task-events`, which each gateway reads at
//! its own pace, so a fold cannot decide it on its own. The gateway that registers the deletion
//! decides it instead, once it has caught up with every log: it writes into the deletion's
//! `tasks` record which tasks are matched and finished ([`TaskDeletionPlan`]). A task that is
//! finished stays finished, so the decision is true for every gateway; and every gateway folding
//! that record deletes exactly the named tasks that are still kept at its position: the state
//! after it is the same everywhere, and a gateway started later folds the same. The deletion
//! succeeds as it is folded (it touches no node).
//!
//! A deleted task leaves nothing behind: its record and events go (events arriving later are
//! dropped, `Catalog::apply_event`), and so does what the cancelation book knows about it —
//! but only once this gateway has folded `meta` as far as the deciding gateway had
//! ([`TaskDeletionPlan::meta_position`]): until then a cancelation still to be folded may need
//! to know whether the task had started, to count what it canceled the same way everywhere.
//! After that point no `meta` record can change anything for the task (it was finished), and
//! records naming it are ignored.
//!
//! A swap (or rename) gives its new names to every task before it. Deleting a succeeded swap
//! must not give them back their old names, so its pairs are kept ([`RetiredRename`]) while
//! some kept task predates it.

use std::collections::{BTreeMap, HashSet};

use miroir_schemas::details::TaskDetails;
use miroir_schemas::meta_log::TaskChange;
use miroir_schemas::task_log::{TaskRecord, TaskType};
use miroir_schemas::tasks::TaskStatus;
use serde::{Deserialize, Serialize};

use super::task_table::KeptTask;
use super::uid_runs::UidRuns;
use super::Catalog;

/// Written into a `taskDeletion` record by the gateway that registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDeletionPlan {
    /// The tasks it deletes: older than it, matched by its filter and finished.
    pub tasks: UidRuns,
    /// Those of `tasks` that are swaps or renames that succeeded: their new names stay on the
    /// tasks before them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_renames: Vec<u64>,
    /// How far the deciding gateway had folded `meta` (position of the next record).
    pub meta_position: u64,
    /// Registered by the automatic cleanup of a full task store (`catalog/cleanup.rs`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automatic: bool,
}

/// The index pairs of a deleted swap or rename that succeeded, applied to kept tasks before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredRename {
    pub uid: u64,
    pub pairs: Vec<(String, String)>,
}

/// Deleted tasks the cancelation book still remembers, until `meta` is folded up to a position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BTreeMap<u64, Vec<u64>>", into = "BTreeMap<u64, Vec<u64>>")]
pub(super) struct BookForgets {
    /// `meta` position → tasks to forget once it is reached.
    at: BTreeMap<u64, Vec<u64>>,
    /// Every task in `at`.
    waiting: HashSet<u64>,
}

impl From<BTreeMap<u64, Vec<u64>>> for BookForgets {
    fn from(at: BTreeMap<u64, Vec<u64>>) -> Self {
        let waiting = at.values().flatten().copied().collect();
        BookForgets { at, waiting }
    }
}

impl From<BookForgets> for BTreeMap<u64, Vec<u64>> {
    fn from(forgets: BookForgets) -> Self {
        forgets.at
    }
}

/// The `(old, new)` index pairs a swap or a rename exchanges, in order.
pub fn rename_pairs(record: &TaskRecord) -> Vec<(String, String)> {
    match (record.task_type, &record.details) {
        (TaskType::IndexSwap, Some(TaskDetails::IndexSwap { swaps })) => {
            swaps.iter().map(|swap| (swap.indexes[0].clone(), swap.indexes[1].clone())).collect()
        }
        (TaskType::IndexUpdate, Some(TaskDetails::IndexInfo { new_index_uid: Some(new), .. })) => {
            record.index_uid.iter().filter(|old| *old != new).map(|old| (old.clone(), new.clone())).collect()
        }
        _ => Vec::new(),
    }
}

impl Catalog {
    /// What a deletion registered now would write: of `candidates` (its filter's matches), the
    /// tasks kept and finished, as many as fit in `budget` bytes of the record, oldest first
    /// (a deletion of more scattered tasks than a log record can name deletes the oldest
    /// ones; running it again deletes the rest).
    pub fn plan_deletion(&self, candidates: impl IntoIterator<Item = u64>, budget: usize) -> TaskDeletionPlan {
        let mut finished: Vec<u64> =
            candidates.into_iter().filter(|uid| self.tasks.get(*uid).is_some_and(|task| self.status(*uid, task).is_finished())).collect();
        finished.sort_unstable();
        let all = UidRuns::from_sorted(finished);
        let tasks = all.fitting(budget);
        if tasks.len() < all.len() {
            tracing::warn!(
                named = tasks.len(),
                matched = all.len(),
                "a task deletion names only the oldest tasks that fit in one log record"
            );
        }
        let kept_renames = tasks
            .iter()
            .filter(|uid| {
                self.tasks
                    .get(*uid)
                    .is_some_and(|task| !rename_pairs(&self.record(task)).is_empty() && self.status(*uid, task) == TaskStatus::Succeeded)
            })
            .collect();
        TaskDeletionPlan { tasks, kept_renames, meta_position: self.next_meta_position, automatic: false }
    }

    /// Runs the deletion at `deletion_uid`; returns how many tasks it deleted.
    pub(super) fn apply_deletion(&mut self, deletion_uid: u64, plan: Option<&TaskDeletionPlan>) -> u64 {
        let Some(plan) = plan else {
            tracing::warn!(
                deletion_uid,
                "a taskDeletion record without the tasks it deletes (written by an older gateway) deletes nothing"
            );
            return 0;
        };
        // One pass over the kept tasks, the named ones met in uid order.
        let mut named = plan.tasks.iter().take_while(|uid| *uid < deletion_uid).peekable();
        let removed = self.tasks.remove_where(|uid| {
            while named.next_if(|named| *named < uid).is_some() {}
            named.next_if_eq(&uid).is_some()
        });
        let deleted = removed.len() as u64;
        for (uid, task) in removed {
            if plan.kept_renames.contains(&uid) {
                self.retired_renames.push(RetiredRename { uid, pairs: rename_pairs(&self.record(&task)) });
            }
            if let KeptTask::Finished(finished) = &task {
                self.index_names.release(finished.index());
            }
            if self.next_meta_position >= plan.meta_position {
                self.cancelations.forget(uid);
            } else {
                self.book_forgets.at.entry(plan.meta_position).or_default().push(uid);
                self.book_forgets.waiting.insert(uid);
            }
        }
        self.retired_renames.sort_by_key(|retired| retired.uid);
        // A retired rename matters only to kept tasks before it.
        let oldest_kept = self.tasks.first_uid().unwrap_or(u64::MAX).min(deletion_uid);
        self.retired_renames.retain(|retired| retired.uid > oldest_kept);
        deleted
    }

    /// Records that `meta` is folded up to `next` (exclusive): the cancelation book forgets the
    /// deleted tasks that waited for it.
    pub fn pass_meta(&mut self, next: u64) {
        self.next_meta_position = self.next_meta_position.max(next);
        let later = self.book_forgets.at.split_off(&(self.next_meta_position + 1));
        for uid in std::mem::replace(&mut self.book_forgets.at, later).into_values().flatten() {
            self.book_forgets.waiting.remove(&uid);
            self.cancelations.forget(uid);
        }
    }

    /// How far `meta` is folded (position of the next record).
    pub fn next_meta_position(&self) -> u64 {
        self.next_meta_position
    }

    /// A task the cancelation book has forgotten: deleted (or a record that could not be
    /// read), or finished and compact (`Catalog::settle`: no later `meta` record can change
    /// it, so the book need not remember it).
    fn forgotten(&self, uid: u64) -> bool {
        match self.tasks.get(uid) {
            Some(task) => matches!(task, KeptTask::Finished(_)),
            None => uid < self.next_task_uid && !self.book_forgets.waiting.contains(&uid),
        }
    }

    /// `change` without the tasks the book has forgotten; `None` when nothing is left of it.
    pub(super) fn without_forgotten(&self, change: &TaskChange) -> Option<TaskChange> {
        match change {
            TaskChange::TasksStarted { tasks } => {
                let tasks: Vec<u64> = tasks.iter().copied().filter(|uid| !self.forgotten(*uid)).collect();
                (!tasks.is_empty()).then_some(TaskChange::TasksStarted { tasks })
            }
            // A cancelation is folded before it can be deleted; a copy of it folded later
            // (a retried append) must not come back.
            TaskChange::TasksCanceled { cancelation_uid, .. } if self.forgotten(*cancelation_uid) => None,
            TaskChange::TasksCanceled { cancelation_uid, tasks, at } => Some(TaskChange::TasksCanceled {
                cancelation_uid: *cancelation_uid,
                tasks: tasks.iter().copied().filter(|uid| !self.forgotten(*uid)).collect(),
                at: *at,
            }),
        }
    }

    /// The swaps and renames deleted after they succeeded, oldest first, whose new names still
    /// apply to kept tasks before them.
    pub fn retired_renames(&self) -> &[RetiredRename] {
        &self.retired_renames
    }

    /// Every swap and rename that succeeded, kept or retired, oldest first: the names they
    /// give the tasks before them.
    pub fn applied_renames(&self) -> Vec<RetiredRename> {
        let kept = self.tasks.renaming().filter_map(|(uid, task)| {
            let pairs = rename_pairs(&self.record(task));
            (!pairs.is_empty() && self.status(uid, task) == TaskStatus::Succeeded).then_some(RetiredRename { uid, pairs })
        });
        let mut renames: Vec<RetiredRename> = self.retired_renames.iter().cloned().chain(kept).collect();
        renames.sort_by_key(|rename| rename.uid);
        renames
    }

    /// How many entries every per-task structure of the catalog holds: kept tasks, the events
    /// of open ones, events waiting for their task, the index names of finished ones, the
    /// cancelation book and retired renames. It follows the tasks kept, whatever the length of
    /// the log (what a test of boundedness reads).
    pub fn footprint(&self) -> usize {
        let events: usize = self
            .tasks
            .iter()
            .map(|(_, task)| match task {
                KeptTask::Open(open) => open.events.len(),
                KeptTask::Finished(_) => 0,
            })
            .sum();
        let early: usize = self.early_events.values().map(Vec::len).sum();
        let names = self.index_names.len();
        self.tasks.len() + events + early + names + self.cancelations.len() + self.book_forgets.waiting.len() + self.retired_renames.len()
    }
}

#[cfg(test)]
mod tests;

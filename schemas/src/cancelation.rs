//! Which tasks a `taskCancelation` canceled, decided by folding `meta` (pure).
//!
//! A Miroir task's operations are already in `ops` when it is enqueued, and several indexers
//! apply them to several shards independently. Canceling must still give one answer for the
//! whole task, on every shard, replica and replay, and in every gateway. The rule: before an
//! indexer sends a task's operations to any node for the first time, it appends
//! `TasksStarted` to `meta` and waits until its own fold has passed that record; a gateway
//! registering a cancelation appends `TasksCanceled`. In `meta`'s single order, a task is
//! **canceled** iff a `TasksCanceled` naming it comes before the first `TasksStarted` naming
//! it. An indexer applies a task's operations only once its fold says the task started, so
//! no node ever sees part of a canceled task, and a replica caught up later makes the same
//! choice by reading the same fold.

use crate::meta_log::TaskChange;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use time::OffsetDateTime;

/// A canceled task: by which cancelation, and when it was registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canceled {
    pub by: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What a cancelation task did once folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelationOutcome {
    /// Tasks it named that were not started before it.
    pub canceled_tasks: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// The fold of every `TaskChange` in `meta` order. Ordered collections, so a snapshot of the
/// same book is always the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelationBook {
    started: BTreeSet<u64>,
    canceled: BTreeMap<u64, Canceled>,
    cancelations: BTreeMap<u64, CancelationOutcome>,
}

impl CancelationBook {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds the next `meta` task record. Repeats (an append retried, a replay) change nothing.
    pub fn apply(&mut self, change: &TaskChange) {
        match change {
            TaskChange::TasksStarted { tasks } => {
                for &task in tasks {
                    if !self.canceled.contains_key(&task) {
                        self.started.insert(task);
                    }
                }
            }
            TaskChange::TasksCanceled { cancelation_uid, tasks, at } => {
                if self.cancelations.contains_key(cancelation_uid) {
                    return;
                }
                let mut canceled_tasks = 0;
                for &task in tasks {
                    if !self.started.contains(&task) && !self.canceled.contains_key(&task) {
                        self.canceled.insert(task, Canceled { by: *cancelation_uid, at: *at });
                        canceled_tasks += 1;
                    }
                }
                self.cancelations.insert(*cancelation_uid, CancelationOutcome { canceled_tasks, at: *at });
            }
        }
    }

    /// Whether `task` was canceled, and by what.
    pub fn canceled(&self, task: u64) -> Option<Canceled> {
        self.canceled.get(&task).copied()
    }

    /// Whether an indexer has announced `task` (its operations may be on nodes).
    pub fn started(&self, task: u64) -> bool {
        self.started.contains(&task)
    }

    /// Whether the fold has a verdict for `task`: it either started or was canceled.
    pub fn decided(&self, task: u64) -> bool {
        self.started(task) || self.canceled.contains_key(&task)
    }

    /// What cancelation task `uid` did, once its record is folded.
    pub fn cancelation(&self, uid: u64) -> Option<CancelationOutcome> {
        self.cancelations.get(&uid).copied()
    }

    /// Drops everything known about task `uid` (a deleted task): whether it started, whether it
    /// was canceled and, if it is a cancelation, what it did. Tasks it canceled keep saying so.
    /// The caller must not fold records naming `uid` afterwards: the book no longer knows it
    /// started, so a later cancelation would cancel it.
    pub fn forget(&mut self, uid: u64) {
        self.started.remove(&uid);
        self.canceled.remove(&uid);
        self.cancelations.remove(&uid);
    }

    /// How many tasks the book holds something about (its memory).
    pub fn len(&self) -> usize {
        self.started.len() + self.canceled.len() + self.cancelations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
    }

    fn cancel(uid: u64, tasks: &[u64]) -> TaskChange {
        TaskChange::TasksCanceled { cancelation_uid: uid, tasks: tasks.to_vec(), at: at(uid as i64) }
    }

    fn start(tasks: &[u64]) -> TaskChange {
        TaskChange::TasksStarted { tasks: tasks.to_vec() }
    }

    #[test]
    fn the_first_of_start_and_cancel_wins() {
        let mut book = CancelationBook::new();
        for change in [start(&[1]), cancel(10, &[1, 2, 3]), start(&[2, 4]), cancel(11, &[4, 5])] {
            book.apply(&change);
        }
        assert_eq!(book.canceled(1), None, "started before the cancelation");
        assert_eq!(book.canceled(2), Some(Canceled { by: 10, at: at(10) }));
        assert!(!book.started(2), "a start after the cancelation does not start it");
        assert_eq!(book.canceled(3).map(|c| c.by), Some(10));
        assert_eq!(book.canceled(4), None);
        assert_eq!(book.canceled(5).map(|c| c.by), Some(11));
        assert_eq!(book.cancelation(10).map(|o| o.canceled_tasks), Some(2));
        assert_eq!(book.cancelation(11).map(|o| o.canceled_tasks), Some(1));
        assert_eq!(book.cancelation(12), None);
        assert!(book.decided(1) && book.decided(2) && !book.decided(6));
    }

    #[test]
    fn a_repeated_cancelation_counts_once_and_keeps_the_first_canceler() {
        let mut book = CancelationBook::new();
        for change in [cancel(10, &[1]), cancel(11, &[1, 2]), cancel(10, &[2])] {
            book.apply(&change);
        }
        assert_eq!(book.canceled(1).map(|c| c.by), Some(10));
        assert_eq!(book.canceled(2).map(|c| c.by), Some(11));
        assert_eq!(book.cancelation(10).map(|o| o.canceled_tasks), Some(1));
        assert_eq!(book.cancelation(11).map(|o| o.canceled_tasks), Some(1));
    }

    #[test]
    fn a_forgotten_task_leaves_nothing_behind_but_what_it_canceled_stays_canceled() {
        let mut book = CancelationBook::new();
        for change in [start(&[1]), cancel(10, &[1, 2])] {
            book.apply(&change);
        }
        book.forget(10);
        assert_eq!(book.cancelation(10), None);
        assert_eq!(book.canceled(2).map(|c| c.by), Some(10), "task 2 still reads as canceled by 10");
        book.forget(1);
        book.forget(2);
        assert!(book.is_empty());
    }

    fn changes() -> impl Strategy<Value = Vec<TaskChange>> {
        let tasks = proptest::collection::vec(0u64..8, 0..4);
        let change = prop_oneof![tasks.clone().prop_map(|t| start(&t)), (100u64..104, tasks).prop_map(|(uid, t)| cancel(uid, &t)),];
        proptest::collection::vec(change, 0..20)
    }

    proptest! {
        /// A task is never both started and canceled, its verdict never changes once made,
        /// and folding a record twice in a row (a retried append) changes nothing.
        #[test]
        fn verdicts_are_exclusive_final_and_idempotent(changes in changes()) {
            let mut book = CancelationBook::new();
            let mut twice = CancelationBook::new();
            let mut verdicts: HashMap<u64, bool> = HashMap::new();
            for change in &changes {
                book.apply(change);
                twice.apply(change);
                twice.apply(change);
                for task in 0..8 {
                    prop_assert!(!(book.started(task) && book.canceled(task).is_some()));
                    if book.decided(task) {
                        let canceled = book.canceled(task).is_some();
                        prop_assert_eq!(*verdicts.entry(task).or_insert(canceled), canceled);
                    }
                    prop_assert_eq!(book.started(task), twice.started(task));
                    prop_assert_eq!(book.canceled(task), twice.canceled(task));
                }
            }
            let counted: u64 = (100..104).filter_map(|uid| book.cancelation(uid)).map(|o| o.canceled_tasks).sum();
            let canceled = (0..8).filter(|&t| book.canceled(t).is_some()).count() as u64;
            prop_assert_eq!(counted, canceled, "every canceled task is counted by exactly one cancelation");
        }
    }
}

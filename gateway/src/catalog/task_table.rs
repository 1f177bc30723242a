//! The kept tasks, in uid order. Tasks are folded in uid order, so a new one goes at the end of
//! a vector sorted by uid: lookups are binary searches, listings walk it from any uid, and it
//! is dense (a `BTreeMap` filled in key order leaves its nodes about half full). A deletion
//! removes its tasks in one pass.

use super::finished::FinishedTask;
use super::FoldedTask;
use miroir_schemas::task_log::TaskType;

/// A kept task: still open (its record and events so far), or finished (its final view's
/// parts, `finished.rs`).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum KeptTask {
    Open(Box<FoldedTask>),
    Finished(FinishedTask),
}

impl KeptTask {
    /// Whether it is of a kind that can rename indexes (a swap, an index update), read without
    /// rebuilding its record.
    fn can_rename_indexes(&self) -> bool {
        let task_type = match self {
            KeptTask::Open(open) => open.record.task_type,
            KeptTask::Finished(finished) => finished.task_type(),
        };
        matches!(task_type, TaskType::IndexSwap | TaskType::IndexUpdate)
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct TaskTable {
    /// Sorted by uid, distinct.
    entries: Vec<(u64, KeptTask)>,
    /// The uids of the kept tasks that can rename indexes, sorted: every listing applies their
    /// renames, and this spares it a pass over every kept task.
    renaming: Vec<u64>,
}

impl TaskTable {
    /// Adds task `uid` if it is newer than every kept one (a snapshot read back); whether it did.
    pub(super) fn push_in_order(&mut self, uid: u64, task: KeptTask) -> bool {
        let in_order = self.entries.last().is_none_or(|(last, _)| *last < uid);
        if in_order {
            self.push(uid, task);
        }
        in_order
    }

    /// Adds task `uid`, newer than every kept one.
    pub(super) fn push(&mut self, uid: u64, task: KeptTask) {
        debug_assert!(self.entries.last().is_none_or(|(last, _)| *last < uid), "tasks are kept in uid order");
        if task.can_rename_indexes() {
            self.renaming.push(uid);
        }
        self.entries.push((uid, task));
    }

    fn position(&self, uid: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&uid, |(kept, _)| *kept)
    }

    pub(super) fn get(&self, uid: u64) -> Option<&KeptTask> {
        self.position(uid).ok().map(|at| &self.entries[at].1)
    }

    pub(super) fn get_mut(&mut self, uid: u64) -> Option<&mut KeptTask> {
        self.position(uid).ok().map(|at| &mut self.entries[at].1)
    }

    pub(super) fn contains(&self, uid: u64) -> bool {
        self.position(uid).is_ok()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn first_uid(&self) -> Option<u64> {
        self.entries.first().map(|(uid, _)| *uid)
    }

    /// Every kept task, oldest first (reversible).
    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &KeptTask)> + ExactSizeIterator {
        self.entries.iter().map(|(uid, task)| (*uid, task))
    }

    /// The tasks from uid `from` (included) on: newer ones, or older ones when `older`, nearest first.
    pub(super) fn walk_from(&self, from: u64, older: bool) -> Box<dyn Iterator<Item = (u64, &KeptTask)> + '_> {
        let at = match self.position(from) {
            Ok(at) => at,
            Err(at) => at,
        };
        let entries = self.entries.iter().map(|(uid, task)| (*uid, task));
        if older {
            let end = if self.entries.get(at).is_some_and(|(uid, _)| *uid == from) { at + 1 } else { at };
            Box::new(entries.take(end).rev())
        } else {
            Box::new(entries.skip(at))
        }
    }

    /// The kept tasks that can rename indexes (swaps, index updates), oldest first.
    pub(super) fn renaming(&self) -> impl Iterator<Item = (u64, &KeptTask)> {
        self.renaming.iter().filter_map(|&uid| self.get(uid).map(|task| (uid, task)))
    }

    /// Removes the tasks `remove` says to (each asked once, in uid order); returns them.
    pub(super) fn remove_where(&mut self, mut remove: impl FnMut(u64) -> bool) -> Vec<(u64, KeptTask)> {
        let removed: Vec<(u64, KeptTask)> = self.entries.extract_if(.., |(uid, _)| remove(*uid)).collect();
        let gone = |uid: &u64| removed.binary_search_by_key(uid, |(removed, _)| *removed).is_ok();
        self.renaming.retain(|uid| !gone(uid));
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::task_log::{TaskRecord, TaskType};

    fn open(uid: u64) -> KeptTask {
        let record = TaskRecord::new(TaskType::IndexCreation, Some(format!("i{uid}")), None, time::OffsetDateTime::UNIX_EPOCH);
        KeptTask::Open(Box::new(FoldedTask { record, events: Vec::new(), verdict: None, cancelable: false, deleted_tasks: None }))
    }

    fn uids<'t>(walk: impl Iterator<Item = (u64, &'t KeptTask)>) -> Vec<u64> {
        walk.map(|(uid, _)| uid).collect()
    }

    #[test]
    fn walks_start_at_a_uid_kept_or_not() {
        let mut table = TaskTable::default();
        for uid in [1, 3, 4, 8] {
            table.push(uid, open(uid));
        }
        assert_eq!(uids(table.walk_from(3, true)), [3, 1]);
        assert_eq!(uids(table.walk_from(5, true)), [4, 3, 1]);
        assert_eq!(uids(table.walk_from(0, true)), Vec::<u64>::new());
        assert_eq!(uids(table.walk_from(9, true)), [8, 4, 3, 1]);
        assert_eq!(uids(table.walk_from(3, false)), [3, 4, 8]);
        assert_eq!(uids(table.walk_from(5, false)), [8]);
        assert_eq!(uids(table.walk_from(9, false)), Vec::<u64>::new());
        let removed = table.remove_where(|uid| uid % 2 == 0);
        assert_eq!(uids(removed.iter().map(|(uid, task)| (*uid, task))), [4, 8]);
        assert_eq!(uids(table.iter()), [1, 3]);
        assert!(table.contains(3) && !table.contains(4));
        assert!(!table.push_in_order(3, open(3)) && table.push_in_order(4, open(4)), "only newer tasks are added");
    }

    #[test]
    fn renaming_tasks_are_listed_while_kept() {
        let mut table = TaskTable::default();
        let swap = || {
            let record = TaskRecord::new(TaskType::IndexSwap, None, None, time::OffsetDateTime::UNIX_EPOCH);
            KeptTask::Open(Box::new(FoldedTask { record, events: Vec::new(), verdict: None, cancelable: false, deleted_tasks: None }))
        };
        table.push(1, open(1));
        table.push(2, swap());
        table.push(3, open(3));
        assert!(table.push_in_order(5, swap()));
        assert_eq!(uids(table.renaming()), [2, 5]);
        table.remove_where(|uid| uid == 2);
        assert_eq!(uids(table.renaming()), [5]);
    }
}

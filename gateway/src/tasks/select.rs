//! Which tasks a filter selects and which page of them is shown — Meilisearch's
//! index-scheduler query rules over the facts the catalog folds.

use time::OffsetDateTime;

use super::query::{TaskFilter, TaskQuery};
use super::vocabulary::related_to_one_index;

/// What filtering needs to know about one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFacts {
    pub uid: u64,
    /// One of [`super::vocabulary::KINDS`].
    pub kind: &'static str,
    /// One of [`super::vocabulary::STATUSES`].
    pub status: &'static str,
    /// The indexes the task concerns, as Meilisearch's `Task::indexes` (both sides of every
    /// swap, the old and new uid of a rename, none for task cancelation or deletion).
    pub indexes: Vec<String>,
    pub enqueued_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    /// The cancelation task that canceled it (Miroir never cancels, so always `None` today).
    pub canceled_by: Option<u64>,
}

impl TaskFacts {
    /// Miroir runs each task as its own batch: the batch uid is the task uid once it started.
    pub fn batch_uid(&self) -> Option<u64> {
        self.started_at.map(|_| self.uid)
    }
}

fn listed<T: PartialEq>(list: &Option<Vec<T>>, value: &T) -> bool {
    list.as_ref().is_none_or(|list| list.contains(value))
}

impl TaskFilter {
    /// Whether the task passes every filter. A date filter on a date the task does not have
    /// yet (started, finished) leaves it out.
    pub fn matches(&self, task: &TaskFacts) -> bool {
        let in_date_range =
            |range: &super::query::DateRange, at: Option<OffsetDateTime>| range.is_unbounded() || at.is_some_and(|at| range.contains(at));
        listed(&self.uids, &task.uid)
            && self.batch_uids.as_ref().is_none_or(|uids| task.batch_uid().is_some_and(|uid| uids.contains(&uid)))
            && self.canceled_by.as_ref().is_none_or(|uids| task.canceled_by.is_some_and(|uid| uids.contains(&uid)))
            && listed(&self.types, &task.kind)
            && listed(&self.statuses, &task.status)
            && self.index_uids.as_ref().is_none_or(|uids| task.indexes.iter().any(|index| uids.contains(index)))
            && in_date_range(&self.enqueued, Some(task.enqueued_at))
            && in_date_range(&self.started, task.started_at)
            && in_date_range(&self.finished, task.finished_at)
    }

    /// Whether the task is among the results: it matches and, when the filter names indexes,
    /// its kind concerns exactly one index (Meilisearch drops swaps, task cancelations, … from
    /// index-filtered results — though they still count in `total`).
    pub fn selects(&self, task: &TaskFacts) -> bool {
        self.matches(task) && (self.index_uids.is_none() || related_to_one_index(task.kind))
    }

    /// Whether it lets every task through (no filter parameter, or only `*`s): then `total`
    /// is the number of tasks, counted without reading them.
    pub fn is_everything(&self) -> bool {
        *self == TaskFilter::default()
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Uids shown, in the order shown.
    pub uids: Vec<u64>,
    /// Every task matching the filter, whatever `from` and `limit` (Meilisearch's `total`).
    pub total: u64,
    /// First uid shown.
    pub from: Option<u64>,
    /// Uid the next page starts at, if there is one.
    pub next: Option<u64>,
}

/// The page `query` shows of `tasks` (any order): newest first unless `reverse`, starting at
/// `from`, at most `limit` tasks, only those the caller may see (`shown`). As in Meilisearch,
/// `total` counts matching tasks whether the caller may see them or not.
pub fn page(query: &TaskQuery, tasks: &[TaskFacts], shown: impl Fn(&TaskFacts) -> bool) -> Page {
    let TaskQuery { filter, paging, .. } = query;
    let total = tasks.iter().filter(|task| filter.matches(task)).count() as u64;
    let from = paging.from.map(u64::from);
    let mut walk: Vec<&TaskFacts> = tasks
        .iter()
        .filter(|task| match from {
            None => true,
            Some(from) if paging.reverse => task.uid >= from,
            Some(from) => task.uid <= from,
        })
        .collect();
    walk.sort_unstable_by_key(|task| task.uid);
    if !paging.reverse {
        walk.reverse();
    }
    page_of_walk(query, total, walk.into_iter().cloned(), shown)
}

/// The page `query` shows of `walk`: the tasks in the order a listing shows them (newest first,
/// oldest first with `reverse`), starting at `from`, read only until the page and the first
/// task of the next are found. `total` is every task matching the filter.
pub fn page_of_walk(query: &TaskQuery, total: u64, walk: impl Iterator<Item = TaskFacts>, shown: impl Fn(&TaskFacts) -> bool) -> Page {
    let limit = query.paging.limit as usize;
    let mut uids: Vec<u64> =
        walk.filter(|task| query.filter.selects(task) && shown(task)).map(|task| task.uid).take(limit.saturating_add(1)).collect();
    let next = uids.get(limit).copied();
    uids.truncate(limit);
    Page { from: uids.first().copied(), uids, total, next }
}

/// The uids a cancelation or deletion filter matches among those the caller may see (no
/// paging): its `matchedTasks`.
pub fn matched(filter: &TaskFilter, tasks: &[TaskFacts], shown: impl Fn(&TaskFacts) -> bool) -> Vec<u64> {
    tasks.iter().filter(|task| filter.selects(task) && shown(task)).map(|task| task.uid).collect()
}

#[cfg(test)]
mod tests;

//! The index catalog and task table every gateway rebuilds by folding the `tasks` and
//! `task-events` logs (pure: no I/O, no clock).
//!
//! The fold is deterministic, so every gateway that has read the same records holds the same
//! catalog. A gateway checks a write against its catalog before appending it, but two gateways
//! may race; the fold is the judge: a task whose effect is impossible at its position in the
//! log (creating an index that exists by then, deleting one that does not) is reported failed
//! with Meilisearch's error, whatever the gateway thought when it enqueued it.

mod cleanup;
mod deletion;
mod finished;
mod index_names;
mod snapshot;
mod task_table;
mod uid_runs;

use std::borrow::Cow;
use std::collections::BTreeMap;

use miroir_schemas::cancelation::CancelationBook;
use miroir_schemas::details::TaskDetails;
use miroir_schemas::envelope::{LogRecord, SCHEMA_VERSION};
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::idempotency::{Claimed, IdempotencyBook, Reservation};
use miroir_schemas::meta_log::TaskChange;
use miroir_schemas::task_log::{TaskEvent, TaskRecord, TaskType};
use miroir_schemas::tasks::{canceled_state, fold_task, render_task, TaskState, TaskStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use cleanup::CleanupTrigger;
pub use cleanup::DEFAULT_TASK_LIMIT;
use deletion::BookForgets;
pub use deletion::{RetiredRename, TaskDeletionPlan};
use finished::FinishedTask;
use index_names::IndexNames;
pub use snapshot::{ReadSnapshot, SnapshotCovers, SnapshotError, SnapshotHeader};
use task_table::{KeptTask, TaskTable};
pub use uid_runs::UidRuns;

/// What a gateway appends to `tasks`: the shared [`TaskRecord`] plus what only the catalog
/// needs. Readers that know only `TaskRecord` ignore the extra fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskLogEntry {
    #[serde(flatten)]
    pub record: TaskRecord,
    /// The primary key a document addition decided, so the catalog learns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<String>,
    /// For a `taskDeletion`: the tasks it deletes, decided by the gateway that registered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletes: Option<TaskDeletionPlan>,
}

impl LogRecord for TaskLogEntry {
    const KIND: &'static str = "TaskRecord";
}

impl TaskLogEntry {
    pub fn new(record: TaskRecord) -> Self {
        debug_assert_eq!(record.schema_version, SCHEMA_VERSION);
        TaskLogEntry { record, primary_key: None, deletes: None }
    }
}

/// One index as `GET /indexes/{uid}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexInfo {
    pub primary_key: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Whether documents may be stored (an addition was folded since creation or the last
    /// clear); a primary key can only change while this is false.
    pub may_have_documents: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FoldedTask {
    record: TaskRecord,
    events: Vec<TaskEvent>,
    /// The fold's own verdict when the task's effect was impossible at its log position.
    verdict: Option<ResponseError>,
    /// Whether a cancelation may cancel it: only tasks whose effect on the catalog is nothing
    /// a later task could have relied on (see [`cancelable_effect`]).
    cancelable: bool,
    /// For a `taskDeletion`: how many tasks it deleted (it runs when folded).
    deleted_tasks: Option<u64>,
}

impl FoldedTask {
    /// The record as the task view should see it: the fold's verdict, when any, fails it.
    fn judged_record(&self) -> std::borrow::Cow<'_, TaskRecord> {
        match (&self.verdict, &self.record.error) {
            (Some(verdict), None) => {
                let mut record = self.record.clone();
                record.error = Some(verdict.clone());
                std::borrow::Cow::Owned(record)
            }
            _ => std::borrow::Cow::Borrowed(&self.record),
        }
    }
}

/// The folded state. Tasks a `taskDeletion` deleted are gone from every part of it (see
/// `catalog/deletion.rs`), so its size follows the tasks kept, not the length of the log.
#[derive(Debug, Clone)]
pub struct Catalog {
    indexes: Indexes,
    /// The tasks kept (not deleted), by uid; finished ones in their compact form.
    tasks: TaskTable,
    /// The index uids of the finished tasks kept.
    index_names: IndexNames,
    /// Events that arrived before their task record (the topics are read independently).
    early_events: BTreeMap<u64, Vec<TaskEvent>>,
    /// Position of the next `tasks` record to fold (= number of records folded).
    next_task_uid: u64,
    /// Which tasks were canceled (folded from `meta`).
    cancelations: CancelationBook,
    /// Position of the next `meta` record to fold.
    next_meta_position: u64,
    /// Per `task-events` partition, the position of the next record to fold.
    next_event_positions: BTreeMap<u32, u64>,
    /// Deleted tasks the cancelation book forgets once `meta` is folded far enough.
    book_forgets: BookForgets,
    /// Swaps and renames that succeeded and were deleted, while some kept task predates them.
    retired_renames: Vec<RetiredRename>,
    /// Meilisearch's `max_number_of_tasks`: above it, the oldest finished tasks are deleted.
    task_limit: u64,
    cleanup: CleanupTrigger,
    /// Idempotency keys reserved at this position (`miroir_schemas::idempotency`).
    idempotency: IdempotencyBook,
    /// Tests only: keep finished tasks open, to check that compacting them changes no view.
    #[cfg(test)]
    keep_open: bool,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog {
            indexes: Indexes::new(),
            tasks: TaskTable::default(),
            index_names: IndexNames::default(),
            early_events: BTreeMap::new(),
            next_task_uid: 0,
            cancelations: CancelationBook::new(),
            next_meta_position: 0,
            next_event_positions: BTreeMap::new(),
            book_forgets: BookForgets::default(),
            retired_renames: Vec::new(),
            task_limit: DEFAULT_TASK_LIMIT,
            cleanup: CleanupTrigger::default(),
            idempotency: IdempotencyBook::default(),
            #[cfg(test)]
            keep_open: false,
        }
    }
}

/// A task as the fold renders it, for listing and filtering (borrowed: a listing reads many).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSummary<'c> {
    pub uid: u64,
    pub index_uid: Option<&'c str>,
    pub task_type: TaskType,
    pub status: TaskStatus,
    pub enqueued_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub canceled_by: Option<u64>,
    /// The record's details (a finished task's as its view shows them), except a finished
    /// document addition's (counts only, kept inline): what listings read of details is a
    /// swap's or an index update's.
    pub details: Option<&'c TaskDetails>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A catalog that keeps at most `task_limit` tasks before the automatic cleanup deletes
    /// the oldest finished ones (see `catalog/cleanup.rs`).
    pub fn with_task_limit(task_limit: u64) -> Self {
        Catalog { task_limit, ..Self::default() }
    }

    /// The uid the next `tasks` record will have once folded; records must be folded in order.
    pub fn next_task_uid(&self) -> u64 {
        self.next_task_uid
    }

    pub fn index(&self, uid: &str) -> Option<&IndexInfo> {
        self.indexes.get(uid)
    }

    /// Every index, by uid.
    pub fn indexes(&self) -> impl ExactSizeIterator<Item = (&String, &IndexInfo)> {
        self.indexes.iter()
    }

    /// Folds the `tasks` record at position `uid`. Positions must come in order from 0; a
    /// record already folded is ignored (a re-read after reconnecting).
    pub fn apply_task(&mut self, uid: u64, entry: TaskLogEntry) {
        if uid < self.next_task_uid {
            return;
        }
        debug_assert_eq!(uid, self.next_task_uid, "tasks are folded in log order");
        self.next_task_uid = uid + 1;
        self.idempotency.advance(entry.record.enqueued_at);
        if let Some(claim) = &entry.record.idempotency {
            if self.idempotency.claim(uid, claim, &entry.record) == Claimed::Repeat {
                // A repeat of a keyed write: no task, and its gateway appends no operations.
                self.early_events.remove(&uid);
                return;
            }
        }
        let index_before = entry.record.index_uid.as_ref().and_then(|uid| self.indexes.get(uid)).cloned();
        let verdict = match &entry.record.error {
            // A failed document addition still creates its index, as on Meilisearch, unless it
            // failed because the key could not create it.
            Some(error) if entry.record.task_type == TaskType::DocumentAdditionOrUpdate && error.code != Code::IndexNotFound.name() => {
                let at = entry.record.enqueued_at;
                let uid = entry.record.index_uid.clone().unwrap_or_default();
                self.indexes.entry(uid).or_insert_with(|| new_index(None, at));
                None
            }
            Some(_) => None,
            None => effect(&mut self.indexes, &entry).err(),
        };
        let index_after = entry.record.index_uid.as_ref().and_then(|uid| self.indexes.get(uid));
        let cancelable = verdict.is_none()
            && entry.record.error.is_none()
            && cancelable_effect(entry.record.task_type, index_before.as_ref(), index_after);
        let events = self.early_events.remove(&uid).unwrap_or_default();
        let deleted_tasks = (entry.record.task_type == TaskType::TaskDeletion).then(|| self.apply_deletion(uid, entry.deletes.as_ref()));
        self.cleanup.after_fold(uid, &entry, self.tasks.len() as u64 + 1, self.task_limit);
        self.tasks.push(uid, KeptTask::Open(Box::new(FoldedTask { record: entry.record, events, verdict, cancelable, deleted_tasks })));
        self.settle(uid);
    }

    /// Puts task `uid` in its compact final form if it is finished. A finished task's view
    /// never changes: its events are all in (later ones are repeats or for replicas it does not
    /// target, which the fold ignores); an indexer applies a task only after `meta` says it
    /// started, so no cancelation can cancel a task some replica reported; a task failed at
    /// enqueue, a deletion or a cancelation is never canceled (only enqueued cancelable tasks
    /// are named); a cancelation's and a deletion's counts are known once they finish.
    fn settle(&mut self, uid: u64) {
        #[cfg(test)]
        if self.keep_open {
            return;
        }
        let Some(task @ KeptTask::Open(_)) = self.tasks.get(uid) else { return };
        let (state, canceled_by) = self.state(uid, task);
        let record = self.shown_record(uid, task);
        if let Some(finished) = FinishedTask::new(&record, &state, canceled_by, &mut self.index_names) {
            *self.tasks.get_mut(uid).expect("kept") = KeptTask::Finished(finished);
            // Its view no longer reads the book, and later `meta` records naming it are dropped
            // (`without_forgotten`), as the book would ignore them: a finished task was started
            // before any cancelation that could name it, or is canceled already (the first
            // cancelation wins), or can never be canceled.
            self.cancelations.forget(uid);
        }
    }

    /// The reservation of idempotency key `key` (scoped as records carry it), if it holds.
    pub fn idempotency_reservation(&self, key: &str) -> Option<&Reservation> {
        self.idempotency.reservation(key)
    }

    /// Whether task `uid` is kept (folded, not deleted, not a dropped repeat).
    pub fn has_task(&self, uid: u64) -> bool {
        self.tasks.contains(uid)
    }

    /// Task `uid`'s status, if it is kept.
    pub fn task_status(&self, uid: u64) -> Option<TaskStatus> {
        self.tasks.get(uid).map(|task| self.status(uid, task))
    }

    /// Folds one task record of `meta` (indexers announcing tasks, cancelations). What it says
    /// about tasks deleted and forgotten is dropped (see `catalog/deletion.rs`).
    pub fn apply_task_change(&mut self, change: &TaskChange) {
        if let Some(change) = self.without_forgotten(change) {
            self.cancelations.apply(&change);
            if let TaskChange::TasksCanceled { cancelation_uid, tasks, .. } = &change {
                self.settle(*cancelation_uid);
                tasks.iter().for_each(|uid| self.settle(*uid));
            }
        }
    }

    /// Which of `uids` a cancelation registered now could cancel: cancelable tasks still
    /// `enqueued` (no replica reported) that no indexer has announced yet. Whatever this
    /// gateway's view, the `meta` fold has the last word (an announcement it has not seen yet
    /// wins if it came first).
    pub fn cancelable_tasks(&self, uids: &[u64]) -> Vec<u64> {
        uids.iter()
            .copied()
            .filter(|uid| {
                matches!(self.tasks.get(*uid), Some(task @ KeptTask::Open(open))
                    if open.cancelable && !self.cancelations.decided(*uid) && self.status(*uid, task) == TaskStatus::Enqueued)
            })
            .collect()
    }

    /// A kept task's folded state and the cancelation that canceled it, if any.
    fn state(&self, uid: u64, task: &KeptTask) -> (TaskState, Option<u64>) {
        match task {
            KeptTask::Open(task) => self.open_state(uid, task),
            KeptTask::Finished(task) => (task.state(), task.canceled_by()),
        }
    }

    /// A kept task's status (without folding a finished one again).
    fn status(&self, uid: u64, task: &KeptTask) -> TaskStatus {
        match task {
            KeptTask::Open(open) => self.open_state(uid, open).0.status,
            KeptTask::Finished(task) => task.status(),
        }
    }

    /// A kept task's record as it was enqueued (a finished one's, rebuilt: what views and
    /// renames read of it).
    fn record<'t>(&self, task: &'t KeptTask) -> Cow<'t, TaskRecord> {
        match task {
            KeptTask::Open(open) => Cow::Borrowed(&open.record),
            KeptTask::Finished(task) => Cow::Owned(task.record(&self.index_names)),
        }
    }

    /// An open task's state, folded from its record and events.
    fn open_state(&self, uid: u64, task: &FoldedTask) -> (TaskState, Option<u64>) {
        if let Some(canceled) = self.cancelations.canceled(uid) {
            return (canceled_state(&canceled), Some(canceled.by));
        }
        let record = task.judged_record();
        if record.task_type == TaskType::TaskCancelation && record.error.is_none() {
            // Done once its `meta` record is folded, not before: until then nothing is decided.
            let state = match self.cancelations.cancelation(uid) {
                Some(outcome) => TaskState {
                    status: TaskStatus::Succeeded,
                    error: None,
                    started_at: Some(outcome.at),
                    finished_at: Some(outcome.at),
                    counts: Default::default(),
                },
                None => {
                    TaskState { status: TaskStatus::Enqueued, error: None, started_at: None, finished_at: None, counts: Default::default() }
                }
            };
            return (state, None);
        }
        (fold_task(uid, &record, &task.events), None)
    }

    /// The record as views show it: the fold's verdict, and a cancelation's count once known.
    fn shown_record(&self, uid: u64, task: &KeptTask) -> TaskRecord {
        let task = match task {
            KeptTask::Open(task) => task,
            KeptTask::Finished(task) => return task.record(&self.index_names),
        };
        let mut record = task.judged_record().into_owned();
        match record.details.as_mut() {
            Some(TaskDetails::TaskCancelation { canceled_tasks, .. }) => {
                if let Some(outcome) = self.cancelations.cancelation(uid) {
                    *canceled_tasks = Some(outcome.canceled_tasks);
                }
            }
            Some(TaskDetails::TaskDeletion { deleted_tasks, .. }) => *deleted_tasks = task.deleted_tasks,
            _ => {}
        }
        record
    }

    /// Steps over a `tasks` record this build cannot read, so later records keep their uids.
    pub fn skip_task(&mut self, uid: u64) {
        self.next_task_uid = self.next_task_uid.max(uid + 1);
        self.early_events.remove(&uid);
    }

    /// Records that `task-events` partition `partition` is folded up to `next` (exclusive).
    pub fn pass_events(&mut self, partition: u32, next: u64) {
        let folded = self.next_event_positions.entry(partition).or_default();
        *folded = (*folded).max(next);
    }

    /// Where folding `task-events` partition `partition` resumes.
    pub fn next_event_position(&self, partition: u32) -> u64 {
        self.next_event_positions.get(&partition).copied().unwrap_or(0)
    }

    /// Folds one `task-events` record. Events of a task that is no longer kept (deleted, or
    /// unreadable) are dropped; events that come before their task record wait for it.
    pub fn apply_event(&mut self, event: TaskEvent) {
        let uid = event.task_uid;
        match self.tasks.get_mut(uid) {
            Some(KeptTask::Open(task)) => {
                task.events.push(event);
                self.settle(uid);
            }
            // Its view is final: a later event is one the fold ignores.
            Some(KeptTask::Finished(_)) => {}
            None if event.task_uid < self.next_task_uid => {}
            None => self.early_events.entry(event.task_uid).or_default().push(event),
        }
    }

    /// What folding `entry` next would decide, without folding it: a gateway sends nothing to
    /// the nodes for a task the fold will fail.
    pub fn dry_run(&self, entry: &TaskLogEntry) -> Result<(), ResponseError> {
        if let Some(error) = &entry.record.error {
            return Err(error.clone());
        }
        effect(&mut self.indexes.clone(), entry)
    }

    /// `GET /tasks/{uid}`'s object.
    pub fn task_view(&self, uid: u64) -> Option<Map<String, Value>> {
        let task = self.tasks.get(uid)?;
        let (state, canceled_by) = self.state(uid, task);
        Some(render_task(uid, &self.shown_record(uid, task), &state, canceled_by))
    }

    /// Every kept task, newest first, with what listing filters need.
    pub fn task_summaries(&self) -> impl Iterator<Item = TaskSummary<'_>> + '_ {
        self.tasks.iter().rev().map(|(uid, task)| self.summary(uid, task))
    }

    /// The kept tasks a listing walks: newest first from uid `from` (included, when kept) down,
    /// or oldest first from `from` up when `oldest_first`; every one without `from`.
    pub fn task_summaries_from(&self, from: Option<u64>, oldest_first: bool) -> Box<dyn Iterator<Item = TaskSummary<'_>> + '_> {
        let from = from.unwrap_or(if oldest_first { 0 } else { u64::MAX });
        Box::new(self.tasks.walk_from(from, !oldest_first).map(|(uid, task)| self.summary(uid, task)))
    }

    /// Task `uid`'s summary, if it is kept.
    pub fn task_summary(&self, uid: u64) -> Option<TaskSummary<'_>> {
        self.tasks.get(uid).map(|task| self.summary(uid, task))
    }

    /// How many tasks are kept.
    pub fn task_count(&self) -> u64 {
        self.tasks.len() as u64
    }

    fn summary<'c>(&'c self, uid: u64, task: &'c KeptTask) -> TaskSummary<'c> {
        match task {
            KeptTask::Finished(task) => TaskSummary {
                uid,
                index_uid: self.index_names.name(task.index()),
                task_type: task.task_type(),
                status: task.status(),
                enqueued_at: task.enqueued_at(),
                started_at: Some(task.started_at()),
                finished_at: Some(task.finished_at()),
                canceled_by: task.canceled_by(),
                details: task.details(),
            },
            KeptTask::Open(open) => {
                let (state, canceled_by) = self.open_state(uid, open);
                TaskSummary {
                    uid,
                    index_uid: open.record.index_uid.as_deref(),
                    task_type: open.record.task_type,
                    status: state.status,
                    enqueued_at: open.record.enqueued_at,
                    started_at: state.started_at,
                    finished_at: state.finished_at,
                    canceled_by,
                    details: open.record.details.as_ref(),
                }
            }
        }
    }
}

/// A task may be canceled only if undoing it cannot contradict what the catalog already told
/// later tasks: document and settings writes (and compactions) to an index that existed before
/// them and whose primary key they did not decide. Index creation, renaming, deletion and swaps change which
/// indexes exist, which later tasks were judged against, so they are never canceled.
fn cancelable_effect(task_type: TaskType, before: Option<&IndexInfo>, after: Option<&IndexInfo>) -> bool {
    let writes_documents_or_settings = matches!(
        task_type,
        TaskType::DocumentAdditionOrUpdate
            | TaskType::DocumentDeletion
            | TaskType::DocumentEdition
            | TaskType::SettingsUpdate
            | TaskType::IndexCompaction
    );
    let same_index = matches!((before, after), (Some(b), Some(a)) if b.primary_key == a.primary_key);
    writes_documents_or_settings && same_index
}

/// The index catalog: uid → index.
type Indexes = BTreeMap<String, IndexInfo>;

/// Applies a task's effect on the index catalog, or says why it cannot happen.
fn effect(indexes: &mut Indexes, entry: &TaskLogEntry) -> Result<(), ResponseError> {
    let record = &entry.record;
    let at = record.enqueued_at;
    let index_uid = record.index_uid.as_deref().unwrap_or_default();
    match record.task_type {
        TaskType::IndexCreation => {
            if indexes.contains_key(index_uid) {
                return Err(ResponseError::index_already_exists(index_uid));
            }
            let primary_key = match &record.details {
                Some(TaskDetails::IndexInfo { primary_key, .. }) => primary_key.clone(),
                _ => None,
            };
            indexes.insert(index_uid.to_owned(), new_index(primary_key, at));
        }
        TaskType::DocumentAdditionOrUpdate => {
            let index = indexes.entry(index_uid.to_owned()).or_insert_with(|| new_index(None, at));
            match (&index.primary_key, &entry.primary_key) {
                (Some(existing), Some(decided)) if existing != decided => {
                    return Err(ResponseError::new(
                        Code::IndexPrimaryKeyAlreadyExists,
                        format!("Index `{index_uid}`: Index already has a primary key: `{existing}`."),
                    ));
                }
                (None, decided) => index.primary_key = decided.clone(),
                _ => {}
            }
            index.may_have_documents = true;
            index.updated_at = at;
        }
        TaskType::SettingsUpdate => {
            indexes.entry(index_uid.to_owned()).or_insert_with(|| new_index(None, at)).updated_at = at;
        }
        TaskType::DocumentDeletion => {
            let index = indexes.get_mut(index_uid).ok_or_else(|| ResponseError::index_not_found(index_uid))?;
            if matches!(record.details, Some(TaskDetails::ClearAll { .. })) {
                index.may_have_documents = false;
            }
            index.updated_at = at;
        }
        // An edition of a missing index fails it (`index_not_found`), as on a node.
        TaskType::DocumentEdition => {
            indexes.get_mut(index_uid).ok_or_else(|| ResponseError::index_not_found(index_uid))?.updated_at = at;
        }
        TaskType::IndexUpdate => update_index(indexes, index_uid, record)?,
        TaskType::IndexDeletion => {
            indexes.remove(index_uid).ok_or_else(|| ResponseError::index_not_found(index_uid))?;
        }
        TaskType::IndexSwap => swap(indexes, record)?,
        // A compaction needs its index and changes nothing a catalog holds (a node keeps the
        // index's `updatedAt`).
        TaskType::IndexCompaction => {
            indexes.get(index_uid).ok_or_else(|| ResponseError::index_not_found(index_uid))?;
        }
        TaskType::TaskCancelation | TaskType::TaskDeletion | TaskType::DumpCreation | TaskType::SnapshotCreation | TaskType::Export => {}
    }
    Ok(())
}

fn update_index(indexes: &mut Indexes, index_uid: &str, record: &TaskRecord) -> Result<(), ResponseError> {
    let Some(TaskDetails::IndexInfo { primary_key, new_index_uid, .. }) = &record.details else {
        return Ok(());
    };
    let index = indexes.get(index_uid).ok_or_else(|| ResponseError::index_not_found(index_uid))?;
    if let (Some(wanted), Some(existing)) = (primary_key, &index.primary_key) {
        if wanted != existing && index.may_have_documents {
            return Err(ResponseError::new(
                Code::IndexPrimaryKeyAlreadyExists,
                format!("Index `{index_uid}`: Index already has a primary key: `{existing}`."),
            ));
        }
    }
    if let Some(new_uid) = new_index_uid.as_deref().filter(|new| *new != index_uid) {
        if indexes.contains_key(new_uid) {
            return Err(ResponseError::index_already_exists(new_uid));
        }
    }
    let mut index = indexes.remove(index_uid).expect("checked above");
    if primary_key.is_some() {
        index.primary_key = primary_key.clone();
    }
    index.updated_at = record.enqueued_at;
    indexes.insert(new_index_uid.clone().unwrap_or_else(|| index_uid.to_owned()), index);
    Ok(())
}

fn swap(indexes: &mut Indexes, record: &TaskRecord) -> Result<(), ResponseError> {
    let Some(TaskDetails::IndexSwap { swaps }) = &record.details else { return Ok(()) };
    let mut missing: Vec<&str> = Vec::new();
    for swap in swaps {
        let [a, b] = &swap.indexes;
        if !indexes.contains_key(a) {
            missing.push(a);
        }
        if !swap.rename && !indexes.contains_key(b) {
            missing.push(b);
        }
        if swap.rename && indexes.contains_key(b) {
            return Err(ResponseError::new(
                Code::IndexAlreadyExists,
                format!(
                    "Cannot rename `{a}` to `{b}` as the index already exists. Hint: You can remove `{b}` first and then do your remove."
                ),
            ));
        }
    }
    match missing.as_slice() {
        [] => {}
        [one] => return Err(ResponseError::index_not_found(one)),
        many => {
            let list = many.iter().map(|uid| format!("`{uid}`")).collect::<Vec<_>>().join(", ");
            return Err(ResponseError::new(Code::IndexNotFound, format!("Indexes {list} not found.")));
        }
    }
    for swap in swaps {
        let [a, b] = &swap.indexes;
        let first = indexes.remove(a);
        let second = indexes.remove(b);
        if let Some(mut index) = first {
            index.updated_at = record.enqueued_at;
            indexes.insert(b.clone(), index);
        }
        if let Some(mut index) = second {
            index.updated_at = record.enqueued_at;
            indexes.insert(a.clone(), index);
        }
    }
    Ok(())
}

fn new_index(primary_key: Option<String>, at: OffsetDateTime) -> IndexInfo {
    IndexInfo { primary_key, created_at: at, updated_at: at, may_have_documents: false }
}

#[cfg(test)]
mod compaction_tests;
#[cfg(test)]
mod idempotency_tests;
#[cfg(test)]
pub(crate) mod test_history;
#[cfg(test)]
mod tests;

//! `/tasks`, `/tasks/{uid}`, `POST /tasks/cancel`, `DELETE /tasks`, `/batches`,
//! `/batches/{uid}`, answered from the folded catalog with Meilisearch 1.50's filters, paging
//! and errors (the rules themselves live in `gateway/src/tasks/`, pure).
//!
//! Cancelation and deletion are tasks like any other: a record in `tasks` whose position is
//! its uid, with nothing sent to the nodes, so it succeeds as soon as it is folded.
//! * Deletion: the gateway catches up with every log, then writes into the record which of the
//!   tasks its filter matches are finished; every gateway's fold deletes those still kept at
//!   its position (`catalog/deletion.rs`) and its `deletedTasks` is how many. When the store
//!   holds Meilisearch's limit of tasks, the gateway whose write filled it registers the
//!   automatic deletion of the oldest finished ones ([`clean_up_task_store`], `catalog/cleanup.rs`).
//! * A caller whose API key is restricted to some indexes sees only tasks of one index it may
//!   use, as in Meilisearch (`total` still counts every matching task, as Meilisearch does).
//! * Cancelation names, in `meta`, the matched tasks that had not finished nor started; the
//!   order of that record against the indexers' "started" records decides, for every gateway
//!   and indexer alike, which of them are canceled (`miroir_schemas::cancelation`). The
//!   cancelation succeeds once its `meta` record is folded. Tasks that create, rename, delete or
//!   swap indexes are never canceled (see `catalog::cancelable_effect`).

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use miroir_schemas::details::TaskDetails;
use miroir_schemas::error::Code;
use miroir_schemas::task_log::{TaskRecord, TaskType};
use miroir_schemas::tasks::TaskStatus;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use miroir_clients::log::Topic;
use miroir_schemas::envelope::encode;
use time::OffsetDateTime;

use crate::auth::{Auth, AuthContext};
use crate::catalog::{Catalog, TaskLogEntry, TaskSummary};
use crate::enqueue::{enqueue, Write};
use crate::error::GatewayError;
use crate::routes::write::current_catalog;
use crate::state::AppState;

use crate::tasks::batch_view::batch_view;
use crate::tasks::query::{
    missing_filters, parse_query, path_batch_uid, path_task_uid, Paging, TaskFilter, TaskQuery, FILTER_PARAMETERS, LIST_PARAMETERS,
};
use crate::tasks::select::{matched, page, page_of_walk, Page, TaskFacts};
use crate::tasks::swaps::{apply_swaps, AppliedSwap};
use crate::tasks::vocabulary::{canonical, related_to_one_index, KINDS};

type Pairs = Query<Vec<(String, String)>>;

/// What the request's credentials allow, when the API-key middleware (`auth::mount`) ran;
/// absent behind the master-key-only guard, where everything is allowed.
type Caller = Auth;

/// The kept tasks as a caller sees them: their indexes as later swaps and renames left them,
/// read from the catalog task by task (a listing reads only the tasks it shows).
struct Visible<'c> {
    catalog: &'c Catalog,
    /// Every swap and rename that succeeded (deleted ones too), oldest first.
    swaps: Vec<AppliedSwap>,
    caller: AuthContext,
}

impl<'c> Visible<'c> {
    fn of(catalog: &'c Catalog, caller: &Caller) -> Self {
        let swaps = catalog.applied_renames().into_iter().map(|rename| AppliedSwap { uid: rename.uid, pairs: rename.pairs }).collect();
        Visible { catalog, swaps, caller: caller.0.clone() }
    }

    /// Whether the caller's key may see the task (Meilisearch's rule: with a key restricted to
    /// some indexes, only tasks of one index, that index allowed).
    fn shown(&self, task: &TaskFacts) -> bool {
        self.caller.task_visible(related_to_one_index(task.kind), task.indexes.iter().map(String::as_str))
    }

    /// A task's facts with the names later swaps gave it, and those names (original → now).
    fn renamed(&self, summary: &TaskSummary) -> (TaskFacts, Option<BTreeMap<String, String>>) {
        let mut facts = [facts(summary)];
        let mut renames = apply_swaps(&mut facts, &self.swaps);
        let [facts] = facts;
        (facts, renames.remove(&summary.uid))
    }

    /// Every kept task, newest first.
    fn all(&self) -> impl Iterator<Item = TaskFacts> + '_ {
        self.catalog.task_summaries().map(|summary| self.renamed(&summary).0)
    }

    /// The tasks a listing walks, in the order it shows them, from `paging.from` on.
    fn walk(&self, paging: &Paging) -> impl Iterator<Item = TaskFacts> + '_ {
        let from = paging.from.map(u64::from);
        self.catalog.task_summaries_from(from, paging.reverse).map(|summary| self.renamed(&summary).0)
    }

    /// `total`: every kept task the filter matches, counted without reading any when it
    /// matches them all.
    fn total(&self, filter: &TaskFilter) -> u64 {
        if filter.is_everything() {
            return self.catalog.task_count();
        }
        self.all().filter(|task| filter.matches(task)).count() as u64
    }

    fn facts(&self, uid: u64) -> Option<TaskFacts> {
        let summary = self.catalog.task_summary(uid)?;
        let (task, _) = self.renamed(&summary);
        self.shown(&task).then_some(task)
    }

    /// `GET /tasks/{uid}`'s object, with the index uids later swaps gave it.
    fn task_view(&self, uid: u64) -> Option<Map<String, Value>> {
        let summary = self.catalog.task_summary(uid)?;
        let (task, names) = self.renamed(&summary);
        if !self.shown(&task) {
            return None;
        }
        let mut view = self.catalog.task_view(uid)?;
        if let Some(names) = names {
            rename_indexes(&mut view, &names);
        }
        Some(view)
    }

    fn batch_view(&self, uid: u64) -> Option<Value> {
        batch_view(&self.task_view(uid)?, &self.facts(uid)?)
    }

    /// The started tasks (each its own batch), oldest first.
    fn started(&self) -> Vec<TaskFacts> {
        let mut started: Vec<TaskFacts> = self.all().filter(|task| task.batch_uid().is_some()).collect();
        started.reverse();
        started
    }
}

fn kind_name(task_type: TaskType) -> &'static str {
    let name = serde_json::to_value(task_type).expect("task types serialize");
    canonical(&KINDS, name.as_str().unwrap_or_default()).expect("every Miroir task type is a Meilisearch kind")
}

fn status_name(status: TaskStatus) -> &'static str {
    status.as_str()
}

/// Writes the names swaps gave a task into its view: its `indexUid` and, for a swap, the
/// indexes of its pairs (as Meilisearch rewrites them).
fn rename_indexes(view: &mut Map<String, Value>, names: &BTreeMap<String, String>) {
    let rename = |value: &mut Value| {
        if let Some(new) = value.as_str().and_then(|old| names.get(old)) {
            *value = Value::String(new.clone());
        }
    };
    if let Some(index_uid) = view.get_mut("indexUid") {
        rename(index_uid);
    }
    if let Some(Value::Array(swaps)) = view.get_mut("details").and_then(|details| details.get_mut("swaps")) {
        for swap in swaps {
            if let Some(Value::Array(indexes)) = swap.get_mut("indexes") {
                indexes.iter_mut().for_each(rename);
            }
        }
    }
}

/// The indexes a task concerns, as Meilisearch's `Task::indexes`: both sides of every swap,
/// the old and new uid of an index update, none for tasks of no index.
fn facts(summary: &TaskSummary) -> TaskFacts {
    let own = summary.index_uid.map(str::to_owned);
    let indexes = match (summary.task_type, summary.details) {
        (
            TaskType::TaskCancelation | TaskType::TaskDeletion | TaskType::DumpCreation | TaskType::SnapshotCreation | TaskType::Export,
            _,
        ) => Vec::new(),
        (TaskType::IndexSwap, Some(TaskDetails::IndexSwap { swaps })) => {
            swaps.iter().flat_map(|swap| swap.indexes.iter().cloned()).collect()
        }
        (TaskType::IndexSwap, _) => Vec::new(),
        (TaskType::IndexUpdate, Some(TaskDetails::IndexInfo { new_index_uid, .. })) => {
            own.into_iter().chain(new_index_uid.clone()).collect()
        }
        _ => own.into_iter().collect(),
    };
    TaskFacts {
        uid: summary.uid,
        kind: kind_name(summary.task_type),
        status: status_name(summary.status),
        indexes,
        enqueued_at: summary.enqueued_at,
        started_at: summary.started_at,
        finished_at: summary.finished_at,
        canceled_by: summary.canceled_by,
    }
}

fn list_body(results: Vec<Value>, query: &TaskQuery, page: &Page) -> Value {
    // Meilisearch asks its store for `limit + 1` (saturating) tasks and reports one less, so
    // `limit=4294967295` reads back as 4294967294.
    let limit = query.paging.limit.saturating_add(1) - 1;
    json!({"results": results, "total": page.total, "limit": limit, "from": page.from, "next": page.next})
}

/// `GET /tasks`.
pub async fn list(State(state): State<AppState>, caller: Caller, Query(pairs): Pairs) -> Result<Json<Value>, GatewayError> {
    let query = parse_query(&pairs, &LIST_PARAMETERS)?;
    let body = current_catalog(&state, |catalog| {
        let visible = Visible::of(catalog, &caller);
        let total = visible.total(&query.filter);
        let page = page_of_walk(&query, total, visible.walk(&query.paging), |task| visible.shown(task));
        let results = page.uids.iter().filter_map(|&uid| visible.task_view(uid)).map(Value::Object).collect();
        list_body(results, &query, &page)
    })
    .await?;
    Ok(Json(body))
}

/// `GET /tasks/{uid}`.
pub async fn get(State(state): State<AppState>, caller: Caller, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    let uid = path_task_uid(&uid)?;
    current_catalog(&state, |catalog| Visible::of(catalog, &caller).task_view(uid))
        .await?
        .map(|view| Json(Value::Object(view)))
        .ok_or_else(|| GatewayError::meili(Code::TaskNotFound, format!("Task `{uid}` not found.")))
}

/// `GET /batches`: one batch per started task (see `tasks/batch_view.rs`).
pub async fn list_batches(State(state): State<AppState>, caller: Caller, Query(pairs): Pairs) -> Result<Json<Value>, GatewayError> {
    let query = parse_query(&pairs, &LIST_PARAMETERS)?;
    let body = current_catalog(&state, |catalog| {
        let visible = Visible::of(catalog, &caller);
        let page = page(&query, &visible.started(), |task| visible.shown(task));
        let results = page.uids.iter().filter_map(|&uid| visible.batch_view(uid)).collect();
        list_body(results, &query, &page)
    })
    .await?;
    Ok(Json(body))
}

/// `GET /batches/{uid}`.
pub async fn get_batch(State(state): State<AppState>, caller: Caller, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    let uid = path_batch_uid(&uid)?;
    current_catalog(&state, |catalog| Visible::of(catalog, &caller).batch_view(uid))
        .await?
        .map(Json)
        .ok_or_else(|| GatewayError::meili(Code::BatchNotFound, format!("Batch `{uid}` not found.")))
}

/// `POST /tasks/cancel`: registers a `taskCancelation` (see the module comment for what it
/// can and cannot do). Meilisearch answers `200` here, not `202`.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    Query(pairs): Pairs,
) -> Result<(StatusCode, Json<Map<String, Value>>), GatewayError> {
    register(&state, &caller, raw, &pairs, TaskType::TaskCancelation).await
}

/// `DELETE /tasks`: registers a `taskDeletion`. Meilisearch answers `200` here, not `202`.
/// It matches, and deletes, only tasks the caller may see.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    Query(pairs): Pairs,
) -> Result<(StatusCode, Json<Map<String, Value>>), GatewayError> {
    register(&state, &caller, raw, &pairs, TaskType::TaskDeletion).await
}

async fn register(
    state: &AppState,
    caller: &Caller,
    raw: Option<String>,
    pairs: &[(String, String)],
    task_type: TaskType,
) -> Result<(StatusCode, Json<Map<String, Value>>), GatewayError> {
    let query = parse_query(pairs, &FILTER_PARAMETERS)?;
    let cancel = task_type == TaskType::TaskCancelation;
    if !query.filtered {
        return Err(missing_filters(if cancel { "cancel" } else { "delete" }).into());
    }
    // Meilisearch keeps the query string exactly as sent, `?` included.
    let original_filter = format!("?{}", raw.unwrap_or_default());
    if !cancel {
        // Which matched tasks are finished is read from `task-events`: catch up with them too.
        state.catalog().catch_up_everywhere(state.log(), CATCH_UP).await?;
    }
    let budget = deletion_budget(state, &original_filter);
    let (matched_tasks, cancels, deletes) = current_catalog(state, |catalog| {
        let visible = Visible::of(catalog, caller);
        let tasks: Vec<TaskFacts> = visible.all().collect();
        let uids = matched(&query.filter, &tasks, |task| visible.shown(task));
        let matched_tasks = uids.len() as u64;
        if cancel {
            (matched_tasks, Some(catalog.cancelable_tasks(&uids)), None)
        } else {
            (matched_tasks, None, Some(catalog.plan_deletion(uids, budget)))
        }
    })
    .await?;
    let details = if cancel {
        TaskDetails::TaskCancelation { matched_tasks, canceled_tasks: None, original_filter }
    } else {
        TaskDetails::TaskDeletion { matched_tasks, deleted_tasks: None, original_filter }
    };
    let record = TaskRecord::new(task_type, None, Some(details), OffsetDateTime::now_utc());
    let entry = TaskLogEntry { deletes, ..TaskLogEntry::new(record) };
    let body = enqueue(state, Write { entry, layout: None, ops: Vec::new(), cancels }).await?;
    Ok((StatusCode::OK, Json(body)))
}

/// How long a deletion waits for this gateway to fold every log before deciding.
const CATCH_UP: Duration = Duration::from_secs(10);
/// Bytes of a `taskDeletion` record left for everything but the tasks it names.
const DELETION_RECORD_OVERHEAD: usize = 8 * 1024;

/// Bytes the tasks a deletion names may take in its record.
fn deletion_budget(state: &AppState, original_filter: &str) -> usize {
    state.log().max_payload_bytes().saturating_sub(DELETION_RECORD_OVERHEAD + original_filter.len())
}

/// Registers Meilisearch's automatic cleanup when folding task `trigger` (which this gateway
/// appended) found the task store full (`catalog/cleanup.rs`); logs what fails, as Meilisearch
/// does, and leaves a later write to try again.
pub async fn clean_up_task_store(state: AppState, trigger: u64) {
    // The view may lag on task events; finished tasks it sees are finished everywhere.
    let budget = deletion_budget(&state, "?beforeEnqueuedAt=0000-00-00T00:00:00.000000000Z&statuses=succeeded,failed,canceled");
    let Some(entry) = state.catalog().read(|catalog| catalog.automatic_deletion(OffsetDateTime::now_utc(), budget)) else { return };
    let dedup = format!("task-cleanup:{trigger}");
    match state.log().append(Topic::Tasks, "tasks", &dedup, Bytes::from(encode(&entry))).await {
        Ok(position) => tracing::info!(task_uid = position.offset, trigger, "registered the automatic cleanup of the task store"),
        Err(error) => tracing::error!(trigger, %error, "could not register the automatic cleanup of the task store"),
    }
}

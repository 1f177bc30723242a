//! `/tasks`, `/tasks/{uid}`, `POST /tasks/cancel`, `DELETE /tasks`, `/batches`,
//! `/batches/{uid}`, answered from the folded catalog with Meilisearch 1.50's filters, paging
//! and errors (the rules themselves live in `gateway/src/tasks/`, pure).
//!
//! Cancelation and deletion are tasks like any other: a record in `tasks` whose position is
//! its uid, with nothing sent to the nodes, so it succeeds as soon as it is folded.
//! * Deletion removes, deterministically from the folded facts, every earlier task its filter
//!   selects that had finished when it was enqueued (see `select::apply_deletions`); the views
//!   here hide them and its `deletedTasks` is how many it removed.
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
use time::OffsetDateTime;

use crate::auth::{Auth, AuthContext};
use crate::catalog::{Catalog, TaskLogEntry, TaskSummary};
use crate::enqueue::{enqueue, Write};
use crate::error::GatewayError;
use crate::routes::write::current_catalog;
use crate::state::AppState;

use crate::tasks::batch_view::batch_view;
use crate::tasks::query::{missing_filters, parse_query, path_batch_uid, path_task_uid, TaskQuery, FILTER_PARAMETERS, LIST_PARAMETERS};
use crate::tasks::select::{apply_deletions, matched, page, Deleted, Deletion, Page, TaskFacts};
use crate::tasks::swaps::{apply_swaps, AppliedSwap, Renames};
use crate::tasks::vocabulary::{canonical, related_to_one_index, KINDS};

type Pairs = Query<Vec<(String, String)>>;

/// What the request's credentials allow, when the API-key middleware (`auth::mount`) ran;
/// absent behind the master-key-only guard, where everything is allowed.
type Caller = Auth;

/// The tasks still shown (deleted ones left out), their indexes as swaps left them, and what
/// the deletions did, read from the catalog in one go.
struct Visible<'c> {
    catalog: &'c Catalog,
    /// Oldest first.
    tasks: Vec<TaskFacts>,
    renames: Renames,
    deleted: Deleted,
    caller: AuthContext,
}

impl<'c> Visible<'c> {
    fn of(catalog: &'c Catalog, caller: &Caller) -> Self {
        let mut tasks = Vec::new();
        let mut deletions = Vec::new();
        let mut swaps = Vec::new();
        for summary in catalog.task_summaries() {
            let view = needs_view(summary.task_type).then(|| catalog.task_view(summary.uid)).flatten();
            match summary.task_type {
                TaskType::TaskDeletion => deletions.push(deletion(&summary, view.as_ref())),
                TaskType::IndexSwap if summary.status == TaskStatus::Succeeded => {
                    swaps.push(AppliedSwap { uid: summary.uid, pairs: swap_pairs(view.as_ref()) })
                }
                // A rename moves the earlier tasks as a swap with a missing index does.
                TaskType::IndexUpdate if summary.status == TaskStatus::Succeeded => {
                    let renamed = summary.index_uid.clone().zip(details_str(view.as_ref(), "newIndexUid").map(str::to_owned));
                    if let Some(pair) = renamed.filter(|(old, new)| old != new) {
                        swaps.push(AppliedSwap { uid: summary.uid, pairs: vec![pair] });
                    }
                }
                _ => {}
            }
            tasks.push(facts(&summary, view.as_ref()));
        }
        tasks.reverse();
        let renames = apply_swaps(&mut tasks, &swaps);
        let deleted = apply_deletions(&tasks, &deletions);
        tasks.retain(|task| !deleted.hidden.contains(&task.uid));
        Visible { catalog, tasks, renames, deleted, caller: caller.0.clone() }
    }

    /// Whether the caller's key may see the task (Meilisearch's rule: with a key restricted to
    /// some indexes, only tasks of one index, that index allowed).
    fn shown(&self, task: &TaskFacts) -> bool {
        self.caller.task_visible(related_to_one_index(task.kind), task.indexes.iter().map(String::as_str))
    }

    fn facts(&self, uid: u64) -> Option<&TaskFacts> {
        let task = self.tasks.binary_search_by_key(&uid, |task| task.uid).ok().map(|at| &self.tasks[at])?;
        self.shown(task).then_some(task)
    }

    /// `GET /tasks/{uid}`'s object, with the index uids later swaps gave it and a deletion's
    /// `deletedTasks` filled in.
    fn task_view(&self, uid: u64) -> Option<Map<String, Value>> {
        self.facts(uid)?;
        let mut view = self.catalog.task_view(uid)?;
        if let Some(names) = self.renames.get(&uid) {
            rename_indexes(&mut view, names);
        }
        if let (Some(count), Some(Value::Object(details))) = (self.deleted.counts.get(&uid), view.get_mut("details")) {
            // `null` until the deletion ran; deletions touch no node, so they run when folded.
            if details.get("deletedTasks").is_some_and(Value::is_number) {
                details.insert("deletedTasks".into(), json!(count));
            }
        }
        Some(view)
    }

    fn batch_view(&self, uid: u64) -> Option<Value> {
        batch_view(&self.task_view(uid)?, self.facts(uid)?)
    }

    fn started(&self) -> Vec<TaskFacts> {
        self.tasks.iter().filter(|task| task.batch_uid().is_some()).cloned().collect()
    }
}

/// Kinds whose facts need more than the summary: the indexes of a swap or rename, the filter
/// of a deletion.
fn needs_view(task_type: TaskType) -> bool {
    matches!(task_type, TaskType::IndexSwap | TaskType::IndexUpdate | TaskType::TaskDeletion)
}

fn kind_name(task_type: TaskType) -> &'static str {
    let name = serde_json::to_value(task_type).expect("task types serialize");
    canonical(&KINDS, name.as_str().unwrap_or_default()).expect("every Miroir task type is a Meilisearch kind")
}

fn status_name(status: TaskStatus) -> &'static str {
    status.as_str()
}

/// The `(lhs, rhs)` pairs of a swap task, from its view's details.
fn swap_pairs(view: Option<&Map<String, Value>>) -> Vec<(String, String)> {
    let swaps = view.and_then(|view| view.get("details")?.get("swaps")?.as_array().cloned()).unwrap_or_default();
    swaps
        .iter()
        .filter_map(|swap| match swap.get("indexes")?.as_array()?.as_slice() {
            [Value::String(lhs), Value::String(rhs)] => Some((lhs.clone(), rhs.clone())),
            _ => None,
        })
        .collect()
}

/// Writes the names swaps gave a task into its view: its `indexUid` and, for a swap, the
/// indexes of its pairs (as Meilisearch rewrites them).
fn rename_indexes(view: &mut Map<String, Value>, names: &std::collections::BTreeMap<String, String>) {
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

fn details_str<'v>(view: Option<&'v Map<String, Value>>, key: &str) -> Option<&'v str> {
    view?.get("details")?.get(key)?.as_str()
}

fn facts(summary: &TaskSummary, view: Option<&Map<String, Value>>) -> TaskFacts {
    let own = summary.index_uid.iter().cloned();
    let indexes = match summary.task_type {
        TaskType::TaskCancelation | TaskType::TaskDeletion => Vec::new(),
        TaskType::IndexSwap => view
            .and_then(|view| view.get("details")?.get("swaps")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|swap| swap.get("indexes")?.as_array().cloned())
            .flatten()
            .filter_map(|uid| uid.as_str().map(str::to_owned))
            .collect(),
        TaskType::IndexUpdate => own.chain(details_str(view, "newIndexUid").map(str::to_owned)).collect(),
        _ => own.collect(),
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

/// A deletion task's filter, read back from its `originalFilter` (the query string it was
/// given, already validated then). One that cannot be read deletes nothing.
fn deletion(summary: &TaskSummary, view: Option<&Map<String, Value>>) -> Deletion {
    let filter = details_str(view, "originalFilter")
        .and_then(|original| format!("/tasks{original}").parse::<axum::http::Uri>().ok())
        .and_then(|uri| Pairs::try_from_uri(&uri).ok())
        .and_then(|Query(pairs)| parse_query(&pairs, &FILTER_PARAMETERS).ok())
        .map(|query| query.filter);
    let filter = filter.unwrap_or_else(|| {
        tracing::error!(uid = summary.uid, "unreadable taskDeletion filter; it deletes nothing");
        crate::tasks::query::TaskFilter { uids: Some(Vec::new()), ..Default::default() }
    });
    Deletion { uid: summary.uid, enqueued_at: summary.enqueued_at, filter }
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
        let page = page(&query, &visible.tasks, |task| visible.shown(task));
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
/// Its `matchedTasks` counts only tasks the caller may see, but what it deletes is decided
/// from its filter alone: the caller's index restriction is not recorded in the log, so a
/// deletion through a key restricted to some indexes also removes matching tasks of others.
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
    let (matched_tasks, cancels) = current_catalog(state, |catalog| {
        let visible = Visible::of(catalog, caller);
        let uids = matched(&query.filter, &visible.tasks, |task| visible.shown(task));
        (uids.len() as u64, cancel.then(|| catalog.cancelable_tasks(&uids)))
    })
    .await?;
    // Meilisearch keeps the query string exactly as sent, `?` included.
    let original_filter = format!("?{}", raw.unwrap_or_default());
    let details = if cancel {
        TaskDetails::TaskCancelation { matched_tasks, canceled_tasks: None, original_filter }
    } else {
        TaskDetails::TaskDeletion { matched_tasks, deleted_tasks: None, original_filter }
    };
    let record = TaskRecord::new(task_type, None, Some(details), OffsetDateTime::now_utc());
    let body = enqueue(state, Write { entry: TaskLogEntry::new(record), ops: Vec::new(), cancels }).await?;
    Ok((StatusCode::OK, Json(body)))
}

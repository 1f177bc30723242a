//! `/tasks` and `/batches`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::AppState;
use crate::standin::error::{ApiError, ApiResult};
use crate::standin::tasks::{Task, TASK_STATUSES, TASK_TYPES};
use miroir_schemas::error::Code;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tasks", get(list_tasks))
        .route("/tasks/{uid}", get(get_task))
        .route("/batches", get(list_batches))
        .route("/batches/{uid}", get(get_batch))
}

/// The filters of `GET /tasks` and `GET /batches`.
struct TaskFilter {
    uids: Option<Vec<u64>>,
    statuses: Option<Vec<String>>,
    types: Option<Vec<String>>,
    index_uids: Option<Vec<String>>,
    limit: usize,
    from: Option<u64>,
    reverse: bool,
}

fn list(value: &str) -> Vec<String> {
    value.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

fn invalid(code: Code, param: &str, detail: String) -> ApiError {
    ApiError::new(code, format!("Invalid value in parameter `{param}`: {detail}"))
}

fn parse_filter(query: &[(String, String)]) -> ApiResult<TaskFilter> {
    let mut f = TaskFilter { uids: None, statuses: None, types: None, index_uids: None, limit: 20, from: None, reverse: false };
    for (k, v) in query {
        match k.as_str() {
            "uids" | "batchUids" if v != "*" => {
                let code = if k == "uids" { Code::InvalidTaskUids } else { Code::InvalidBatchUids };
                let mut uids = Vec::new();
                for item in list(v) {
                    uids.push(item.parse::<u64>().map_err(|e| invalid(code, k, format!("could not parse `{item}` as a positive integer: {e}")))?);
                }
                if k == "uids" {
                    f.uids = Some(uids);
                }
            }
            "statuses" if v != "*" => {
                let items = list(v);
                if let Some(bad) = items.iter().find(|s| !TASK_STATUSES.contains(&s.as_str())) {
                    return Err(invalid(Code::InvalidTaskStatuses, k, format!("`{bad}` is not a valid task status. Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, `canceled`.")));
                }
                f.statuses = Some(items);
            }
            "types" if v != "*" => {
                let items = list(v);
                if let Some(bad) = items.iter().find(|s| !TASK_TYPES.contains(&s.as_str())) {
                    let all = TASK_TYPES.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
                    return Err(invalid(Code::InvalidTaskTypes, k, format!("`{bad}` is not a valid task type. Available types are {all}.")));
                }
                f.types = Some(items);
            }
            "indexUids" if v != "*" => f.index_uids = Some(list(v)),
            "limit" => f.limit = v.parse().map_err(|e| invalid(Code::InvalidTaskLimit, k, format!("could not parse `{v}` as a positive integer: {e}")))?,
            "from" => f.from = Some(v.parse().map_err(|e| invalid(Code::InvalidTaskFrom, k, format!("could not parse `{v}` as a positive integer: {e}")))?),
            "reverse" => f.reverse = match v.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(invalid(Code::InvalidTaskReverse, k, format!("could not parse `{v}` as a boolean, expected either `true` or `false`"))),
            },
            _ => {}
        }
    }
    Ok(f)
}

impl TaskFilter {
    fn keeps(&self, t: &Task) -> bool {
        self.uids.as_ref().is_none_or(|u| u.contains(&t.uid))
            && self.statuses.as_ref().is_none_or(|s| s.iter().any(|x| x == t.status.as_str()))
            && self.types.as_ref().is_none_or(|s| s.iter().any(|x| x == t.kind.type_name()))
            && self.index_uids.as_ref().is_none_or(|s| t.index_uid.as_ref().is_some_and(|i| s.contains(i)))
    }

    /// `{results, total, limit, from, next}` over the tasks this filter keeps.
    fn page(&self, tasks: &[Task], view: impl Fn(&Task) -> Option<Value>) -> Value {
        let mut kept: Vec<&Task> = tasks.iter().filter(|t| self.keeps(t) && view(t).is_some()).collect();
        if !self.reverse {
            kept.reverse();
        }
        let total = kept.len();
        let start = self.from.map_or(0, |from| {
            kept.iter().position(|t| if self.reverse { t.uid >= from } else { t.uid <= from }).unwrap_or(kept.len())
        });
        let window: Vec<&Task> = kept.iter().skip(start).take(self.limit).copied().collect();
        let next = kept.get(start + self.limit).map(|t| t.uid);
        json!({
            "results": window.iter().filter_map(|t| view(t)).collect::<Vec<_>>(),
            "total": total,
            "limit": self.limit,
            "from": window.first().map(|t| t.uid),
            "next": next,
        })
    }
}

async fn list_tasks(State(shared): State<AppState>, Query(query): Query<Vec<(String, String)>>) -> ApiResult<Json<Value>> {
    let filter = parse_filter(&query)?;
    let store = shared.lock();
    Ok(Json(filter.page(&store.tasks, |t| Some(t.view()))))
}

async fn get_task(State(shared): State<AppState>, Path(uid): Path<String>) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::new(Code::TaskNotFound, format!("Task `{uid}` not found."));
    let n: u64 = uid.parse().map_err(|_| ApiError::new(Code::InvalidTaskUids, format!("Invalid value in parameter `taskUid`: could not parse `{uid}` as a positive integer")))?;
    let store = shared.lock();
    store.tasks.get(n as usize).map(|t| Json(t.view())).ok_or_else(not_found)
}

async fn list_batches(State(shared): State<AppState>, Query(query): Query<Vec<(String, String)>>) -> ApiResult<Json<Value>> {
    let filter = parse_filter(&query)?;
    let store = shared.lock();
    Ok(Json(filter.page(&store.tasks, Task::batch_view)))
}

async fn get_batch(State(shared): State<AppState>, Path(uid): Path<u64>) -> ApiResult<Json<Value>> {
    let store = shared.lock();
    store
        .tasks
        .iter()
        .find(|t| t.batch_uid == Some(uid))
        .and_then(Task::batch_view)
        .map(Json)
        .ok_or_else(|| ApiError::new(Code::BatchNotFound, format!("Batch `{uid}` not found.")))
}

//! `/tasks`, `/tasks/{uid}`, `/batches`, `/batches/{uid}`, answered from the folded catalog.
//! Miroir has no batches of its own: a task is its own batch once it starts (as `batchUid`
//! in the task view says).

use axum::extract::{Path, Query, State};
use axum::Json;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::auth::json_error::query_param_unexpected;
use crate::catalog::{Catalog, TaskSummary};
use crate::error::GatewayError;
use crate::params::QueryParams;
use crate::routes::write::current_catalog;
use crate::state::AppState;

const DEFAULT_LIMIT: u64 = 20;

const STATUSES: [&str; 5] = ["enqueued", "processing", "succeeded", "failed", "canceled"];
const TYPES: [&str; 15] = [
    "documentAdditionOrUpdate", "documentEdition", "documentDeletion", "settingsUpdate", "indexCreation", "indexDeletion",
    "indexUpdate", "indexSwap", "taskCancelation", "taskDeletion", "dumpCreation", "snapshotCreation", "export",
    "upgradeDatabase", "indexCompaction",
];
const DATE_FILTERS: [(&str, Code); 6] = [
    ("afterEnqueuedAt", Code::InvalidTaskAfterEnqueuedAt),
    ("beforeEnqueuedAt", Code::InvalidTaskBeforeEnqueuedAt),
    ("afterStartedAt", Code::InvalidTaskAfterStartedAt),
    ("beforeStartedAt", Code::InvalidTaskBeforeStartedAt),
    ("afterFinishedAt", Code::InvalidTaskAfterFinishedAt),
    ("beforeFinishedAt", Code::InvalidTaskBeforeFinishedAt),
];
const PARAMS: [&str; 15] = [
    "limit", "from", "reverse", "uids", "batchUids", "canceledBy", "types", "statuses", "indexUids", "afterEnqueuedAt",
    "beforeEnqueuedAt", "afterStartedAt", "beforeStartedAt", "afterFinishedAt", "beforeFinishedAt",
];

/// A `/tasks` (or `/batches`) query, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskQuery {
    pub limit: u64,
    pub from: Option<u64>,
    pub reverse: bool,
    pub uids: Option<Vec<u64>>,
    pub statuses: Option<Vec<String>>,
    pub types: Option<Vec<String>>,
    pub index_uids: Option<Vec<String>>,
    /// `(parameter, bound)`: after-bounds are exclusive lower bounds, before-bounds exclusive upper.
    pub dates: Vec<(&'static str, OffsetDateTime)>,
}

fn uid_list(query: &QueryParams, name: &str, code: Code) -> Result<Option<Vec<u64>>, ResponseError> {
    let Some(values) = query.list(name) else { return Ok(None) };
    if values.contains(&"*") {
        return Ok(None);
    }
    values
        .iter()
        .map(|v| v.parse().map_err(|_| ResponseError::new(code, query_param_unexpected(name, &format!("could not parse `{v}` as a positive integer")))))
        .collect::<Result<_, _>>()
        .map(Some)
}

fn word_list(query: &QueryParams, name: &str, accepted: &[&str], code: Code, what: &str, plural: &str) -> Result<Option<Vec<String>>, ResponseError> {
    let Some(values) = query.list(name) else { return Ok(None) };
    if values.contains(&"*") {
        return Ok(None);
    }
    for value in &values {
        if !accepted.contains(value) {
            let listed = accepted.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ");
            return Err(ResponseError::new(
                code,
                query_param_unexpected(name, &format!("`{value}` is not a valid {what}. Available {plural} are {listed}.")),
            ));
        }
    }
    Ok(Some(values.into_iter().map(str::to_owned).collect()))
}

fn parse_date(name: &str, text: &str, code: Code) -> Result<OffsetDateTime, ResponseError> {
    use time::format_description::well_known::Rfc3339;
    let date_only = time::macros::format_description!("[year]-[month]-[day]");
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| time::Date::parse(text, &date_only).map(|d| d.midnight().assume_utc()))
        .map_err(|_| {
            ResponseError::new(
                code,
                query_param_unexpected(name, &format!("`{text}` is an invalid date-time. It should follow the YYYY-MM-DD or RFC 3339 date-time format.")),
            )
        })
}

impl TaskQuery {
    pub fn parse(query: &QueryParams) -> Result<TaskQuery, ResponseError> {
        query.check(&PARAMS)?;
        let mut dates = Vec::new();
        for (name, code) in DATE_FILTERS {
            if let Some(text) = query.get(name) {
                dates.push((name, parse_date(name, text, code)?));
            }
        }
        Ok(TaskQuery {
            limit: query.integer("limit", Code::InvalidTaskLimit)?.unwrap_or(DEFAULT_LIMIT),
            from: query.integer("from", Code::InvalidTaskFrom)?,
            reverse: query.boolean("reverse", Code::InvalidTaskReverse)?.unwrap_or(false),
            uids: uid_list(query, "uids", Code::InvalidTaskUids)?,
            statuses: word_list(query, "statuses", &STATUSES, Code::InvalidTaskStatuses, "task status", "statuses")?,
            types: word_list(query, "types", &TYPES, Code::InvalidTaskTypes, "task type", "types")?,
            index_uids: query.list("indexUids").filter(|v| !v.contains(&"*")).map(|v| v.into_iter().map(str::to_owned).collect()),
            dates,
        })
    }

    /// Whether a task passes every filter (not `from`/`limit`).
    pub fn matches(&self, task: &TaskSummary) -> bool {
        let type_name = serde_json::to_value(task.task_type).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let in_list = |list: &Option<Vec<String>>, value: &str| list.as_ref().is_none_or(|l| l.iter().any(|x| x == value));
        let date_ok = self.dates.iter().all(|(name, bound)| {
            let value = match *name {
                "afterEnqueuedAt" | "beforeEnqueuedAt" => Some(task.enqueued_at),
                "afterStartedAt" | "beforeStartedAt" => task.started_at,
                _ => task.finished_at,
            };
            value.is_some_and(|v| if name.starts_with("after") { v > *bound } else { v < *bound })
        });
        self.uids.as_ref().is_none_or(|uids| uids.contains(&task.uid))
            && in_list(&self.statuses, task.status.as_str())
            && in_list(&self.types, &type_name)
            && task.index_uid.as_deref().map_or(self.index_uids.is_none(), |uid| in_list(&self.index_uids, uid))
            && date_ok
    }

    /// The page: matching uids from `from` on (newest first unless `reverse`), the total
    /// number of matches, and the uid the next page starts at.
    pub fn page(&self, tasks: impl Iterator<Item = TaskSummary>) -> (Vec<u64>, usize, Option<u64>) {
        let mut matching: Vec<u64> = tasks.filter(|t| self.matches(t)).map(|t| t.uid).collect();
        matching.sort_unstable();
        if !self.reverse {
            matching.reverse();
        }
        let total = matching.len();
        let start = matching.iter().position(|&uid| match self.from {
            None => true,
            Some(from) if self.reverse => uid >= from,
            Some(from) => uid <= from,
        });
        let rest = start.map_or(&[][..], |s| &matching[s..]);
        let page: Vec<u64> = rest.iter().take(self.limit as usize).copied().collect();
        let next = rest.get(self.limit as usize).copied();
        (page, total, next)
    }
}

fn list_body(results: Vec<Value>, total: usize, query: &TaskQuery, first: Option<u64>, next: Option<u64>) -> Value {
    json!({"results": results, "total": total, "limit": query.limit, "from": first, "next": next})
}

/// `GET /tasks`.
pub async fn list(State(state): State<AppState>, Query(query): Query<Vec<(String, String)>>) -> Result<Json<Value>, GatewayError> {
    let query = TaskQuery::parse(&QueryParams(query))?;
    let body = current_catalog(&state, |catalog| {
        let (page, total, next) = query.page(catalog.task_summaries());
        let results = page.iter().filter_map(|&uid| catalog.task_view(uid)).map(Value::Object).collect();
        list_body(results, total, &query, page.first().copied(), next)
    })
    .await?;
    Ok(Json(body))
}

fn parse_uid(text: &str, parameter: &str, code: Code) -> Result<u64, ResponseError> {
    text.parse()
        .map_err(|_| ResponseError::new(code, query_param_unexpected(parameter, &format!("could not parse `{text}` as a positive integer"))))
}

/// `GET /tasks/{uid}`.
pub async fn get(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    let uid = parse_uid(&uid, "taskUid", Code::InvalidTaskUids)?;
    current_catalog(&state, |catalog| catalog.task_view(uid))
        .await?
        .map(|view| Json(Value::Object(view)))
        .ok_or_else(|| GatewayError::meili(Code::TaskNotFound, format!("Task `{uid}` not found.")))
}

/// A started task as Meilisearch shows the batch that ran it.
fn batch_view(catalog: &Catalog, uid: u64) -> Option<Value> {
    let task = catalog.task_view(uid)?;
    if task.get("startedAt").is_none_or(Value::is_null) {
        return None;
    }
    let one = |key: &str| -> Map<String, Value> {
        match task.get(key) {
            Some(Value::String(name)) => Map::from_iter([(name.clone(), json!(1))]),
            _ => Map::new(),
        }
    };
    Some(json!({
        "uid": uid,
        "progress": null,
        "details": task.get("details").cloned().unwrap_or_else(|| json!({})),
        "stats": {
            "totalNbTasks": 1,
            "status": one("status"),
            "types": one("type"),
            "indexUids": one("indexUid"),
            "progressTrace": {},
        },
        "duration": task.get("duration").cloned().unwrap_or(Value::Null),
        "startedAt": task.get("startedAt").cloned().unwrap_or(Value::Null),
        "finishedAt": task.get("finishedAt").cloned().unwrap_or(Value::Null),
        "batchStrategy": "batched all enqueued tasks",
    }))
}

/// `GET /batches`.
pub async fn list_batches(State(state): State<AppState>, Query(query): Query<Vec<(String, String)>>) -> Result<Json<Value>, GatewayError> {
    let params = QueryParams(query);
    let mut query = TaskQuery::parse(&params)?;
    query.uids = uid_list(&params, "batchUids", Code::InvalidBatchUids)?.or(query.uids);
    let body = current_catalog(&state, |catalog| {
        let started = catalog.task_summaries().filter(|t| t.started_at.is_some());
        let (page, total, next) = query.page(started);
        let results = page.iter().filter_map(|&uid| batch_view(catalog, uid)).collect();
        list_body(results, total, &query, page.first().copied(), next)
    })
    .await?;
    Ok(Json(body))
}

/// `GET /batches/{uid}`.
pub async fn get_batch(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    let uid = parse_uid(&uid, "batchUid", Code::InvalidBatchUids)?;
    current_catalog(&state, |catalog| batch_view(catalog, uid))
        .await?
        .map(Json)
        .ok_or_else(|| GatewayError::meili(Code::BatchNotFound, format!("Batch `{uid}` not found.")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::task_log::TaskType;
    use miroir_schemas::tasks::TaskStatus;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    fn summary(uid: u64, status: TaskStatus, index: &str) -> TaskSummary {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000 + uid as i64).unwrap();
        TaskSummary {
            uid,
            index_uid: Some(index.into()),
            task_type: TaskType::DocumentAdditionOrUpdate,
            status,
            enqueued_at: at,
            started_at: Some(at),
            finished_at: Some(at),
        }
    }

    #[test]
    fn transcript_invalid_status_filter() {
        let error = TaskQuery::parse(&params(&[("statuses", "nope")])).unwrap_err();
        assert_eq!(error.code, "invalid_task_statuses");
        assert_eq!(
            error.message,
            "Invalid value in parameter `statuses`: `nope` is not a valid task status. Available statuses are `enqueued`, `processing`, `succeeded`, `failed`, `canceled`."
        );
    }

    #[test]
    fn pages_go_newest_first_with_next() {
        let tasks: Vec<_> = (0..19).map(|uid| summary(uid, if uid % 2 == 0 { TaskStatus::Succeeded } else { TaskStatus::Failed }, "packages")).collect();
        let query = TaskQuery::parse(&params(&[("limit", "3")])).unwrap();
        assert_eq!(query.page(tasks.iter().cloned()), (vec![18, 17, 16], 19, Some(15)));
        let failed = TaskQuery::parse(&params(&[("statuses", "failed"), ("indexUids", "packages"), ("limit", "2"), ("from", "10")])).unwrap();
        assert_eq!(failed.page(tasks.iter().cloned()), (vec![9, 7], 9, Some(5)));
        let reverse = TaskQuery::parse(&params(&[("reverse", "true"), ("uids", "0,1,5"), ("from", "1")])).unwrap();
        assert_eq!(reverse.page(tasks.iter().cloned()), (vec![1, 5], 3, None));
        let none = TaskQuery::parse(&params(&[("indexUids", "other")])).unwrap();
        assert_eq!(none.page(tasks.into_iter()), (vec![], 0, None));
    }

    #[test]
    fn date_filters_are_exclusive_bounds() {
        let tasks: Vec<_> = (0..5).map(|uid| summary(uid, TaskStatus::Succeeded, "a")).collect();
        let query = TaskQuery::parse(&params(&[("afterEnqueuedAt", "2023-11-14T22:13:21Z"), ("beforeEnqueuedAt", "2023-11-14T22:13:24Z")])).unwrap();
        assert_eq!(query.page(tasks.into_iter()).0, vec![3, 2]);
        assert_eq!(TaskQuery::parse(&params(&[("afterStartedAt", "yesterday")])).unwrap_err().code, "invalid_task_after_started_at");
    }
}

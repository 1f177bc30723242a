//! Folds a task's record and the per-replica events into the task object Meilisearch's
//! `GET /tasks/{uid}` returns, so a Miroir task reads like one node's task.
//!
//! Rules: the task is `enqueued` until a replica reports, `processing` until every expected
//! (shard, replica) has reported, then `succeeded` if all of them succeeded, else `failed` with
//! the first failing replica's error (in event order). Counts are summed over shards taking one
//! replica per shard (the first the targets list), as one node holding all the data would report
//! them.

use crate::cancelation::Canceled;
use crate::details::DetailCounts;
use crate::error::ResponseError;
use crate::task_log::{ReplicaStatus, TaskEvent, TaskRecord};
use crate::topology::ShardId;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// A task's lifecycle state, spelled as Meilisearch spells it: a Miroir task's and a node task's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskStatus {
    Enqueued,
    Processing,
    Succeeded,
    Failed,
    Canceled,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Enqueued => "enqueued",
            TaskStatus::Processing => "processing",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
            TaskStatus::Canceled => "canceled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled)
    }
}

/// The folded state of one task, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    pub status: TaskStatus,
    pub error: Option<ResponseError>,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    /// Counts summed over shards (one replica per shard); only meaningful once finished.
    pub counts: DetailCounts,
}

/// Folds the events of one task (in log order; events of other tasks, of unexpected
/// (shard, replica) pairs and repeats of a pair are ignored).
pub fn fold_task(task_uid: u64, record: &TaskRecord, events: &[TaskEvent]) -> TaskState {
    if let Some(error) = &record.error {
        // Known to fail before reaching any node: it "ran" at enqueue time.
        return TaskState {
            status: TaskStatus::Failed,
            error: Some(error.clone()),
            started_at: Some(record.enqueued_at),
            finished_at: Some(record.enqueued_at),
            counts: DetailCounts::default(),
        };
    }
    let expected: HashSet<(ShardId, &str)> =
        record.targets.iter().flat_map(|t| t.replicas.iter().map(move |r| (t.shard, r.as_str()))).collect();
    let mut seen = HashSet::new();
    let relevant: Vec<&TaskEvent> = events
        .iter()
        .filter(|e| e.task_uid == task_uid)
        .filter(|e| expected.contains(&(e.shard, e.replica.as_str())))
        .filter(|e| seen.insert((e.shard, e.replica.as_str())))
        .collect();

    let started_at = relevant.iter().map(|e| e.started_at).min().or(expected.is_empty().then_some(record.enqueued_at));
    if relevant.len() < expected.len() {
        let status = if relevant.is_empty() { TaskStatus::Enqueued } else { TaskStatus::Processing };
        return TaskState { status, error: None, started_at, finished_at: None, counts: DetailCounts::default() };
    }
    let finished_at = relevant.iter().map(|e| e.finished_at).max().or(started_at);
    let first_failure = relevant.iter().find(|e| e.status == ReplicaStatus::Failed);
    match first_failure {
        Some(failed) => TaskState {
            status: TaskStatus::Failed,
            error: Some(match &failed.error {
                Some(error) => {
                    let mut error = error.clone();
                    error.message = crate::node_layout::client_message(&error.message);
                    error
                }
                None => ResponseError::new(crate::error::Code::Internal, "A replica failed without reporting an error."),
            }),
            started_at,
            finished_at,
            counts: DetailCounts::default(),
        },
        None => {
            // Per shard, the replica listed first in the targets (rank 0 of the first group): a
            // node index holds several shards of one rank, and a count a node reports for the
            // whole index (an index deletion) is booked on one of them, so taking one rank
            // everywhere adds every node index of that rank exactly once.
            let listed_at = |event: &TaskEvent| {
                let target = record.targets.iter().find(|target| target.shard == event.shard);
                target.and_then(|target| target.replicas.iter().position(|replica| *replica == event.replica)).unwrap_or(usize::MAX)
            };
            let mut per_shard: BTreeMap<ShardId, (usize, DetailCounts)> = BTreeMap::new();
            for event in &relevant {
                let candidate = (listed_at(event), event.counts);
                let chosen = per_shard.entry(event.shard).or_insert(candidate);
                if candidate.0 < chosen.0 {
                    *chosen = candidate;
                }
            }
            let counts = per_shard.into_values().fold(DetailCounts::default(), |sum, (_, c)| sum + c);
            TaskState { status: TaskStatus::Succeeded, error: None, started_at, finished_at, counts }
        }
    }
}

/// A task canceled before any of its operations reached a node: like Meilisearch, it reads as
/// if processed in its cancelation's batch, with nothing done.
pub fn canceled_state(canceled: &Canceled) -> TaskState {
    TaskState {
        status: TaskStatus::Canceled,
        error: None,
        started_at: Some(canceled.at),
        finished_at: Some(canceled.at),
        counts: DetailCounts::default(),
    }
}

/// The task object exactly as `GET /tasks/{uid}` shows it.
pub fn task_view(task_uid: u64, record: &TaskRecord, events: &[TaskEvent]) -> Map<String, Value> {
    render_task(task_uid, record, &fold_task(task_uid, record, events), None)
}

/// Renders a folded task; `canceled_by` is the cancelation that canceled it, if any.
pub fn render_task(task_uid: u64, record: &TaskRecord, state: &TaskState, canceled_by: Option<u64>) -> Map<String, Value> {
    let finished = state.status.is_finished();
    let mut view = Map::new();
    let mut put = |key: &str, value: Value| {
        view.insert(key.to_owned(), value);
    };
    put("uid", task_uid.into());
    // Miroir has no batches: a task is its own batch once it starts.
    put("batchUid", state.started_at.map(|_| task_uid).into());
    put("indexUid", record.index_uid.clone().into());
    put("status", state.status.as_str().into());
    put("type", serde_json::to_value(record.task_type).expect("task types serialize"));
    put("canceledBy", canceled_by.into());
    if let Some(details) = &record.details {
        let shown = if finished { details.finished(state.counts) } else { details.clone() };
        put("details", Value::Object(shown.to_view()));
    }
    put("error", serde_json::to_value(&state.error).expect("errors serialize"));
    let duration = state.started_at.zip(state.finished_at).map(|(start, end)| end - start);
    put("duration", duration.and_then(iso8601_duration).into());
    put("enqueuedAt", rfc3339(record.enqueued_at).into());
    put("startedAt", state.started_at.map(rfc3339).into());
    put("finishedAt", state.finished_at.map(rfc3339).into());
    if let Some(metadata) = &record.custom_metadata {
        put("customMetadata", metadata.clone().into());
    }
    view
}

/// The `202 Accepted` body of a write: Meilisearch's summarized task view.
pub fn summarized_task_view(task_uid: u64, record: &TaskRecord) -> Map<String, Value> {
    let mut view = Map::new();
    view.insert("taskUid".into(), task_uid.into());
    view.insert("indexUid".into(), record.index_uid.clone().into());
    view.insert("status".into(), TaskStatus::Enqueued.as_str().into());
    view.insert("type".into(), serde_json::to_value(record.task_type).expect("task types serialize"));
    view.insert("enqueuedAt".into(), rfc3339(record.enqueued_at).into());
    if let Some(metadata) = &record.custom_metadata {
        view.insert("customMetadata".into(), metadata.clone().into());
    }
    view
}

/// RFC 3339 as Meilisearch prints timestamps (nanoseconds, trailing zeros dropped).
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("timestamps within years 0..=9999 format")
}

/// ISO 8601 duration as Meilisearch prints a task's `duration`: `P[nD][T<s>[.fraction]S]`,
/// the fraction in milli-, micro- or nanoseconds, whichever is exact. Negative → none.
pub fn iso8601_duration(duration: Duration) -> Option<String> {
    if duration.is_negative() {
        return None;
    }
    let seconds = duration.whole_seconds();
    let (days, seconds) = (seconds / 86_400, seconds % 86_400);
    let nanos = duration.subsec_nanoseconds();
    let mut text = String::from("P");
    if days != 0 {
        text.push_str(&format!("{days}D"));
    }
    if seconds != 0 || nanos != 0 || days == 0 {
        let fraction = if nanos == 0 {
            String::new()
        } else if nanos % 1_000_000 == 0 {
            format!(".{:03}", nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            format!(".{:06}", nanos / 1_000)
        } else {
            format!(".{nanos:09}")
        };
        text.push_str(&format!("T{seconds}{fraction}S"));
    }
    Some(text)
}

#[cfg(test)]
mod tests;

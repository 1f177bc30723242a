//! Tasks a gateway runs itself (`POST /dumps`, `POST /snapshots`): no indexer sees them, as
//! they have no operations. Their `tasks` record targets one pseudo-replica of shard 0, the
//! runner; the gateway that registered the task runs the job and reports its outcome as that
//! replica's `task-events` record, so every gateway's fold finishes the task (succeeded, or
//! failed with the runner's error) exactly as it finishes a document write. A gateway that dies
//! mid-job leaves its task `enqueued`: no event will come.

use std::time::Duration;

use bytes::Bytes;
use miroir_clients::log::Topic;
use miroir_schemas::details::DetailCounts;
use miroir_schemas::envelope::{encode, SCHEMA_VERSION};
use miroir_schemas::error::ResponseError;
use miroir_schemas::task_log::{ReplicaStatus, ShardTarget, TaskEvent, TaskRecord};
use miroir_schemas::topology::ShardId;
use time::OffsetDateTime;

use crate::catalog::TaskLogEntry;
use crate::error::GatewayError;
use crate::state::AppState;

/// How long registering waits for this gateway to fold its own record before answering.
const FOLD_WAIT: Duration = Duration::from_secs(5);

/// A task a gateway runs: its uid and the pseudo-replica that reports its outcome.
#[derive(Debug, Clone)]
pub struct GatewayTask {
    pub task_uid: u64,
    pub runner: &'static str,
}

/// `record` made a task the runner `runner` alone finishes.
pub fn run_by(mut record: TaskRecord, runner: &'static str) -> TaskRecord {
    record.targets = vec![ShardTarget { shard: ShardId(0), replicas: vec![runner.to_owned()] }];
    record.request_id = crate::request_id::current();
    record
}

/// Appends `record` (already [`run_by`] its runner) to `tasks` and waits (a little) until this
/// gateway folded it, so the task is listed when the client asks right after the `202`.
pub async fn register(state: &AppState, record: &TaskRecord, runner: &'static str) -> Result<GatewayTask, GatewayError> {
    let entry = TaskLogEntry::new(record.clone());
    let dedup = format!("task:{}", uuid::Uuid::new_v4().simple());
    let position = state.log().append(Topic::Tasks, "tasks", &dedup, Bytes::from(encode(&entry))).await?;
    let task_uid = position.offset;
    if !state.catalog().wait_folded(task_uid + 1, FOLD_WAIT).await {
        tracing::warn!(task_uid, "answering before this gateway folded its own task");
    }
    Ok(GatewayTask { task_uid, runner })
}

/// The runner's `task-events` record: `outcome` is the job's error when it failed.
pub fn outcome_event(task: &GatewayTask, started_at: OffsetDateTime, outcome: Result<(), ResponseError>) -> TaskEvent {
    let (status, error) = match outcome {
        Ok(()) => (ReplicaStatus::Succeeded, None),
        Err(error) => (ReplicaStatus::Failed, Some(error)),
    };
    TaskEvent {
        schema_version: SCHEMA_VERSION,
        task_uid: task.task_uid,
        shard: ShardId(0),
        replica: task.runner.to_owned(),
        status,
        error,
        counts: DetailCounts::default(),
        started_at,
        finished_at: OffsetDateTime::now_utc(),
    }
}

/// Reports how the job ended, retrying until the log takes the record.
pub async fn report(state: &AppState, task: &GatewayTask, started_at: OffsetDateTime, outcome: Result<(), ResponseError>) {
    let event = outcome_event(task, started_at, outcome);
    let dedup = format!("{}:{}:{}", task.task_uid, ShardId(0), task.runner);
    let record = Bytes::from(encode(&event));
    let mut wait = Duration::from_millis(100);
    while let Err(error) = state.log().append(Topic::TaskEvents, &task.task_uid.to_string(), &dedup, record.clone()).await {
        tracing::warn!(task_uid = task.task_uid, %error, "cannot report the task's outcome yet; retrying");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

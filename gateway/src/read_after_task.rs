//! Read-your-writes: a request carrying `Miroir-Read-After-Task: <taskUid>` is served only
//! once that task is finished (`succeeded`, `failed` or `canceled`) in this gateway's catalog.
//! A task succeeds only when every replica of every shard it touched applied it, so whichever
//! replicas the read then asks reflect it. The wait is bounded by the search deadline
//! (`--search-deadline-ms`); past it the request is answered `503 read_after_task_timeout`, and
//! a uid the cluster never assigned (or a task deleted since) `404 task_not_found`, as
//! `GET /tasks/{uid}` answers. Documented in `docs/miroir-headers.md`.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use miroir_clients::log::Topic;
use miroir_schemas::error::{Code, ErrorType, ResponseError};
use miroir_schemas::tasks::TaskStatus;
use tokio::time::Instant;

use crate::error::{miroir_error, GatewayError};
use crate::state::AppState;

pub const READ_AFTER_TASK_HEADER: &str = "miroir-read-after-task";
/// The header's value is not a task uid.
pub const INVALID_HEADER_CODE: &str = "invalid_read_after_task";
/// The task was not finished within the deadline.
pub const TIMEOUT_CODE: &str = "read_after_task_timeout";

/// How often the catalog is looked at while waiting (task events are folded as they come).
const POLL: Duration = Duration::from_millis(10);

/// Where a read waiting for a task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The task is finished: serve the read.
    Ready,
    /// Not finished, or not folded yet: wait.
    Waiting(Option<TaskStatus>),
    /// No such task: never assigned (at or past the log's end) or no longer kept.
    NotFound,
}

/// Where a read after task `uid` stands, given how many `tasks` records the catalog has folded,
/// the task's status there (if kept) and the `tasks` log's end (when read).
pub fn progress(uid: u64, folded: u64, status: Option<TaskStatus>, log_end: Option<u64>) -> Progress {
    if uid < folded {
        return match status {
            Some(status) if status.is_finished() => Progress::Ready,
            Some(status) => Progress::Waiting(Some(status)),
            None => Progress::NotFound,
        };
    }
    match log_end {
        Some(end) if uid >= end => Progress::NotFound,
        _ => Progress::Waiting(None),
    }
}

/// Middleware (after authentication): holds a request carrying the header until its task is
/// finished, then serves it.
pub async fn read_after_task(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(READ_AFTER_TASK_HEADER) else {
        return next.run(request).await;
    };
    let Some(uid) = value.to_str().ok().and_then(|value| value.trim().parse::<u64>().ok()) else {
        let shown = String::from_utf8_lossy(value.as_bytes()).into_owned();
        return GatewayError::Meili(invalid_header(&shown)).into_response();
    };
    match wait_finished(&state, uid, state.reads().config().deadline).await {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

/// Waits until task `uid` is finished in this gateway's catalog, at most `deadline`.
pub async fn wait_finished(state: &AppState, uid: u64, deadline: Duration) -> Result<(), GatewayError> {
    let until = Instant::now() + deadline;
    let look = || state.catalog().read(|catalog| (catalog.next_task_uid(), catalog.task_status(uid)));
    let (folded, _) = look();
    // Only a uid this gateway has not folded needs the log's end, once, to tell "not yet" from "never".
    let log_end = if uid >= folded { Some(state.log().end_offset(Topic::Tasks, 0).await?) } else { None };
    loop {
        let (folded, status) = look();
        match progress(uid, folded, status, log_end) {
            Progress::Ready => return Ok(()),
            Progress::NotFound => return Err(ResponseError::new(Code::TaskNotFound, format!("Task `{uid}` not found.")).into()),
            Progress::Waiting(status) if Instant::now() >= until => return Err(timeout(uid, status, deadline).into()),
            Progress::Waiting(_) => tokio::time::sleep(POLL.min(until.saturating_duration_since(Instant::now()))).await,
        }
    }
}

fn invalid_header(value: &str) -> ResponseError {
    miroir_error(
        INVALID_HEADER_CODE,
        ErrorType::InvalidRequest,
        400,
        format!("The `Miroir-Read-After-Task` header must be a task uid (a non-negative integer), found `{value}`."),
    )
}

fn timeout(uid: u64, status: Option<TaskStatus>, waited: Duration) -> ResponseError {
    let status = status.map_or_else(|| "not yet seen by this gateway".to_owned(), |status| format!("`{}`", status.as_str()));
    miroir_error(
        TIMEOUT_CODE,
        ErrorType::System,
        503,
        format!(
            "Task `{uid}` is not finished ({status}) after {} ms, so the read could not reflect it and was not served. Retry later.",
            waited.as_millis()
        ),
    )
}

#[cfg(test)]
mod tests;

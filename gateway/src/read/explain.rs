//! `Miroir-Explain` on the read path: the request header, and the record of a run (rounds and
//! node calls with their timings), kept in a task-local so the fan-out notes its calls only
//! when a client asked (`search::explain` lays the record out).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::HeaderMap;
use miroir_schemas::error::{ErrorType, ResponseError};
use miroir_schemas::topology::ShardId;

use crate::error::miroir_error;
use crate::search::explain::{CallFacts, CallOutcome, RoundFacts};

pub const EXPLAIN_HEADER: &str = "miroir-explain";
/// The header's value is neither `plan` nor `run`.
pub const INVALID_EXPLAIN_CODE: &str = "invalid_explain";

/// What the client asked to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainMode {
    /// The plan, without running the search.
    Plan,
    /// The answer, with what the search did and how long each node call took.
    Run,
}

/// The mode a request asks for, if any.
pub fn requested(headers: &HeaderMap) -> Result<Option<ExplainMode>, ResponseError> {
    let Some(value) = headers.get(EXPLAIN_HEADER) else { return Ok(None) };
    match value.to_str().map(|value| value.trim().to_ascii_lowercase()).as_deref() {
        Ok("plan") => Ok(Some(ExplainMode::Plan)),
        Ok("run") => Ok(Some(ExplainMode::Run)),
        _ => Err(miroir_error(
            INVALID_EXPLAIN_CODE,
            ErrorType::InvalidRequest,
            400,
            format!("The `Miroir-Explain` header must be `plan` or `run`, found `{}`.", String::from_utf8_lossy(value.as_bytes())),
        )),
    }
}

/// What a run did so far.
#[derive(Debug)]
pub struct RunLog {
    pub started: Instant,
    pub rounds: Vec<RoundFacts>,
    pub calls: Vec<CallFacts>,
}

tokio::task_local! {
    static RUN: Arc<Mutex<RunLog>>;
}

/// Runs `search` recording its rounds and node calls; returns its output and the record.
pub async fn recording<F: std::future::Future>(search: F) -> (F::Output, RunLog) {
    let log = Arc::new(Mutex::new(RunLog { started: Instant::now(), rounds: Vec::new(), calls: Vec::new() }));
    let output = RUN.scope(log.clone(), search).await;
    let log = std::mem::replace(
        &mut *log.lock().expect("explain log lock"),
        RunLog { started: Instant::now(), rounds: Vec::new(), calls: Vec::new() },
    );
    (output, log)
}

/// Notes that a round begins, asking each node for `hits_per_node` hits (no-op unless recording).
pub fn note_round(hits_per_node: usize) {
    let _ = RUN.try_with(|log| log.lock().expect("explain log lock").rounds.push(RoundFacts { hits_per_node }));
}

/// One node call being recorded: ended with [`CallWatch::end`], or counted as canceled when
/// dropped unanswered (a hedge's loser).
pub struct CallWatch {
    log: Arc<Mutex<RunLog>>,
    round: usize,
    node_id: String,
    shards: Vec<u32>,
    sent: Instant,
    ended: bool,
}

impl CallWatch {
    /// Starts watching a call to `node_id` for `shards` (`None` unless recording).
    pub fn start(node_id: &str, shards: &[ShardId]) -> Option<CallWatch> {
        let log = RUN.try_with(Arc::clone).ok()?;
        let round = log.lock().expect("explain log lock").rounds.len().saturating_sub(1);
        Some(CallWatch {
            log,
            round,
            node_id: node_id.to_owned(),
            shards: shards.iter().map(|shard| shard.0).collect(),
            sent: Instant::now(),
            ended: false,
        })
    }

    pub fn end(mut self, failure: Option<String>) {
        self.ended = true;
        self.record(failure.map_or(CallOutcome::Answered, CallOutcome::Failed));
    }

    fn record(&self, outcome: CallOutcome) {
        let mut log = self.log.lock().expect("explain log lock");
        let started_ms = self.sent.saturating_duration_since(log.started).as_secs_f64() * 1000.0;
        let took_ms = self.sent.elapsed().as_secs_f64() * 1000.0;
        let call =
            CallFacts { round: self.round, node_id: self.node_id.clone(), shards: self.shards.clone(), started_ms, took_ms, outcome };
        log.calls.push(call);
    }
}

impl Drop for CallWatch {
    fn drop(&mut self) {
        if !self.ended {
            self.record(CallOutcome::Canceled);
        }
    }
}

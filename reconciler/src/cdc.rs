//! Change-data-capture: every change a task applied becomes one event on `cdc`, keyed by its
//! index, in log order per index (so per document); changes a task did not apply (it failed on
//! that shard, or was canceled) give none. `docs/cdc.md` is the consumer's guide.
//!
//! * [`outcomes`]: whether a task was applied, folded from `tasks`, `task-events` and `meta`
//!   ([`follow`] tails them).
//! * [`held`]: `ops` records waiting for their task's outcome, released in log order per index.
//!
//! Memory stays bounded: once the records held reach `max_held_bytes` (a task that does not
//! finish, e.g. a replica down for hours, holds its index back), `ops` is not polled until
//! outcomes release some; the wait shows in `miroir_cdc_oldest_held_seconds`.

pub mod follow;
pub mod held;
pub mod outcomes;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use miroir_clients::log::{
    is_transient, retry_while_unavailable, FailurePause, GroupConsumer, LogError, NewRecord, Position, Record, Topic, WriteLog,
};
use miroir_schemas::cdc::CdcEvent;
use miroir_schemas::envelope::{decode, OpEnvelope};

use held::{HeldOps, Release};
use outcomes::TaskOutcomes;
use tracing::Instrument;

const POLL_MAX: usize = 500;
/// Also how long a release waits for outcomes that arrive without new `ops` records.
const POLL_WAIT: Duration = Duration::from_millis(200);
/// A task holding its index back longer than this is logged (again every as long).
const SLOW_TASK: Duration = Duration::from_secs(60);

/// Tunables of the CDC publisher.
#[derive(Debug, Clone, Copy)]
pub struct CdcOptions {
    /// `ops` payload bytes held while waiting for task outcomes before polling pauses.
    pub max_held_bytes: usize,
}

impl Default for CdcOptions {
    fn default() -> Self {
        CdcOptions { max_held_bytes: 256 * 1024 * 1024 }
    }
}

/// The `cdc` record of an event: keyed by its index, de-duplicated by its event id.
pub fn cdc_record(event: &CdcEvent) -> NewRecord {
    let payload = serde_json::to_vec(event).expect("CDC events serialize");
    NewRecord::new(event.index_uid.clone(), format!("cdc:{}", event.event_id), Bytes::from(payload))
}

/// Events to store, then commits to make, in that order.
struct Batch {
    records: Vec<NewRecord>,
    commits: Vec<Position>,
}

/// Publishes CDC events until `stop` resolves. A batch is committed on `ops` only after its
/// events are durably stored, so a crash republishes (same event ids) rather than loses. An
/// unavailable log is waited out, never a reason to exit: a batch whose publication failed is
/// published again before anything newer is polled.
pub async fn run_cdc(
    log: Arc<dyn WriteLog>,
    group: &str,
    member: &str,
    options: CdcOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), LogError> {
    tokio::pin!(stop);
    let outcomes = Arc::new(Mutex::new(TaskOutcomes::new()));
    let _followers = tokio::select! {
        () = &mut stop => return Ok(()),
        followers = follow::follow(log.clone(), outcomes.clone()) => followers?,
    };
    let mut consumer = tokio::select! {
        () = &mut stop => return Ok(()),
        joined = retry_while_unavailable("joining the ops consumer group", || log.join_group(Topic::Ops, group, member)) => joined?,
    };
    let mut held = HeldOps::new();
    let mut unpublished: Option<Batch> = None;
    let mut pause = FailurePause::default();
    let mut slow_logged = Instant::now();
    loop {
        let step = match &unpublished {
            // Not raced against `stop`: a batch is published and committed whole.
            Some(batch) => publish(log.as_ref(), consumer.as_mut(), batch).await.map(|()| unpublished = None),
            None => {
                let polled = if held.bytes() < options.max_held_bytes {
                    tokio::select! {
                        () = &mut stop => break,
                        polled = consumer.poll(POLL_MAX, POLL_WAIT) => polled,
                    }
                } else {
                    tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep(POLL_WAIT) => Ok(Vec::new()),
                    }
                };
                polled.map(|records| {
                    receive(&mut held, records);
                    let release = held.release(|task, shard| outcomes.lock().expect("task outcomes lock").verdict(task, shard));
                    unpublished = batch_of(release);
                    report_held(&held, &mut slow_logged);
                })
            }
        };
        match step {
            Ok(()) => pause.reset(),
            Err(error) if is_transient(&error) => {
                let delay = pause.next_delay();
                tracing::warn!(%error, ?delay, "following the ops log or publishing CDC events failed; retrying");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(error) => return Err(error),
        }
    }
    if let Err(error) = consumer.leave().await {
        // The group notices a member that left silently when its session expires.
        tracing::warn!(%error, "leaving the consumer group failed");
    }
    Ok(())
}

/// Holds the polled records; one this build cannot read is logged and stepped over rather
/// than blocking its index.
fn receive(held: &mut HeldOps, records: Vec<Record>) {
    let now = Instant::now();
    for record in records {
        let envelope = match decode::<OpEnvelope>(&record.payload) {
            // A topology or reshard barrier changes where documents live, not what they are.
            Ok(envelope) if envelope.is_topology_barrier() => None,
            Ok(envelope) => Some(envelope),
            Err(error) => {
                tracing::error!(position = ?record.position, %error, "skipping an unreadable ops record");
                None
            }
        };
        held.receive(record.position.partition, record.position.offset, &record.key, envelope, record.payload.len(), now);
    }
}

fn batch_of(release: Release) -> Option<Batch> {
    if release.failed > 0 {
        metrics::counter!("miroir_cdc_operations_dropped_total", "outcome" => "failed").increment(release.failed);
    }
    if release.canceled > 0 {
        metrics::counter!("miroir_cdc_operations_dropped_total", "outcome" => "canceled").increment(release.canceled);
    }
    let records: Vec<NewRecord> = release.events.iter().map(cdc_record).collect();
    (!records.is_empty() || !release.commits.is_empty()).then_some(Batch { records, commits: release.commits })
}

fn report_held(held: &HeldOps, slow_logged: &mut Instant) {
    metrics::gauge!("miroir_cdc_held_operations").set(held.len() as f64);
    metrics::gauge!("miroir_cdc_held_bytes").set(held.bytes() as f64);
    let waited = held.oldest().map(|(since, task)| (since.elapsed(), task));
    metrics::gauge!("miroir_cdc_oldest_held_seconds").set(waited.map_or(0.0, |(waited, _)| waited.as_secs_f64()));
    if let Some((waited, task_uid)) = waited.filter(|(waited, _)| *waited >= SLOW_TASK) {
        if slow_logged.elapsed() >= SLOW_TASK {
            *slow_logged = Instant::now();
            tracing::warn!(task_uid, ?waited, held = held.len(), "CDC of an index waits for a task that has not finished on every replica");
        }
    }
}

async fn publish(log: &dyn WriteLog, consumer: &mut dyn GroupConsumer, batch: &Batch) -> Result<(), LogError> {
    let span = tracing::info_span!("cdc_publish", events = batch.records.len(), commits = batch.commits.len());
    publish_batch(log, consumer, batch).instrument(span).await
}

async fn publish_batch(log: &dyn WriteLog, consumer: &mut dyn GroupConsumer, batch: &Batch) -> Result<(), LogError> {
    if !batch.records.is_empty() {
        log.append_many(Topic::Cdc, batch.records.clone()).await?;
        metrics::counter!("miroir_cdc_events_published_total").increment(batch.records.len() as u64);
    }
    if !batch.commits.is_empty() {
        consumer.commit(&batch.commits).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;

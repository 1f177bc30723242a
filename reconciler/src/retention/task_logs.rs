//! `tasks` and `task-events` retention (docs/retention.md): on a timer, both are trimmed to
//! the newest cut nothing still needs ([`super::task_log_policy`]): below every kept catalog
//! snapshot, every task the webhook caller delivered and every operation CDC released, keeping
//! the newest records. `task-events` is trimmed before `tasks`, so a reader that starts at the
//! first kept `tasks` record never finds a task whose events were trimmed but not the task.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use miroir_clients::log::{LogError, Topic, WriteLog, WEBHOOK_CALLS_GROUP};
use miroir_clients::snapshots::{read_header, SnapshotCovers, SnapshotName, SnapshotStore};

use super::task_log_policy::{Cut, Cuts, SnapshotFloor, TaskLogBounds, TaskLogWindow};
use super::trim_recorded;

/// What the `tasks` / `task-events` retention timer does.
#[derive(Debug, Clone)]
pub struct TaskLogRetentionOptions {
    pub window: TaskLogWindow,
    pub interval: Duration,
    /// The reconcilers' CDC group on `ops`.
    pub cdc_group: String,
}

/// The state kept between passes: the cuts read, and the positions each stored snapshot covers
/// (a snapshot's name says what its bytes are, so its header is read once).
#[derive(Default)]
pub struct TaskLogRetention {
    cuts: Cuts,
    covers: HashMap<SnapshotName, Option<SnapshotCovers>>,
}

/// Trims `tasks` and `task-events` every `options.interval` until `stop` resolves. A failed
/// pass is logged and tried again at the next tick.
pub async fn run_task_log_retention(
    log: Arc<dyn WriteLog>,
    snapshots: Arc<dyn SnapshotStore>,
    options: TaskLogRetentionOptions,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut state = TaskLogRetention::default();
    loop {
        if let Err(error) = state.pass(log.as_ref(), snapshots.as_ref(), &options).await {
            tracing::warn!(%error, "tasks retention pass failed; trying again at the next interval");
        }
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(options.interval) => {}
        }
    }
}

impl TaskLogRetention {
    /// Reads a cut, then trims to the newest safe one, if any.
    pub async fn pass(
        &mut self,
        log: &dyn WriteLog,
        snapshots: &dyn SnapshotStore,
        options: &TaskLogRetentionOptions,
    ) -> Result<(), LogError> {
        let cut = read_cut(log).await?;
        let tasks_end = cut.tasks;
        self.cuts.observe(cut);
        let bounds = TaskLogBounds {
            snapshots: self.snapshot_floor(snapshots, log.config().partitions(Topic::TaskEvents)).await?,
            webhook_commit: committed(log, Topic::Tasks, WEBHOOK_CALLS_GROUP, 1).await?[0],
            cdc_commits: committed(log, Topic::Ops, &options.cdc_group, log.config().ops_partitions).await?,
            tasks_end,
        };
        let Some(cut) = self.cuts.choose(&bounds, &options.window) else { return Ok(()) };
        for (partition, before) in cut.task_events.iter().enumerate() {
            trim_recorded(log, Topic::TaskEvents, partition as u32, *before).await?;
        }
        trim_recorded(log, Topic::Tasks, 0, cut.tasks).await?;
        Ok(())
    }

    /// The lowest positions the stored snapshots cover; `None` when none is readable.
    async fn snapshot_floor(&mut self, store: &dyn SnapshotStore, event_partitions: u32) -> Result<Option<SnapshotFloor>, LogError> {
        let names = store.list().await?;
        self.covers.retain(|name, _| names.contains(name));
        let mut floor: Option<SnapshotFloor> = None;
        for name in names {
            if !self.covers.contains_key(&name) {
                let covers = match read_header(store, &name).await? {
                    Some(Ok(header)) => Some(header.covers),
                    Some(Err(error)) => {
                        tracing::warn!(snapshot = %name, %error, "a stored snapshot has no readable header; it does not hold tasks retention back");
                        None
                    }
                    // Deleted since it was listed.
                    None => continue,
                };
                self.covers.insert(name.clone(), covers);
            }
            let Some(covers) = &self.covers[&name] else { continue };
            let events = (0..event_partitions).map(|p| covers.task_events.get(&p).copied().unwrap_or(0));
            floor = Some(match floor {
                None => SnapshotFloor { tasks: covers.tasks, task_events: events.collect() },
                Some(floor) => SnapshotFloor {
                    tasks: floor.tasks.min(covers.tasks),
                    task_events: floor.task_events.iter().zip(events).map(|(a, b)| (*a).min(b)).collect(),
                },
            });
        }
        Ok(floor)
    }
}

/// The logs' ends in the order that makes them a cut: `ops`, then `task-events`, then `tasks`.
async fn read_cut(log: &dyn WriteLog) -> Result<Cut, LogError> {
    let config = log.config();
    let mut ops = Vec::new();
    for partition in 0..config.ops_partitions {
        ops.push(log.end_offset(Topic::Ops, partition).await?);
    }
    let mut task_events = Vec::new();
    for partition in 0..config.partitions(Topic::TaskEvents) {
        task_events.push(log.end_offset(Topic::TaskEvents, partition).await?);
    }
    let tasks = log.end_offset(Topic::Tasks, 0).await?;
    Ok(Cut { at: Instant::now(), ops, task_events, tasks })
}

/// `group`'s committed position on each of `topic`'s `partitions` (0 where it never committed).
async fn committed(log: &dyn WriteLog, topic: Topic, group: &str, partitions: u32) -> Result<Vec<u64>, LogError> {
    let mut positions = vec![0; partitions as usize];
    for status in log.group_status(topic, group).await? {
        if let Some(position) = positions.get_mut(status.partition as usize) {
            *position = status.next_offset;
        }
    }
    Ok(positions)
}

#[cfg(test)]
mod tests;

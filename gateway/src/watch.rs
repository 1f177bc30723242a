//! Keeps this gateway's [`Catalog`] current: tails `tasks`, every `task-events` partition and
//! the task records of `meta` (cancelation) from the positions the catalog covers (0, or a
//! snapshot's, [`snapshots`]) and folds what arrives. Nothing here is kept anywhere else, so a
//! restarted gateway rebuilds the same catalog by reading the same records.

pub mod snapshots;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use miroir_clients::log::{tail_partition, LogError, Record, Topic, WriteLog};
use miroir_schemas::envelope::decode;
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::task_log::TaskEvent;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::{Catalog, TaskLogEntry};

/// The shared catalog and how far it has folded `tasks` and every other partition it reads.
pub struct CatalogHandle {
    catalog: RwLock<Catalog>,
    folded_tasks: watch::Sender<u64>,
    /// Per `task-events` and `meta` partition, the position of the next record to fold.
    folded_elsewhere: watch::Sender<BTreeMap<(Topic, u32), u64>>,
}

impl Default for CatalogHandle {
    fn default() -> Self {
        CatalogHandle {
            catalog: RwLock::new(Catalog::new()),
            folded_tasks: watch::channel(0).0,
            folded_elsewhere: watch::channel(BTreeMap::new()).0,
        }
    }
}

impl CatalogHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most tasks kept before the automatic cleanup (Meilisearch's
    /// `max_number_of_tasks`); call before the watchers start.
    pub fn set_task_limit(&self, task_limit: u64) {
        let mut catalog = self.catalog.write().expect("catalog lock poisoned");
        debug_assert_eq!(catalog.next_task_uid(), 0, "the task limit is set before folding");
        *catalog = Catalog::with_task_limit(task_limit);
    }

    /// Replaces the catalog with one restored from a snapshot (call before the watchers start,
    /// which then resume at the positions it covers). Those positions count as folded, so a
    /// catch-up waits only for what came after them.
    pub fn restore(&self, catalog: Catalog) {
        let covers = catalog.covers();
        *self.catalog.write().expect("catalog lock poisoned") = catalog;
        self.folded_tasks.send_replace(covers.tasks);
        self.folded_elsewhere.send_modify(|folded| {
            folded.insert((Topic::Meta, 0), covers.meta);
            for (partition, next) in covers.task_events {
                folded.insert((Topic::TaskEvents, partition), next);
            }
        });
    }

    /// Runs `read` on the current catalog.
    pub fn read<R>(&self, read: impl FnOnce(&Catalog) -> R) -> R {
        read(&self.catalog.read().expect("catalog lock poisoned"))
    }

    fn write<R>(&self, write: impl FnOnce(&mut Catalog) -> R) -> R {
        let mut catalog = self.catalog.write().expect("catalog lock poisoned");
        let result = write(&mut catalog);
        let folded = catalog.next_task_uid();
        drop(catalog);
        self.folded_tasks.send_replace(folded);
        result
    }

    /// Waits until the first `count` `tasks` records are folded; `false` after `timeout`.
    pub async fn wait_folded(&self, count: u64, timeout: Duration) -> bool {
        let mut folded = self.folded_tasks.subscribe();
        tokio::time::timeout(timeout, folded.wait_for(|&done| done >= count)).await.is_ok_and(|r| r.is_ok())
    }

    /// Waits until everything appended to `tasks` so far is folded, so a decision made next
    /// sees every earlier write (including this client's previous one through another gateway).
    pub async fn catch_up(&self, log: &dyn WriteLog, timeout: Duration) -> Result<(), LogError> {
        let end = log.end_offset(Topic::Tasks, 0).await?;
        if self.wait_folded(end, timeout).await {
            Ok(())
        } else {
            Err(LogError::Unavailable(format!("the catalog did not reach task {end} within {timeout:?}")))
        }
    }

    /// Waits until everything appended so far to `tasks`, `task-events` and `meta` is folded,
    /// so what this gateway then sees of every task (finished or not) is at least what any
    /// gateway saw when the request was sent. A task deletion decides on that view.
    pub async fn catch_up_everywhere(&self, log: &dyn WriteLog, timeout: Duration) -> Result<(), LogError> {
        let mut ends = BTreeMap::new();
        ends.insert((Topic::Meta, 0), log.end_offset(Topic::Meta, 0).await?);
        for partition in 0..log.config().partitions(Topic::TaskEvents) {
            ends.insert((Topic::TaskEvents, partition), log.end_offset(Topic::TaskEvents, partition).await?);
        }
        self.catch_up(log, timeout).await?;
        let mut folded = self.folded_elsewhere.subscribe();
        let reached = |folded: &BTreeMap<(Topic, u32), u64>| {
            ends.iter().all(|(partition, end)| *end == 0 || folded.get(partition).is_some_and(|done| done >= end))
        };
        let done = tokio::time::timeout(timeout, folded.wait_for(reached)).await.is_ok_and(|result| result.is_ok());
        if done {
            Ok(())
        } else {
            Err(LogError::Unavailable(format!("the catalog did not reach the end of task-events and meta within {timeout:?}")))
        }
    }

    /// Notes that `topic`/`partition` is folded up to `next` (exclusive).
    fn folded(&self, topic: Topic, partition: u32, next: u64) {
        self.folded_elsewhere.send_modify(|folded| {
            folded.insert((topic, partition), next);
        });
    }
}

/// Why the log cannot bring a catalog up to date.
#[derive(Debug, thiserror::Error)]
pub enum FoldStartError {
    #[error(
        "the log no longer holds {topic} partition {partition} from position {needed} (retention trimmed it; it starts at {first_kept}), \
         and no usable snapshot covers what was trimmed: the task store cannot be rebuilt"
    )]
    Trimmed { topic: &'static str, partition: u32, needed: u64, first_kept: u64 },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Checks, before the tailers start, that the log still holds every record after what the
/// catalog has folded (a gateway without a usable snapshot on a trimmed log would otherwise
/// wait for ever on records that are gone).
pub async fn check_the_log_holds_what_follows(log: &dyn WriteLog, handle: &CatalogHandle) -> Result<(), FoldStartError> {
    let mut needed =
        handle.read(|catalog| vec![(Topic::Tasks, 0, catalog.next_task_uid()), (Topic::Meta, 0, catalog.next_meta_position())]);
    for partition in 0..log.config().partitions(Topic::TaskEvents) {
        needed.push((Topic::TaskEvents, partition, handle.read(|catalog| catalog.next_event_position(partition))));
    }
    for (topic, partition, needed) in needed {
        let first_kept = log.first_offset(topic, partition).await?;
        if needed < first_kept {
            return Err(FoldStartError::Trimmed { topic: topic.name(), partition, needed, first_kept });
        }
    }
    Ok(())
}

/// Starts the tailers; they run until the returned tasks are aborted.
/// Every tailer starts where the catalog says it has folded (0 for a new catalog).
pub fn spawn_watchers(log: Arc<dyn WriteLog>, handle: Arc<CatalogHandle>) -> Vec<JoinHandle<()>> {
    let (from_tasks, from_meta) = handle.read(|catalog| (catalog.next_task_uid(), catalog.next_meta_position()));
    let tasks_handle = handle.clone();
    let changes_handle = handle.clone();
    let mut tasks = vec![
        tokio::spawn(tail_partition(log.clone(), Topic::Tasks, 0, from_tasks, move |records| fold_tasks(&tasks_handle, records))),
        tokio::spawn(tail_partition(log.clone(), Topic::Meta, 0, from_meta, move |records| fold_meta(&changes_handle, &records))),
    ];
    for partition in 0..log.config().partitions(Topic::TaskEvents) {
        let handle = handle.clone();
        let from = handle.read(|catalog| catalog.next_event_position(partition));
        tasks.push(tokio::spawn(tail_partition(log.clone(), Topic::TaskEvents, partition, from, move |records| {
            fold_events(&handle, partition, &records)
        })));
    }
    tasks
}

/// Folds `tasks` records; each record's offset is its task uid.
fn fold_tasks(handle: &CatalogHandle, records: Vec<Record>) {
    handle.write(|catalog| {
        for record in records {
            let uid = record.position.offset;
            match decode::<TaskLogEntry>(&record.payload) {
                Ok(entry) => catalog.apply_task(uid, entry),
                Err(error) => {
                    tracing::error!(uid, %error, "unreadable tasks record");
                    catalog.skip_task(uid);
                }
            }
        }
    });
}

/// Folds `task-events` records of one partition.
fn fold_events(handle: &CatalogHandle, partition: u32, records: &[Record]) {
    let Some(next) = records.last().map(|last| last.position.offset + 1) else { return };
    handle.write(|catalog| {
        for record in records {
            match decode::<TaskEvent>(&record.payload) {
                Ok(event) => catalog.apply_event(event),
                Err(error) => tracing::error!(position = ?record.position, %error, "unreadable task-events record"),
            }
        }
        catalog.pass_events(partition, next);
    });
    handle.folded(Topic::TaskEvents, partition, next);
}

/// Folds the task records of `meta` (key changes are the keys service's) and notes how far
/// `meta` is folded.
fn fold_meta(handle: &CatalogHandle, records: &[Record]) {
    let Some(next) = records.last().map(|last| last.position.offset + 1) else { return };
    let changes: Vec<_> = records
        .iter()
        .filter_map(|record| match decode::<MetaEnvelope>(&record.payload) {
            Ok(envelope) => envelope.task_change(),
            Err(error) => {
                tracing::error!(position = ?record.position, %error, "unreadable meta record");
                None
            }
        })
        .collect();
    handle.write(|catalog| {
        changes.iter().for_each(|change| catalog.apply_task_change(change));
        catalog.pass_meta(next);
    });
    handle.folded(Topic::Meta, 0, next);
}

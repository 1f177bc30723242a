//! Keeps this gateway's [`Catalog`] current: tails `tasks`, every `task-events` partition and
//! the task records of `meta` (cancelation) from position 0 and folds what arrives. Nothing here is kept anywhere else, so a restarted
//! gateway rebuilds the same catalog by reading the same records.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use miroir_clients::log::{tail_partition, LogError, Record, Topic, WriteLog};
use miroir_schemas::envelope::decode;
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::task_log::TaskEvent;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::{Catalog, TaskLogEntry};

/// The shared catalog and how far it has folded `tasks`.
pub struct CatalogHandle {
    catalog: RwLock<Catalog>,
    folded_tasks: watch::Sender<u64>,
}

impl Default for CatalogHandle {
    fn default() -> Self {
        CatalogHandle { catalog: RwLock::new(Catalog::new()), folded_tasks: watch::channel(0).0 }
    }
}

impl CatalogHandle {
    pub fn new() -> Self {
        Self::default()
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
}

/// Starts the tailers; they run until the returned tasks are aborted.
pub fn spawn_watchers(log: Arc<dyn WriteLog>, handle: Arc<CatalogHandle>) -> Vec<JoinHandle<()>> {
    let from = handle.read(Catalog::next_task_uid);
    let tasks_handle = handle.clone();
    let changes_handle = handle.clone();
    let mut tasks = vec![
        tokio::spawn(tail_partition(log.clone(), Topic::Tasks, 0, from, move |records| fold_tasks(&tasks_handle, records))),
        tokio::spawn(tail_partition(log.clone(), Topic::Meta, 0, 0, move |records| fold_task_changes(&changes_handle, &records))),
    ];
    for partition in 0..log.config().partitions(Topic::TaskEvents) {
        let handle = handle.clone();
        tasks.push(tokio::spawn(tail_partition(log.clone(), Topic::TaskEvents, partition, 0, move |records| {
            fold_events(&handle, &records)
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
fn fold_events(handle: &CatalogHandle, records: &[Record]) {
    handle.write(|catalog| {
        for record in records {
            match decode::<TaskEvent>(&record.payload) {
                Ok(event) => catalog.apply_event(event),
                Err(error) => tracing::error!(position = ?record.position, %error, "unreadable task-events record"),
            }
        }
    });
}

/// Folds the task records of `meta` (key changes are the keys service's).
fn fold_task_changes(handle: &CatalogHandle, records: &[Record]) {
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
    if !changes.is_empty() {
        handle.write(|catalog| changes.iter().for_each(|change| catalog.apply_task_change(change)));
    }
}

use super::*;
use crate::catalog::test_history::{History, Logs, Step};
use crate::watch::spawn_watchers;
use miroir_clients::log::{LogConfig, MemoryLog};
use miroir_clients::snapshots::MemorySnapshotStore;
use miroir_schemas::envelope::encode;
use miroir_schemas::meta_log::MetaEnvelope;
use proptest::prelude::*;

const LIMIT: u64 = crate::catalog::DEFAULT_TASK_LIMIT;
const BOUND: Duration = Duration::from_secs(10);

fn every(snapshot_every_tasks: u64) -> SnapshotArgs {
    SnapshotArgs { snapshot_every_tasks, snapshot_interval_ms: 10, snapshots_kept: 2, ..SnapshotArgs::default() }
}

/// A history with writes finished and not, a cancelation and a deletion.
fn history(steps: &[Step]) -> Logs {
    let mut history = History::new();
    steps.iter().for_each(|step| history.step(step));
    history.logs
}

fn first_half() -> Logs {
    history(&[Step::Write, Step::Swap, Step::Write, Step::Start(0), Step::Finish(0, false), Step::Cancel(vec![2]), Step::Write])
}

fn whole() -> Logs {
    let mut steps = vec![Step::Write, Step::Swap, Step::Write, Step::Start(0), Step::Finish(0, false), Step::Cancel(vec![2]), Step::Write];
    steps.extend([Step::Start(1), Step::Finish(1, true), Step::Delete(vec![0, 3]), Step::Write, Step::Cancel(vec![4])]);
    history(&steps)
}

/// Appends what `logs` holds beyond `done` (what an earlier call appended).
async fn append(log: &dyn WriteLog, logs: &Logs, done: &Logs) {
    for (uid, entry) in logs.tasks.iter().enumerate().skip(done.tasks.len()) {
        log.append(Topic::Tasks, "tasks", &format!("task-{uid}"), encode(entry).into()).await.unwrap();
    }
    for (n, event) in logs.events.iter().enumerate().skip(done.events.len()) {
        let key = format!("{}/{}", event.task_uid, event.replica);
        log.append(Topic::TaskEvents, &key, &format!("event-{n}"), encode(event).into()).await.unwrap();
    }
    for (n, change) in logs.meta.iter().enumerate().skip(done.meta.len()) {
        log.append(Topic::Meta, "tasks", &format!("meta-{n}"), encode(&MetaEnvelope::new(change.clone())).into()).await.unwrap();
    }
}

/// A catalog folding `log` from `handle`'s positions until everything appended so far is in.
async fn fold(log: &Arc<MemoryLog>, handle: &Arc<CatalogHandle>) -> Vec<JoinHandle<()>> {
    let watchers = spawn_watchers(log.clone(), handle.clone());
    handle.catch_up_everywhere(log.as_ref(), BOUND).await.unwrap();
    watchers
}

fn memory_log() -> Arc<MemoryLog> {
    Arc::new(MemoryLog::new(LogConfig::for_tests("snapshots")).unwrap())
}

/// A log holding [`first_half`], a gateway that folded it and stored one snapshot of it.
struct Snapshotted {
    log: Arc<MemoryLog>,
    store: MemorySnapshotStore,
    writer: Arc<CatalogHandle>,
    _watchers: Vec<JoinHandle<()>>,
    written: SnapshotName,
}

async fn snapshotted_first_half() -> Snapshotted {
    let (log, store) = (memory_log(), MemorySnapshotStore::new());
    append(log.as_ref(), &first_half(), &Logs::default()).await;
    let writer = Arc::new(CatalogHandle::new());
    let _watchers = fold(&log, &writer).await;
    let written = write_if_due(&store, &writer, None, &every(1), &mut None).await.unwrap().expect("a snapshot is due");
    Snapshotted { log, store, writer, _watchers, written }
}

#[tokio::test]
async fn a_gateway_started_from_a_snapshot_and_the_tail_folds_what_a_full_fold_folds() {
    let Snapshotted { log, store, written, .. } = snapshotted_first_half().await;
    assert_eq!(written.tasks, first_half().tasks.len() as u64);
    append(log.as_ref(), &whole(), &first_half()).await;

    let restarted = Arc::new(CatalogHandle::new());
    assert_eq!(start_from_newest(&store, log.as_ref(), &restarted, LIMIT).await, Some(written.clone()));
    assert_eq!(
        restarted.read(Catalog::covers),
        Catalog::from_snapshot(&store.get(&written).await.unwrap().unwrap(), LIMIT).unwrap().covers()
    );
    let _restarted_watchers = fold(&log, &restarted).await;
    let full = Arc::new(CatalogHandle::new());
    let _full_watchers = fold(&log, &full).await;
    assert_eq!(restarted.read(Catalog::snapshot), full.read(Catalog::snapshot));
    assert!(restarted.read(Catalog::covers).tasks > written.tasks, "the tail was folded");
}

#[tokio::test]
async fn a_corrupt_newest_snapshot_is_skipped_for_an_older_one_then_for_the_whole_history() {
    let Snapshotted { log, store, writer, written: older, .. } = snapshotted_first_half().await;
    append(log.as_ref(), &whole(), &first_half()).await;
    writer.catch_up_everywhere(log.as_ref(), BOUND).await.unwrap();
    let newest = write_if_due(&store, &writer, None, &every(1), &mut Some(older.clone())).await.unwrap().unwrap();
    assert!(newest > older);

    let mut corrupt = store.get(&newest).await.unwrap().unwrap().to_vec();
    let last = corrupt.len() - 2;
    corrupt[last] ^= 0x01;
    store.put(&newest, corrupt.into()).await.unwrap();
    let restarted = Arc::new(CatalogHandle::new());
    assert_eq!(start_from_newest(&store, log.as_ref(), &restarted, LIMIT).await, Some(older.clone()));
    let _restarted_watchers = fold(&log, &restarted).await;
    assert_eq!(restarted.read(Catalog::snapshot), writer.read(Catalog::snapshot));

    // A snapshot stored under another snapshot's name is refused too; none left: full fold.
    let older_bytes = store.get(&older).await.unwrap().unwrap();
    store.put(&newest, older_bytes).await.unwrap();
    store.delete(&older).await.unwrap();
    assert_eq!(load_newest(&store, log.as_ref(), LIMIT).await.map(|loaded| loaded.name), None);
}

#[tokio::test]
async fn the_stored_snapshot_is_the_in_memory_one_byte_for_byte() {
    let Snapshotted { store, writer, written, .. } = snapshotted_first_half().await;
    let stored = store.get(&written).await.unwrap().unwrap();
    assert_eq!(stored.as_ref(), writer.read(Catalog::snapshot).as_slice(), "written through a file, piece by piece");
    assert_eq!(name_of(&stored).unwrap(), written);
}

/// A store whose readers fail after `fail_after` bytes (a connection lost while reading).
struct FailingStore {
    inner: MemorySnapshotStore,
    fail_after: usize,
}

#[async_trait::async_trait]
impl SnapshotStore for FailingStore {
    async fn put_reader(&self, name: &SnapshotName, body: &mut (dyn tokio::io::AsyncRead + Send + Unpin)) -> Result<(), LogError> {
        self.inner.put_reader(name, body).await
    }

    async fn list(&self) -> Result<Vec<SnapshotName>, LogError> {
        self.inner.list().await
    }

    async fn open(&self, name: &SnapshotName) -> Result<Option<miroir_clients::snapshots::SnapshotReader>, LogError> {
        let Some(bytes) = self.inner.get(name).await? else { return Ok(None) };
        if self.fail_after >= bytes.len() {
            return Ok(Some(Box::new(std::io::Cursor::new(bytes))));
        }
        Ok(Some(Box::new(std::io::Cursor::new(bytes.slice(..self.fail_after)).chain(lost_connection()))))
    }

    async fn delete(&self, name: &SnapshotName) -> Result<(), LogError> {
        self.inner.delete(name).await
    }
}

/// A reader that fails at once.
fn lost_connection() -> impl tokio::io::AsyncRead + Send + Unpin {
    struct Lost;
    impl tokio::io::AsyncRead for Lost {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "the store went away")))
        }
    }
    Lost
}

#[tokio::test]
async fn a_snapshot_whose_stream_breaks_is_refused() {
    let Snapshotted { log, store, written, .. } = snapshotted_first_half().await;
    let stored = store.get(&written).await.unwrap().unwrap();
    let broken = FailingStore { inner: store, fail_after: stored.len() - 3 };
    assert!(matches!(
        load(&broken, log.as_ref(), &written, LIMIT).await.err(),
        Some(Refusal::Invalid(SnapshotError::Truncated { expected, found })) if found + 3 == expected
    ));
    assert!(load_newest(&broken, log.as_ref(), LIMIT).await.is_none(), "no usable snapshot: the whole history is folded");
    let whole = FailingStore { fail_after: usize::MAX, ..broken };
    assert_eq!(load_newest(&whole, log.as_ref(), LIMIT).await.map(|loaded| loaded.name), Some(written));
}

#[tokio::test]
async fn a_snapshot_past_the_end_of_the_log_is_refused() {
    let Snapshotted { log, store, .. } = snapshotted_first_half().await;
    // The same snapshots, but a log that was reset and holds less.
    let reset = memory_log();
    append(reset.as_ref(), &history(&[]), &Logs::default()).await;
    assert!(load_newest(&store, reset.as_ref(), LIMIT).await.is_none());
    assert!(load_newest(&store, log.as_ref(), LIMIT).await.is_some());
}

#[tokio::test]
async fn a_snapshot_older_than_the_trimmed_log_is_refused_and_nothing_else_can_start() {
    let Snapshotted { log, store, writer, written: older, .. } = snapshotted_first_half().await;
    append(log.as_ref(), &whole(), &first_half()).await;
    writer.catch_up_everywhere(log.as_ref(), BOUND).await.unwrap();
    let newest = write_if_due(&store, &writer, None, &every(1), &mut Some(older.clone())).await.unwrap().unwrap();
    // Retention trimmed `tasks` past the older snapshot, up to the newest one.
    log.trim(Topic::Tasks, 0, older.tasks + 1).await.unwrap();
    assert_eq!(load_newest(&store, log.as_ref(), LIMIT).await.map(|loaded| loaded.name), Some(newest.clone()));
    store.delete(&newest).await.unwrap();
    assert_eq!(load_newest(&store, log.as_ref(), LIMIT).await.map(|loaded| loaded.name), None, "the older one misses a trimmed record");
    let empty = CatalogHandle::new();
    let refused = crate::watch::check_the_log_holds_what_follows(log.as_ref(), &empty).await;
    assert!(matches!(refused, Err(crate::watch::FoldStartError::Trimmed { topic: "tasks", needed: 0, .. })), "{refused:?}");
    let restored = CatalogHandle::new();
    restored.restore(Catalog::from_snapshot(&store.get(&older).await.unwrap().unwrap(), LIMIT).unwrap());
    assert!(crate::watch::check_the_log_holds_what_follows(log.as_ref(), &restored).await.is_err());
    assert!(crate::watch::check_the_log_holds_what_follows(log.as_ref(), &writer).await.is_ok());
}

#[tokio::test]
async fn the_writer_waits_for_enough_tasks_or_a_quiet_interval() {
    let (log, store) = (memory_log(), MemorySnapshotStore::new());
    let handle = Arc::new(CatalogHandle::new());
    let _watchers = fold(&log, &handle).await;
    // Nothing folded: nothing to write, even after quiet intervals.
    assert_eq!(write_if_due(&store, &handle, None, &every(100), &mut None).await.unwrap(), None);
    append(log.as_ref(), &first_half(), &Logs::default()).await;
    handle.catch_up_everywhere(log.as_ref(), BOUND).await.unwrap();
    // Far from 100 tasks, but the store stayed empty for a whole interval.
    let first = write_if_due(&store, &handle, None, &every(100), &mut None).await.unwrap().unwrap();
    append(log.as_ref(), &whole(), &first_half()).await;
    handle.catch_up_everywhere(log.as_ref(), BOUND).await.unwrap();
    // Another gateway wrote `first` since this one last looked: not quiet, not 100 tasks ahead.
    assert_eq!(write_if_due(&store, &handle, None, &every(100), &mut None).await.unwrap(), None);
    // Quiet since: written.
    let mut last_seen = Some(first.clone());
    let second = write_if_due(&store, &handle, None, &every(100), &mut last_seen).await.unwrap().unwrap();
    assert_eq!(last_seen, Some(second.clone()));
    assert_eq!(write_if_due(&store, &handle, None, &every(100), &mut last_seen).await.unwrap(), None, "nothing new folded");
    // 0 disables writing.
    assert_eq!(write_if_due(&store, &handle, None, &every(0), &mut Some(first)).await.unwrap(), None);
}

#[tokio::test]
async fn the_spawned_writer_keeps_the_newest_few() {
    let (log, store) = (memory_log(), Arc::new(MemorySnapshotStore::new()));
    let handle = Arc::new(CatalogHandle::new());
    let _watchers = fold(&log, &handle).await;
    let writer = spawn_writer(store.clone(), handle.clone(), every(1), None, None);
    let mut done = Logs::default();
    for logs in [history(&[]), first_half(), whole()] {
        append(log.as_ref(), &logs, &done).await;
        done = logs;
        handle.catch_up_everywhere(log.as_ref(), BOUND).await.unwrap();
        let expected = name_of(&handle.read(Catalog::snapshot)).unwrap();
        tokio::time::timeout(BOUND, async {
            while !store.list().await.unwrap().contains(&expected) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the writer stores a snapshot of what was folded");
    }
    writer.abort();
    assert_eq!(store.list().await.unwrap().len(), 2, "older snapshots are pruned");
}

proptest! {
    #[test]
    fn due_only_when_ahead_everywhere(own in any::<(u8, u8, u8)>(), newest in any::<(u8, u8, u8)>(), quiet: bool, every_tasks in 0u64..300) {
        let widen = |(a, b, c): (u8, u8, u8)| (u64::from(a), u64::from(b), u64::from(c));
        let (own, newest) = (widen(own), widen(newest));
        let due = is_due(own, Some(newest), quiet, every_tasks);
        let behind = own.0 < newest.0 || own.1 < newest.1 || own.2 < newest.2;
        if every_tasks == 0 || own == newest || behind {
            prop_assert!(!due);
        } else {
            prop_assert_eq!(due, quiet || own.0 >= newest.0 + every_tasks);
        }
    }
}

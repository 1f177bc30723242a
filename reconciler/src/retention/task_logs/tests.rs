use super::*;
use bytes::Bytes;
use miroir_clients::log::{key_for_partition, GroupConsumer, LogConfig, MemoryLog, Position};
use miroir_clients::snapshots::{MemorySnapshotStore, SnapshotHeader, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};

const CDC: &str = "cdc";

fn options() -> TaskLogRetentionOptions {
    TaskLogRetentionOptions {
        window: TaskLogWindow { records: 5, grace: Duration::ZERO },
        interval: Duration::from_secs(1),
        cdc_group: CDC.into(),
    }
}

/// Appends `n` tasks, each with one event on `task-events` partition 0 and one operation.
async fn write_tasks(log: &MemoryLog, n: u64) {
    let ops_key = key_for_partition(0, log.config().ops_partitions);
    let events_key = key_for_partition(0, log.config().task_events_partitions);
    for _ in 0..n {
        let uid = log.append(Topic::Tasks, "tasks", &uuid::Uuid::new_v4().to_string(), Bytes::from_static(b"{}")).await.unwrap().offset;
        log.append(Topic::Ops, &ops_key, &format!("op-{uid}"), Bytes::from_static(b"{}")).await.unwrap();
        log.append(Topic::TaskEvents, &events_key, &format!("ev-{uid}"), Bytes::from_static(b"{}")).await.unwrap();
    }
}

async fn put_snapshot(store: &MemorySnapshotStore, tasks: u64, events: u64, digest: &str) {
    let header = SnapshotHeader {
        format: SNAPSHOT_FORMAT.into(),
        version: SNAPSHOT_VERSION,
        covers: SnapshotCovers { tasks, meta: 0, task_events: [(0, events)].into() },
        body_bytes: 0,
        sha256: digest.into(),
    };
    let mut bytes = serde_json::to_vec(&header).unwrap();
    bytes.push(b'\n');
    store.put(&SnapshotName::new(tasks, events, 0, digest).unwrap(), Bytes::from(bytes)).await.unwrap();
}

async fn first_kept(log: &MemoryLog) -> (u64, u64) {
    (log.first_offset(Topic::Tasks, 0).await.unwrap(), log.first_offset(Topic::TaskEvents, 0).await.unwrap())
}

struct Fixture {
    log: MemoryLog,
    store: MemorySnapshotStore,
    webhooks: Box<dyn GroupConsumer>,
    cdc: Box<dyn GroupConsumer>,
    retention: TaskLogRetention,
}

/// A log with both groups joined, 20 tasks, and one pass made (its cut read at 20 tasks).
async fn fixture() -> Fixture {
    let log = MemoryLog::new(LogConfig { ops_partitions: 1, task_events_partitions: 1, ..LogConfig::for_tests("tlr") }).unwrap();
    let store = MemorySnapshotStore::new();
    let webhooks = log.join_group(Topic::Tasks, WEBHOOK_CALLS_GROUP, "g").await.unwrap();
    let cdc = log.join_group(Topic::Ops, CDC, "r").await.unwrap();
    let mut retention = TaskLogRetention::default();
    write_tasks(&log, 20).await;
    retention.pass(&log, &store, &options()).await.unwrap();
    Fixture { log, store, webhooks, cdc, retention }
}

#[tokio::test]
async fn trims_to_the_newest_cut_every_snapshot_webhooks_and_cdc_have_passed() {
    let Fixture { log, store, mut webhooks, mut cdc, mut retention } = fixture().await;
    assert_eq!(first_kept(&log).await, (0, 0), "no snapshot: nothing is trimmed");

    write_tasks(&log, 20).await;
    put_snapshot(&store, 30, 30, "aa").await;
    put_snapshot(&store, 38, 38, "bb").await;
    webhooks.commit(&[Position { partition: 0, offset: 39 }]).await.unwrap();
    cdc.commit(&[Position { partition: 0, offset: 39 }]).await.unwrap();
    retention.pass(&log, &store, &options()).await.unwrap();
    assert_eq!(first_kept(&log).await, (20, 20), "the cut read at 20 tasks; the one at 40 is past the oldest snapshot");

    write_tasks(&log, 20).await;
    retention.pass(&log, &store, &options()).await.unwrap();
    assert_eq!(first_kept(&log).await, (20, 20), "the cut at 40 is past the oldest snapshot (30)");
    store.delete(&SnapshotName::new(30, 30, 0, "aa").unwrap()).await.unwrap();
    retention.pass(&log, &store, &options()).await.unwrap();
    assert_eq!(first_kept(&log).await, (20, 20), "the cut at 40 is past what CDC released");
    cdc.commit(&[Position { partition: 0, offset: 59 }]).await.unwrap();
    webhooks.commit(&[Position { partition: 0, offset: 59 }]).await.unwrap();
    put_snapshot(&store, 60, 60, "cc").await;
    retention.pass(&log, &store, &options()).await.unwrap();
    assert_eq!(first_kept(&log).await, (20, 20), "the webhook caller has delivered 40 but the snapshot at 38 is kept");
    store.delete(&SnapshotName::new(38, 38, 0, "bb").unwrap()).await.unwrap();
    retention.pass(&log, &store, &options()).await.unwrap();
    assert_eq!(first_kept(&log).await, (40, 40), "the cut at 40; the one at 60 lies within the newest 5 records");
}

#[tokio::test]
async fn a_snapshot_whose_header_cannot_be_read_does_not_hold_retention_back() {
    let Fixture { log, store, mut webhooks, mut cdc, mut retention } = fixture().await;
    store.put(&SnapshotName::new(1, 1, 0, "dd").unwrap(), Bytes::from_static(b"garbage\n")).await.unwrap();
    put_snapshot(&store, 25, 25, "ee").await;
    write_tasks(&log, 10).await;
    webhooks.commit(&[Position { partition: 0, offset: 29 }]).await.unwrap();
    cdc.commit(&[Position { partition: 0, offset: 29 }]).await.unwrap();
    retention.pass(&log, &store, &options()).await.unwrap();
    assert_eq!(first_kept(&log).await, (20, 20));
}

//! Catalog snapshots on real NATS (JetStream object store): see `snapshots_support` for the
//! scenario; the measurement of a start from a snapshot is NATS only.

mod snapshots_support;

use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::{LogConfig, NatsLog, WriteLog};
use miroir_clients::snapshots::{NatsSnapshotStore, SnapshotStore};
use miroir_gateway::catalog::DEFAULT_TASK_LIMIT;
use miroir_gateway::watch::snapshots::start_from_newest;
use miroir_integration::brokers::{LogKind, NatsServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_from_a_snapshot_answers_like_one_that_folded_everything() {
    snapshots_support::a_gateway_started_from_a_snapshot_answers_like_one_that_folded_everything(LogKind::Nats).await;
}

/// Measures a start from a snapshot against a full fold on NATS, after
/// `MIROIR_SNAPSHOT_BENCH_TASKS` (default 100,000) document writes each applied by one replica,
/// appended straight to the log. Prints the numbers; run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_a_start_from_a_snapshot() {
    use miroir_clients::log::{NewRecord, Topic};
    use miroir_gateway::catalog::{Catalog, TaskLogEntry};
    use miroir_gateway::watch::{spawn_watchers, CatalogHandle};
    use miroir_schemas::details::TaskDetails;
    use miroir_schemas::envelope::encode;
    use miroir_schemas::task_log::{ShardTarget, TaskRecord, TaskType};
    use miroir_schemas::topology::ShardId;
    use std::time::Instant;

    let count: u64 = std::env::var("MIROIR_SNAPSHOT_BENCH_TASKS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let server = NatsServer::start().expect("start nats-server");
    let config = LogConfig::for_tests(format!("snapbench{}", std::process::id()));
    let log: Arc<dyn WriteLog> = Arc::new(NatsLog::connect(server.url(), config.clone()).await.unwrap());
    let store: Arc<dyn SnapshotStore> = Arc::new(NatsSnapshotStore::connect(server.url(), &config).await.unwrap());
    let started = Instant::now();
    for first in (0..count).step_by(1000) {
        let uids = first..(first + 1000).min(count);
        let tasks = uids.clone().map(|uid| {
            let details = TaskDetails::DocumentAdditionOrUpdate { received_documents: 1, indexed_documents: None };
            let mut record =
                TaskRecord::new(TaskType::DocumentAdditionOrUpdate, Some("books".into()), Some(details), time::OffsetDateTime::now_utc());
            record.targets = vec![ShardTarget { shard: ShardId(0), replicas: vec!["n0".into()] }];
            NewRecord::new("tasks", format!("task-{uid}"), encode(&TaskLogEntry::new(record)))
        });
        log.append_many(Topic::Tasks, tasks.collect()).await.unwrap();
        let events = uids.map(|uid| miroir_integration::task_events::applied_on_shard_0_record(uid, "n0"));
        log.append_many(Topic::TaskEvents, events.collect()).await.unwrap();
    }
    println!("appended {count} tasks and their events in {:?}", started.elapsed());

    let fold_all = async |handle: &Arc<CatalogHandle>| {
        let started = Instant::now();
        let watchers = spawn_watchers(log.clone(), handle.clone());
        handle.catch_up_everywhere(log.as_ref(), Duration::from_secs(600)).await.unwrap();
        watchers.iter().for_each(tokio::task::JoinHandle::abort);
        started.elapsed()
    };
    let full = Arc::new(CatalogHandle::new());
    println!("full fold: {:?}", fold_all(&full).await);
    let started = Instant::now();
    let bytes = full.read(Catalog::snapshot);
    let serialized = started.elapsed();
    let name = miroir_gateway::watch::snapshots::name_of(&bytes).unwrap();
    let started = Instant::now();
    store.put(&name, bytes.clone().into()).await.unwrap();
    println!("snapshot: {} bytes, serialized in {serialized:?}, stored in {:?}", bytes.len(), started.elapsed());

    let restarted = Arc::new(CatalogHandle::new());
    let started = Instant::now();
    assert_eq!(start_from_newest(store.as_ref(), log.as_ref(), &restarted, DEFAULT_TASK_LIMIT).await, Some(name));
    let loaded = started.elapsed();
    let tail = fold_all(&restarted).await;
    println!("start from the snapshot: loaded and verified in {loaded:?}, tail (nothing) folded in {tail:?}");
    assert_eq!(restarted.read(Catalog::snapshot), bytes);
}

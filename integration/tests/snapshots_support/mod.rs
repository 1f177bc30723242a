//! The catalog snapshot scenario `snapshots_nats.rs` (JetStream object store) and
//! `snapshots_kafka.rs` (snapshot topics on Tansu) run: a gateway started from the newest
//! snapshot plus the tail of the logs answers `/tasks`, `/batches`, `/indexes`, `/keys` and
//! cancelations exactly like one that folded the whole history, and a corrupted newest snapshot
//! is detected and skipped for an older one. The gateways run in this process over the real log
//! (as in `task_store.rs`); no node or indexer is needed: the scenario appends the task events an
//! indexer would.

use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::{KafkaLog, LogConfig, NatsLog, WriteLog};
use miroir_clients::snapshots::{KafkaSnapshotStore, NatsSnapshotStore, SnapshotName, SnapshotStore};
use miroir_gateway::app::authenticated_router;
use miroir_gateway::auth::{KeysOptions, KeysService, KeysSnapshot};
use miroir_gateway::catalog::DEFAULT_TASK_LIMIT;
use miroir_gateway::state::AppState;
use miroir_gateway::watch::snapshots::{restore_newest, spawn_writer, SnapshotArgs};
use miroir_integration::brokers::{Broker, LogKind};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::topology::{Node, Topology};
use serde_json::{json, Value};

const MASTER_KEY: &str = "masterKey";
const BOUND: Duration = Duration::from_secs(30);

/// One shard on one node that is not there: tasks wait for replica `n0`'s events.
fn topology() -> Topology {
    let node = Node { id: "n0".into(), url: "http://127.0.0.1:1".into(), replica_group: "g0".into(), api_key: None };
    Topology::new(1, 1, 1, vec![node]).unwrap()
}

/// How a test gateway starts its catalog.
enum Start<'s> {
    /// From position 0, writing no snapshot.
    WholeHistory,
    /// From the newest usable snapshot in the store, writing none.
    FromSnapshot(&'s Arc<dyn SnapshotStore>),
    /// From position 0, writing snapshots as often as it can.
    Writing(&'s Arc<dyn SnapshotStore>),
}

/// A gateway served on a loopback port, with what it started from; dropping it stops it.
struct TestGateway {
    base: String,
    client: reqwest::Client,
    started_from: Option<SnapshotName>,
    /// The key set the gateway's keys service started from.
    keys_from_snapshot: Option<KeysSnapshot>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

async fn serve(log: Arc<dyn WriteLog>, start: Start<'_>) -> TestGateway {
    let state = AppState::new(topology(), log.clone(), Some(MASTER_KEY.into()), 100_000_000);
    state.catalog().set_task_limit(DEFAULT_TASK_LIMIT);
    let (started_from, keys_from_snapshot) = match start {
        Start::FromSnapshot(store) => restore_newest(store.as_ref(), log.as_ref(), state.catalog(), DEFAULT_TASK_LIMIT)
            .await
            .map_or((None, None), |(name, keys)| (Some(name), keys)),
        Start::WholeHistory | Start::Writing(_) => (None, None),
    };
    let keys = KeysService::start_from(log, Some(MASTER_KEY.into()), KeysOptions::default(), keys_from_snapshot.clone())
        .await
        .expect("keys service");
    let mut tasks = state.start_watching();
    if let Start::Writing(store) = start {
        let args = SnapshotArgs { snapshot_every_tasks: 1, snapshot_interval_ms: 50, ..SnapshotArgs::default() };
        tasks.push(spawn_writer(store.clone(), state.catalog().clone(), args, None, Some(keys.clone())));
    }
    let router = authenticated_router(state, keys);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tasks.push(tokio::spawn(async move { axum::serve(listener, router).await.unwrap() }));
    TestGateway { base, client: reqwest::Client::new(), started_from, keys_from_snapshot, tasks }
}

impl TestGateway {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method.parse().unwrap(), format!("{}{path}", self.base)).bearer_auth(MASTER_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the gateway answers");
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// Registers a task; returns its uid.
    async fn enqueue(&self, method: &str, path: &str, body: Option<Value>) -> u64 {
        let (status, task) = self.call(method, path, body).await;
        assert!(status == 202 || status == 200, "{method} {path}: {status} {task}");
        task["taskUid"].as_u64().unwrap()
    }

    /// Creates an API key; returns its uid.
    async fn create_key(&self, name: &str, actions: &[&str], indexes: &[&str]) -> String {
        let body = json!({"name": name, "actions": actions, "indexes": indexes, "expiresAt": null});
        let (status, key) = self.call("POST", "/keys", Some(body)).await;
        assert_eq!(status, 201, "{key}");
        key["uid"].as_str().unwrap().to_owned()
    }

    /// What a client can read of the task store and the catalog, once each task of `settled`
    /// has its status.
    async fn view_once(&self, settled: &[(u64, &str)]) -> Value {
        wait_until(Deadline::after(BOUND), format!("{} never settled {settled:?}", self.base), async || {
            for (uid, status) in settled {
                let (_, task) = self.call("GET", &format!("/tasks/{uid}"), None).await;
                if task["status"] != *status {
                    return Ok(Progress::Waiting(format!("task {uid}: {task}")));
                }
            }
            let view = json!({
                "tasks": self.call("GET", "/tasks?limit=1000", None).await,
                "batches": self.call("GET", "/batches?limit=1000", None).await,
                "indexes": self.call("GET", "/indexes", None).await,
                "canceled": self.call("GET", "/tasks?statuses=canceled", None).await,
                "cancelations": self.call("GET", "/tasks?types=taskCancelation", None).await,
                "keys": self.call("GET", "/keys?limit=100", None).await,
            });
            Ok(Progress::Done(view))
        })
        .await
        .unwrap()
    }
}

/// Plays the indexer: replica `n0` applied task `uid`.
async fn applied(log: &dyn WriteLog, uid: u64) {
    miroir_integration::task_events::applied_on_shard_0(log, uid, "n0").await;
}

/// Waits until the store holds a snapshot covering the first `tasks` tasks; returns its name.
async fn snapshot_covering(store: &dyn SnapshotStore, tasks: u64) -> SnapshotName {
    wait_until(Deadline::after(BOUND), format!("no snapshot covers {tasks} tasks"), async || {
        let names = store.list().await?;
        Ok(names
            .iter()
            .max()
            .filter(|newest| newest.tasks >= tasks)
            .cloned()
            .map_or_else(|| Progress::Waiting(format!("{names:?}")), Progress::Done))
    })
    .await
    .unwrap()
}

/// The log and the snapshot store of `kind` on `broker`.
async fn open_log(kind: LogKind, broker: &Broker, config: &LogConfig) -> Arc<dyn WriteLog> {
    match kind {
        LogKind::Nats => Arc::new(NatsLog::connect(broker.url(), config.clone()).await.expect("connect to NATS")),
        LogKind::Kafka => Arc::new(KafkaLog::connect(broker.url(), config.clone()).await.expect("connect to Kafka")),
    }
}

async fn open_store(kind: LogKind, broker: &Broker, config: &LogConfig) -> Arc<dyn SnapshotStore> {
    match kind {
        LogKind::Nats => Arc::new(NatsSnapshotStore::connect(broker.url(), config).await.expect("the snapshot bucket")),
        LogKind::Kafka => Arc::new(KafkaSnapshotStore::connect(broker.url(), config).await.expect("the snapshot topics")),
    }
}

pub async fn a_gateway_started_from_a_snapshot_answers_like_one_that_folded_everything(kind: LogKind) {
    let broker = Broker::start(kind).expect("start the broker");
    let config = LogConfig::for_tests(format!("snapshots{}", std::process::id()));
    let open = async || open_log(kind, &broker, &config).await;
    let store = open_store(kind, &broker, &config).await;
    let log = open().await;
    let writer = serve(open().await, Start::Writing(&store)).await;

    // Before the first snapshot: indexes, documents (one canceled), a failed task.
    let books = writer.enqueue("POST", "/indexes", Some(json!({"uid": "books", "primaryKey": "id"}))).await;
    let films = writer.enqueue("POST", "/indexes", Some(json!({"uid": "films"}))).await;
    applied(log.as_ref(), books).await;
    applied(log.as_ref(), films).await;
    writer.view_once(&[(books, "succeeded"), (films, "succeeded")]).await;
    let kept = writer.enqueue("POST", "/indexes/books/documents", Some(json!([{"id": 1, "title": "a"}]))).await;
    let canceled = writer.enqueue("POST", "/indexes/books/documents", Some(json!([{"id": 2, "title": "b"}]))).await;
    let cancelation = writer.enqueue("POST", &format!("/tasks/cancel?uids={canceled}"), None).await;
    let failed = writer.enqueue("DELETE", "/indexes/missing", None).await;
    let early_key = writer.create_key("early", &["search"], &["books"]).await;
    writer.create_key("kept", &["documents.add"], &["*"]).await;
    writer.view_once(&[(canceled, "canceled"), (cancelation, "succeeded"), (failed, "failed")]).await;
    snapshot_covering(store.as_ref(), failed + 1).await;

    // Between snapshots: a task deletion and a finished write.
    applied(log.as_ref(), kept).await;
    let deletion = writer.enqueue("DELETE", &format!("/tasks?uids={failed}"), None).await;
    writer.view_once(&[(kept, "succeeded"), (deletion, "succeeded")]).await;
    snapshot_covering(store.as_ref(), deletion + 1).await;
    drop(writer);
    let mut stored = store.list().await.unwrap();
    stored.sort_unstable_by(|a, b| b.cmp(a));
    let [newest, older, ..] = &stored[..] else { panic!("the writer kept one snapshot at most: {stored:?}") };
    assert!(newest.tasks > older.tasks || newest.task_events > older.task_events || newest.meta > older.meta);

    // After the last snapshot (the tail): a settings write, another cancelation, an index
    // update, a write that stays enqueued.
    let mut gateways = vec![serve(open().await, Start::WholeHistory).await];
    let settings = gateways[0].enqueue("PATCH", "/indexes/films/settings", Some(json!({"searchableAttributes": ["title"]}))).await;
    let second_cancel = gateways[0].enqueue("POST", &format!("/tasks/cancel?uids={settings}"), None).await;
    let updated = gateways[0].enqueue("PATCH", "/indexes/films", Some(json!({"primaryKey": "key"}))).await;
    applied(log.as_ref(), updated).await;
    let pending = gateways[0].enqueue("POST", "/indexes/books/documents", Some(json!([{"id": 3}]))).await;
    gateways[0].create_key("late", &["*"], &["films"]).await;
    let (status, _) = gateways[0].call("DELETE", &format!("/keys/{early_key}"), None).await;
    assert_eq!(status, 204);
    let settled = [(settings, "canceled"), (second_cancel, "succeeded"), (updated, "succeeded"), (pending, "enqueued")];
    let whole_history = gateways[0].view_once(&settled).await;
    assert!(newest.tasks <= settings, "the tail holds every task from `settings` on");

    // Started from the newest snapshot + the tail: the same answers.
    let from_snapshot = serve(open().await, Start::FromSnapshot(&store)).await;
    assert_eq!(from_snapshot.started_from, Some(newest.clone()));
    // Its keys came from the snapshot (only the `meta` tail folded: `early` is in the snapshot
    // and deleted in the tail), and the snapshot holds no key value, only what `meta` holds.
    let restored = from_snapshot.keys_from_snapshot.as_ref().expect("the newest snapshot holds the key set");
    let restored_names: Vec<Option<&str>> = restored.keys.iter().map(|key| key.name.as_deref()).collect();
    assert!(restored_names.contains(&Some("early")) && restored_names.contains(&Some("kept")), "{restored_names:?}");
    assert!(!restored_names.contains(&Some("late")), "{restored_names:?}");
    let snapshot_text = String::from_utf8_lossy(&store.get(newest).await.unwrap().unwrap()).into_owned();
    for key in whole_history["keys"][1]["results"].as_array().unwrap() {
        assert!(!snapshot_text.contains(key["key"].as_str().unwrap()), "a key value is in the snapshot");
    }
    assert!(!snapshot_text.contains(MASTER_KEY));
    assert_eq!(from_snapshot.view_once(&settled).await, whole_history);

    // The newest snapshot corrupted (one byte of its body): refused, the older one is used.
    let mut corrupt = store.get(newest).await.unwrap().expect("the newest snapshot").to_vec();
    let last = corrupt.len() - 2;
    corrupt[last] ^= 0x01;
    store.put(newest, corrupt.into()).await.unwrap();
    let from_older = serve(open().await, Start::FromSnapshot(&store)).await;
    assert_eq!(from_older.started_from.as_ref(), Some(older));
    assert_eq!(from_older.view_once(&settled).await, whole_history);

    // A cancelation through each gateway after start agrees everywhere.
    let third_cancel = from_older.enqueue("POST", &format!("/tasks/cancel?uids={pending}"), None).await;
    gateways.push(from_snapshot);
    gateways.push(from_older);
    let settled = [(pending, "canceled"), (third_cancel, "succeeded")];
    let views: Vec<Value> = futures::future::join_all(gateways.iter().map(|gateway| gateway.view_once(&settled))).await;
    assert_eq!(views[1], views[0]);
    assert_eq!(views[2], views[0]);
    assert_eq!(views[0]["canceled"][1]["total"], json!(3), "{}", views[0]["canceled"]);
    let names: Vec<&Value> = views[0]["keys"][1]["results"].as_array().unwrap().iter().map(|key| &key["name"]).collect();
    assert!(names.contains(&&json!("late")) && names.contains(&&json!("kept")) && !names.contains(&&json!("early")), "{names:?}");
}

/// Measures a start from a snapshot against a full fold on `kind`'s broker, after
/// `MIROIR_SNAPSHOT_BENCH_TASKS` (default 100,000) document writes each applied by one replica,
/// appended straight to the log. Prints the numbers; run with `--ignored --nocapture`.
pub async fn measure_a_start_from_a_snapshot(kind: LogKind) {
    use miroir_clients::log::{NewRecord, Topic};
    use miroir_gateway::catalog::{Catalog, TaskLogEntry};
    use miroir_gateway::watch::snapshots::start_from_newest;
    use miroir_gateway::watch::{spawn_watchers, CatalogHandle};
    use miroir_schemas::details::TaskDetails;
    use miroir_schemas::envelope::encode;
    use miroir_schemas::task_log::{ShardTarget, TaskRecord, TaskType};
    use miroir_schemas::topology::ShardId;
    use std::time::Instant;

    // The start's log lines (which snapshot, why one was refused) go with the numbers.
    let _ = tracing_subscriber::fmt().with_env_filter("miroir_gateway=info").try_init();
    let count: u64 = std::env::var("MIROIR_SNAPSHOT_BENCH_TASKS").ok().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let broker = Broker::start(kind).expect("start the broker");
    let config = LogConfig::for_tests(format!("snapbench{}", std::process::id()));
    let log = open_log(kind, &broker, &config).await;
    let store = open_store(kind, &broker, &config).await;
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
    // Tansu reports a partition's end as the last record batch's first offset + 1: a last
    // record appended alone (its own batch) on every partition makes the end exact there.
    for uid in count..count + 50 {
        let details = TaskDetails::DocumentAdditionOrUpdate { received_documents: 1, indexed_documents: None };
        let record =
            TaskRecord::new(TaskType::DocumentAdditionOrUpdate, Some("books".into()), Some(details), time::OffsetDateTime::now_utc());
        log.append_many(Topic::Tasks, vec![NewRecord::new("tasks", format!("task-{uid}"), encode(&TaskLogEntry::new(record)))])
            .await
            .unwrap();
        log.append_many(Topic::TaskEvents, vec![miroir_integration::task_events::applied_on_shard_0_record(uid, "n0")]).await.unwrap();
    }
    println!("appended {count} tasks (+50 one by one) and their events in {:?}", started.elapsed());

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

    let started = Instant::now();
    let read_back = store.get(&name).await.map(|bytes| bytes.map(|bytes| bytes.len()));
    println!("snapshot read back from the store in {:?}: {read_back:?}", started.elapsed());
    let restarted = Arc::new(CatalogHandle::new());
    let started = Instant::now();
    assert_eq!(start_from_newest(store.as_ref(), log.as_ref(), &restarted, DEFAULT_TASK_LIMIT).await, Some(name));
    let loaded = started.elapsed();
    let tail = fold_all(&restarted).await;
    println!("start from the snapshot: loaded and verified in {loaded:?}, tail (nothing) folded in {tail:?}");
    assert_eq!(restarted.read(Catalog::snapshot), bytes);
}

//! The change-data-capture scenario `cdc_nats.rs` and `cdc_kafka.rs` run on real nodes: writes
//! of every kind through the gateway (batches failing on the nodes, one canceled, the reconciler
//! killed and restarted in the middle), then a consumer reads `cdc` from its start and checks
//! that it holds exactly one event per applied change, in order per document, none of a task
//! that was not applied, every one valid against the published schema, and that replaying it
//! rebuilds each index's documents exactly as the gateway serves them.

pub mod rebuild;
pub mod stream;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::{KafkaLog, LogConfig, NatsLog, WriteLog};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::process::Signal;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::cdc::{CdcChange, DeletedRange};
use miroir_schemas::envelope::WriteOrigin;
use miroir_schemas::topology::ShardId;
use reqwest::Method;
use serde_json::{json, Map, Value};

const MASTER_KEY: &str = "cdc-master-key";
const SHARDS: u32 = 7;
/// Bounds only turn a hang into a failure.
const TASK_BOUND: Duration = Duration::from_secs(180);
const STREAM_BOUND: Duration = Duration::from_secs(120);
const GENRES: [&str; 3] = ["horror", "comedy", "drama"];
const DELETED_GENRE_FILTER: &str = "genre = horror";

/// The gateway as an SDK sees it.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(MASTER_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Enqueues a write and returns its task uid.
    async fn write(&self, method: Method, path: &str, body: Option<Value>) -> u64 {
        let (status, answer) = self.call(method, path, body).await;
        assert_eq!(status, 202, "{path}: {answer}");
        answer["taskUid"].as_u64().unwrap()
    }

    async fn wait_task(&self, uid: u64) -> Value {
        wait_until(Deadline::after(TASK_BOUND), format!("task {uid} did not finish"), async || {
            let (status, task) = self.call(Method::GET, &format!("/tasks/{uid}"), None).await;
            let done = status == 200 && matches!(task["status"].as_str(), Some("succeeded" | "failed" | "canceled"));
            Ok(if done { Progress::Done(task) } else { Progress::Waiting(task.to_string()) })
        })
        .await
        .unwrap()
    }

    /// Writes, waits, and checks the task ended with `status`.
    async fn applied(&self, method: Method, path: &str, body: Option<Value>, status: &str) -> u64 {
        let uid = self.write(method, path, body).await;
        let task = self.wait_task(uid).await;
        assert_eq!(task["status"], status, "{path}: {task}");
        uid
    }

    async fn documents(&self, index: &str) -> BTreeMap<String, Map<String, Value>> {
        let (status, page) = self.call(Method::GET, &format!("/indexes/{index}/documents?limit=100000"), None).await;
        assert_eq!(status, 200, "{page}");
        let documents = page["results"].as_array().unwrap().iter().map(|d| d.as_object().unwrap().clone());
        documents.map(|d| (id_of(&d), d)).collect()
    }
}

fn id_of(document: &Map<String, Value>) -> String {
    match &document["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    }
}

fn books(ids: impl Iterator<Item = u32>, tag: &str) -> Value {
    Value::Array(ids.map(|i| json!({"id": i, "title": format!("{tag} {i}"), "genre": GENRES[i as usize % 3], "meta": {"a": i}})).collect())
}

async fn open_log(cluster: &Cluster, kind: LogKind) -> Arc<dyn WriteLog> {
    let config = LogConfig::for_tests(cluster.spec.topic_prefix.clone());
    match kind {
        LogKind::Nats => Arc::new(NatsLog::connect(cluster.broker.url(), config).await.expect("connecting to NATS")),
        LogKind::Kafka => Arc::new(KafkaLog::connect(cluster.broker.url(), config).await.expect("connecting to Kafka")),
    }
}

/// Task uid → how many events it must give once de-duplicated.
type Expected = BTreeMap<u64, usize>;

pub async fn applied_changes_stream_exactly_and_rebuild_the_index(kind: LogKind) {
    let builder = Cluster::builder(kind).nodes(3).shards(SHARDS).replication_factor(2).master_key(MASTER_KEY);
    let mut cluster = builder.topic_prefix("cdc").start().await.expect("starting the cluster");
    let api =
        Api { base: cluster.gateway_url().to_owned(), http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap() };
    let placement = cluster.placement();
    let shards = SHARDS as usize;
    let mut expected = Expected::new();
    let mut expect = |uid: u64, events: usize| expected.insert(uid, events);

    expect(api.applied(Method::POST, "/indexes", Some(json!({"uid": "books", "primaryKey": "id"})), "succeeded").await, 1);
    let settings = json!({"filterableAttributes": ["genre", "_geo"]});
    expect(api.applied(Method::PATCH, "/indexes/books/settings", Some(settings), "succeeded").await, 1);
    expect(api.applied(Method::POST, "/indexes/books/documents", Some(books(0..200, "book")), "succeeded").await, 200);

    // The reconciler dies without committing; its successor publishes again from the commit.
    cluster.miroir().reconciler.kill9();
    let partial: Vec<Value> = (0..20).map(|i| json!({"id": i, "price": i * 10, "meta": {"b": 1}})).collect();
    expect(api.applied(Method::PUT, "/indexes/books/documents", Some(Value::Array(partial)), "succeeded").await, 20);
    let mut ids: Vec<Value> = (20..30).map(|i| json!(i.to_string())).collect();
    ids.push(json!("no-such-document"));
    expect(api.applied(Method::POST, "/indexes/books/documents/delete-batch", Some(Value::Array(ids)), "succeeded").await, 11);
    cluster.miroir().reconciler.restart().expect("restarting the reconciler");
    let filter = json!({"filter": DELETED_GENRE_FILTER});
    expect(api.applied(Method::POST, "/indexes/books/documents/delete", Some(filter), "succeeded").await, shards);

    // Fail on the nodes (the gateway does not read `_geo`). A batch whose documents all fall in
    // the invalid document's shard changes nothing and gives no event; a batch spread over
    // shards fails only that shard's node tasks: the task reads `failed`, but the other shards
    // applied their documents, and those are published.
    let bad_shard = placement.shard_of("geo-bad");
    let candidates = || (0..).map(|i| format!("geo-{i}"));
    let bad = json!({"id": "geo-bad", "_geo": {"lat": "north", "lng": 1}});
    let mut same_shard: Vec<Value> =
        candidates().filter(|id| placement.shard_of(id) == bad_shard).take(2).map(|id| json!({"id": id})).collect();
    same_shard.push(bad.clone());
    let failed = api.applied(Method::POST, "/indexes/books/documents", Some(Value::Array(same_shard)), "failed").await;
    // Any other shard: where a node index holds both shards at one rank, the indexer's merged
    // request fails whole and is re-sent shard by shard, so every replica of the good shard
    // applies its document.
    let apart = |shard: ShardId| shard != bad_shard;
    let elsewhere = candidates().find(|id| apart(placement.shard_of(id))).expect("another shard");
    let spread = json!([{"id": elsewhere, "genre": "comedy"}, bad]);
    expect(api.applied(Method::POST, "/indexes/books/documents", Some(spread), "failed").await, 1);

    // Canceled before any indexer started it.
    cluster.miroir().indexer.signal(Signal::Stop);
    let canceled = api.write(Method::POST, "/indexes/books/documents", Some(books(500..510, "canceled"))).await;
    let (status, cancelation) = api.call(Method::POST, &format!("/tasks/cancel?uids={canceled}"), None).await;
    assert_eq!(status, 200, "{cancelation}");
    let cancelation = api.wait_task(cancelation["taskUid"].as_u64().unwrap()).await;
    cluster.miroir().indexer.signal(Signal::Cont);
    assert_eq!(cancelation["details"]["canceledTasks"], 1, "{cancelation}");
    assert_eq!(api.wait_task(canceled).await["status"], "canceled");
    expect(api.applied(Method::POST, "/indexes/books/documents", Some(books(300..305, "later")), "succeeded").await, 5);

    expect(api.applied(Method::POST, "/indexes", Some(json!({"uid": "scratch", "primaryKey": "id"})), "succeeded").await, 1);
    expect(api.applied(Method::POST, "/indexes/scratch/documents", Some(books(0..10, "scratch")), "succeeded").await, 10);
    expect(api.applied(Method::DELETE, "/indexes/scratch/documents", None, "succeeded").await, shards);
    expect(api.applied(Method::POST, "/indexes/scratch/documents", Some(books(10..13, "scratch")), "succeeded").await, 3);

    expect(api.applied(Method::POST, "/indexes", Some(json!({"uid": "gone", "primaryKey": "id"})), "succeeded").await, 1);
    expect(api.applied(Method::POST, "/indexes/gone/documents", Some(books(0..4, "gone")), "succeeded").await, 4);
    expect(api.applied(Method::DELETE, "/indexes/gone", None, "succeeded").await, 1);

    // Read the stream from its start until every expected event is there.
    let log = open_log(&cluster, kind).await;
    let schema = stream::published_schema();
    let total: usize = expected.values().sum();
    wait_until(Deadline::after(STREAM_BOUND).polling_every(Duration::from_millis(500)), "the CDC stream is incomplete", async || {
        let delivered = stream::read_all(&log, &schema).await;
        let distinct: BTreeSet<&str> = delivered.iter().map(|d| d.event.event_id.as_str()).collect();
        if distinct.len() >= total {
            return Ok(Progress::Done(()));
        }
        let mut per_task: Expected = BTreeMap::new();
        stream::deduplicated(&delivered).values().flatten().for_each(|event| *per_task.entry(event.task_uid).or_default() += 1);
        let short: Vec<String> = expected
            .iter()
            .filter(|(uid, n)| per_task.get(uid) != Some(n))
            .map(|(uid, n)| format!("task {uid}: {:?} of {n}", per_task.get(uid)))
            .collect();
        Ok(Progress::Waiting(format!("{} of {total} events; {}", distinct.len(), short.join(", "))))
    })
    .await
    .unwrap();
    // Anything published late (which it must not be) gets a moment to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let delivered = stream::read_all(&log, &schema).await;
    let per_index = stream::deduplicated(&delivered);
    eprintln!("{} CDC records read, {} distinct events", delivered.len(), per_index.values().map(Vec::len).sum::<usize>());

    for record in &delivered {
        assert!(![failed, canceled].contains(&record.event.task_uid), "an event of a task that was not applied: {}", record.wire);
    }
    let mut per_task: Expected = BTreeMap::new();
    for event in per_index.values().flatten() {
        *per_task.entry(event.task_uid).or_default() += 1;
        assert_eq!(event.origin, WriteOrigin::Client);
        if let CdcChange::DocumentUpserted { shard, document_id, .. } | CdcChange::DocumentDeleted { shard, document_id } = &event.change {
            assert_eq!(*shard, placement.shard_of(document_id), "{event:?}");
        }
    }
    assert_eq!(per_task, expected, "events per task (left) must be one per applied change (right)");

    for (index, events) in &per_index {
        let mut last_position: BTreeMap<&str, _> = BTreeMap::new();
        for event in events {
            let document = match &event.change {
                CdcChange::DocumentUpserted { document_id, .. } | CdcChange::DocumentDeleted { document_id, .. } => document_id,
                _ => continue,
            };
            if let Some(previous) = last_position.insert(document.as_str(), event.position) {
                assert!(previous < event.position, "{index}/{document}: {previous:?} then {:?}", event.position);
            }
        }
    }
    let books_ranges: BTreeSet<ShardId> = per_index["books"]
        .iter()
        .filter_map(|e| match &e.change {
            CdcChange::DocumentRangeDeleted { shard, range: DeletedRange::Filter(filter) } if filter == DELETED_GENRE_FILTER => {
                Some(*shard)
            }
            _ => None,
        })
        .collect();
    assert_eq!(books_ranges, placement.shards().collect(), "one range deletion per shard");

    let by_genre = |filter: &Value, document: &Map<String, Value>| {
        assert_eq!(filter, DELETED_GENRE_FILTER, "the only filter this scenario deletes by");
        document.get("genre") == Some(&json!("horror"))
    };
    for index in ["books", "scratch"] {
        let copy = rebuild::rebuild(&per_index[index], by_genre);
        let rebuilt: BTreeMap<String, Map<String, Value>> = copy.documents.into_iter().map(|(id, (_, d))| (id, d)).collect();
        let served = api.documents(index).await;
        assert!(!served.is_empty(), "{index} holds documents");
        assert_eq!(rebuilt, served, "{index}: the copy rebuilt from CDC (left) differs from the gateway's documents (right)");
    }
    let gone = rebuild::rebuild(&per_index["gone"], by_genre);
    assert!(!gone.exists && gone.documents.is_empty());
    assert_eq!(api.call(Method::GET, "/indexes/gone", None).await.0, 404);
}

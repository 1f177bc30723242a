//! Resharding through the admin API (docs/resharding.md), on the in-memory log: a reshard is
//! planned, recorded in `meta` and followed by its barrier on the index's `ops` partition; bad
//! requests are refused with Meilisearch-shaped errors and record nothing; once the switch is
//! folded, writes are routed by the new layout and swaps or renames joining indexes of
//! different shard counts are refused.

use axum::http::StatusCode;
use miroir_clients::log::{partition_for_key, Topic, WriteLog};
use miroir_schemas::envelope::{decode, encode, ops_key, Op, OpEnvelope};
use miroir_schemas::meta_log::topology_changes::{TopologyBook, TopologyChange};
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::TaskRecord;
use miroir_schemas::topology::ShardId;
use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::support::{meili_error, memory_log, topology, Setup, TestGateway};

const RESHARD_MOVIES: &str = "/_miroir/indexes/movies/reshard";

/// The reshard records in `meta`.
async fn reshard_records(gateway: &TestGateway) -> Vec<TopologyChange> {
    let records = gateway.records(Topic::Meta).await;
    records.iter().filter_map(|record| decode::<MetaEnvelope>(&record.payload).ok()?.topology_change()).collect()
}

async fn create(gateway: &TestGateway, uid: &str) {
    let (status, task) = gateway.call("POST", "/indexes", Some(json!({"uid": uid}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
}

/// Plays the indexer: `movies` switched to `shards` shards (recorded in `meta` as the indexer
/// does), then waits until the gateway folded it.
async fn switch_movies(gateway: &TestGateway, shards: u32) {
    let log = &gateway.log;
    let changes = [
        TopologyChange::ReshardProposed { index: "movies".into(), shards, at: OffsetDateTime::now_utc() },
        TopologyChange::ReshardSwitched { index: "movies".into(), shards, position: 0 },
    ];
    for (i, change) in changes.into_iter().enumerate() {
        log.append(Topic::Meta, "topology", &format!("reshard:{i}"), encode(&MetaEnvelope::new(change)).into()).await.unwrap();
    }
    let (_, view) = gateway.call("GET", RESHARD_MOVIES, None).await;
    assert_eq!(view["shardCount"], shards, "{view}");
}

#[tokio::test]
async fn a_reshard_is_recorded_then_its_barrier_goes_to_the_index_partition() {
    let log = memory_log();
    let a = Setup { log: log.clone(), ..Setup::default() }.start().await;
    let b = Setup { log: log.clone(), ..Setup::default() }.start().await;
    create(&a, "movies").await;
    let ops_before = a.ops().await.len();

    let (status, plan) = a.call("POST", RESHARD_MOVIES, Some(json!({"shards": 12}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{plan}");
    // 3 shards × RF 2 in one replica group; the nodes behind the test gateway do not answer,
    // so the index's size is unknown.
    assert_eq!(
        plan,
        json!({"index": "movies", "fromShards": 3, "toShards": 12, "documentsToCopy": null, "extraDiskBytes": null,
            "replicasPerDocument": 2, "dryRun": false})
    );
    let records = reshard_records(&a).await;
    let [TopologyChange::ReshardProposed { index, shards: 12, at }] = records.as_slice() else { panic!("{records:?}") };
    assert_eq!(index, "movies");

    let barriers: Vec<_> = a.records(Topic::Ops).await.into_iter().skip(ops_before).collect();
    let [barrier] = barriers.as_slice() else { panic!("{} records after the proposal", barriers.len()) };
    let envelope: OpEnvelope = decode(&barrier.payload).unwrap();
    assert_eq!((envelope.op, envelope.index_uid.as_deref(), envelope.task_uid), (Op::Reshard { shards: 12 }, Some("movies"), 0));
    assert_eq!(barrier.key, ops_key("movies"));
    assert_eq!(barrier.position.partition, partition_for_key(&ops_key("movies"), log.config().partitions(Topic::Ops)));
    assert_eq!(barrier.dedup_id, format!("reshard:movies:12:{}", at.unix_timestamp_nanos()));

    // The other gateway folds it: building, the index keeps its shard count until the switch.
    let (status, view) = b.call("GET", RESHARD_MOVIES, None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!((view["index"].clone(), view["shardCount"].clone()), (json!("movies"), json!(3)));
    assert_eq!((view["reshard"]["phase"].clone(), view["reshard"]["toShards"].clone()), (json!("building"), json!(12)));
    let (_, status) = b.call("GET", "/_miroir/status", None).await;
    assert_eq!(status["reshard"]["index"], "movies", "{status}");
    assert_eq!(status["shardCounts"], json!({}));

    // One reshard at a time, and no topology change meanwhile.
    create(&a, "books").await;
    let (status, error) = b.call("POST", "/_miroir/indexes/books/reshard", Some(json!({"shards": 6}))).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::CONFLICT, json!("reshard_in_progress")), "{error}");
    let node = json!({"id": "n3", "url": "http://127.0.0.1:4", "replicaGroup": "g0"});
    let (status, error) = b.call("POST", "/_miroir/topology/nodes", Some(node)).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::CONFLICT, json!("reshard_in_progress")), "{error}");
    assert_eq!(reshard_records(&a).await.len(), 1, "nothing more recorded");
    // Nor a verify pass: the new layout being built would look like drift.
    let (status, error) = b.call("POST", "/_miroir/verify", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::CONFLICT, json!("reshard_in_progress")), "{error}");
}

#[tokio::test]
async fn a_dry_run_and_bad_requests_record_nothing() {
    let gateway = TestGateway::new().await;
    create(&gateway, "movies").await;
    let ops_before = gateway.ops().await.len();
    let (status, plan) = gateway.call("POST", &format!("{RESHARD_MOVIES}?dryRun=true"), Some(json!({"shards": 6}))).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!((plan["toShards"].clone(), plan["dryRun"].clone()), (json!(6), json!(true)));

    let refusals = [
        (RESHARD_MOVIES.to_owned(), json!({"shards": 3}), 400, "invalid_reshard"),
        (RESHARD_MOVIES.to_owned(), json!({"shards": 0}), 400, "invalid_reshard"),
        (RESHARD_MOVIES.to_owned(), json!({"shards": 5000}), 400, "invalid_reshard"),
        (RESHARD_MOVIES.to_owned(), json!({"shards": "6"}), 400, "invalid_reshard"),
        (RESHARD_MOVIES.to_owned(), json!([6]), 400, "invalid_reshard"),
        (format!("{RESHARD_MOVIES}?dryRun=maybe"), json!({"shards": 6}), 400, "invalid_reshard"),
    ];
    for (path, body, status, code) in refusals {
        let (got, error) = gateway.call("POST", &path, Some(body.clone())).await;
        assert_eq!((got.as_u16(), error["code"].as_str()), (status, Some(code)), "{path} {body}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, error) = gateway.call("POST", "/_miroir/indexes/films/reshard", Some(json!({"shards": 6}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error, meili_error("index_not_found", "invalid_request", "Index `films` not found."));
    assert_eq!(gateway.call("GET", "/_miroir/indexes/films/reshard", None).await.0, StatusCode::NOT_FOUND);

    // Only the master key reshards.
    let (_, keys) = gateway.call("GET", "/keys", None).await;
    let admin = keys["results"].as_array().unwrap().iter().find(|k| k["name"] == "Default Admin API Key").unwrap()["key"].clone();
    assert_eq!(gateway.call_as("POST", RESHARD_MOVIES, admin.as_str(), Some(json!({"shards": 6}))).await.0, StatusCode::FORBIDDEN);
    assert!(reshard_records(&gateway).await.is_empty());
    assert_eq!(gateway.ops().await.len(), ops_before);
}

#[tokio::test]
async fn writes_are_routed_by_the_layout_the_index_switched_to() {
    let log = memory_log();
    let gateway = Setup { log: log.clone(), ..Setup::default() }.start().await;
    create(&gateway, "movies").await;
    switch_movies(&gateway, 12).await;
    let ops_before = gateway.ops().await.len();

    let documents: Vec<Value> = (0..60).map(|id| json!({"id": id})).collect();
    assert_eq!(gateway.call("POST", "/indexes/movies/documents", Some(json!(documents))).await.0, StatusCode::ACCEPTED);
    assert_eq!(gateway.call("DELETE", "/indexes/movies/documents", None).await.0, StatusCode::ACCEPTED);

    let resharded = Placement::new(miroir_schemas::topology::Topology { shard_count: 12, ..topology(3) });
    let ops: Vec<OpEnvelope> = gateway.ops().await.into_iter().skip(ops_before).map(|(_, envelope)| envelope).collect();
    assert!(ops.iter().all(|envelope| envelope.layout == Some(12)), "every envelope names the layout");
    let mut routed = Vec::new();
    for envelope in &ops {
        if let Op::Documents { documents, .. } = &envelope.op {
            for document in documents {
                assert_eq!(resharded.shard_of(&document["id"].to_string()), envelope.shard, "{document:?}");
                routed.push(envelope.shard);
            }
        }
    }
    assert_eq!(routed.len(), 60);
    assert!(routed.iter().any(|shard| shard.0 >= 3), "documents reach shards the launch layout does not have");
    let cleared: Vec<ShardId> = ops.iter().filter(|e| e.op == Op::ClearDocuments).map(|e| e.shard).collect();
    assert_eq!(cleared, (0..12).map(ShardId).collect::<Vec<_>>(), "a clear reaches every shard of the new layout");

    // Task targets: the new layout's holders.
    let partitions = log.config().partitions(Topic::Ops);
    let mut book = TopologyBook::new(Placement::new(topology(3)), partitions);
    reshard_records(&gateway).await.iter().for_each(|change| book.apply(change));
    let partition = partition_for_key(&ops_key("movies"), partitions);
    let tasks: Vec<TaskRecord> = gateway.records(Topic::Tasks).await.iter().map(|r| decode(&r.payload).unwrap()).collect();
    let clear = tasks.last().unwrap();
    assert_eq!(clear.targets.len(), 12);
    for target in &clear.targets {
        assert_eq!(target.replicas, book.write_targets(partition, target.shard, Some(12)));
    }

    let (_, status) = gateway.call("GET", "/_miroir/status", None).await;
    assert_eq!(status["shardCounts"], json!({"movies": 12}), "{status}");
}

#[tokio::test]
async fn swaps_and_renames_join_only_indexes_of_one_shard_count() {
    let gateway = TestGateway::new().await;
    create(&gateway, "movies").await;
    create(&gateway, "books").await;
    create(&gateway, "comics").await;
    switch_movies(&gateway, 12).await;
    let tasks_before = gateway.records(Topic::Tasks).await.len();

    let (status, error) = gateway.call("POST", "/swap-indexes", Some(json!([{"indexes": ["movies", "books"]}]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = "Indexes `movies` and `books` have different shard counts (12 and 3); reshard one of them first.";
    assert_eq!(error, meili_error("index_layouts_differ", "invalid_request", message));
    let (status, error) = gateway.call("PATCH", "/indexes/movies", Some(json!({"uid": "films"}))).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("index_layouts_differ")), "{error}");
    assert_eq!(gateway.records(Topic::Tasks).await.len(), tasks_before, "nothing recorded");
    // A swap Meilisearch fails (a missing index) fails as there, whatever the shard counts.
    let (status, task) = gateway.call("POST", "/swap-indexes", Some(json!([{"indexes": ["movies", "ghost"]}]))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let task = gateway.wait_status(task["taskUid"].as_u64().unwrap(), "failed").await;
    assert_eq!(task["error"]["code"], "index_not_found", "{task}");

    // Indexes of one layout swap as before, on that layout's shards.
    let ops_before = gateway.ops().await.len();
    let (status, task) = gateway.call("POST", "/swap-indexes", Some(json!([{"indexes": ["books", "comics"]}]))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    let swaps: Vec<OpEnvelope> = gateway.ops().await.into_iter().skip(ops_before).map(|(_, envelope)| envelope).collect();
    assert_eq!(swaps.len(), 3);
    assert!(swaps.iter().all(|envelope| envelope.layout.is_none()));
}

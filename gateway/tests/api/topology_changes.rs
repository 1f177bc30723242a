//! Online topology changes through the admin API (docs/topology.md), on the in-memory log: a
//! change is recorded in `meta` and followed by one copy barrier per `ops` partition, every
//! gateway folds it, a second change waits for the first, bad changes are refused with
//! Meilisearch-shaped errors, and task targets follow the move's barriers.

use axum::http::StatusCode;
use miroir_clients::log::{partition_for_key, Topic, WriteLog};
use miroir_schemas::envelope::{decode, encode, ops_key, Op};
use miroir_schemas::meta_log::topology_changes::{TopologyBook, TopologyChange};
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::TaskRecord;
use serde_json::{json, Value};

use crate::support::{memory_log, topology, Setup, TestGateway};

const NEW_NODE: &str = "/_miroir/topology/nodes";

fn n3() -> Value {
    json!({"id": "n3", "url": "http://127.0.0.1:4", "replicaGroup": "g0", "apiKey": "nodeKey"})
}

/// The topology changes recorded in `meta`.
async fn topology_records(gateway: &TestGateway) -> Vec<TopologyChange> {
    let records = gateway.records(Topic::Meta).await;
    records.iter().filter_map(|record| decode::<MetaEnvelope>(&record.payload).ok()?.topology_change()).collect()
}

#[tokio::test]
async fn a_dry_run_plans_and_changes_nothing() {
    let gateway = TestGateway::new().await;
    let (status, plan) = gateway.call("POST", &format!("{NEW_NODE}?dryRun=true"), Some(n3())).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!((plan["version"].clone(), plan["change"].clone(), plan["dryRun"].clone()), (json!(2), json!("addNode"), json!(true)));
    // 3 shards × RF 2 over 4 nodes: the new node's fair share is 1.5 replicas.
    assert_eq!(plan["ideal"], 1.5);
    let to_n3 = plan["copies"].as_array().unwrap().iter().filter(|copy| copy["node"] == "n3").count();
    assert!((1..=2).contains(&to_n3), "{plan}");
    assert_eq!(plan["moved"], to_n3);
    // No index yet: every copy copies no document.
    assert!(plan["copies"].as_array().unwrap().iter().all(|copy| copy["documents"] == 0), "{plan}");
    assert_eq!(plan["documentsToCopy"], 0);
    assert!(topology_records(&gateway).await.is_empty());
    assert!(gateway.ops().await.is_empty());
    let (_, view) = gateway.call("GET", "/_miroir/topology", None).await;
    assert_eq!((view["version"].clone(), view["move"].clone()), (json!(1), Value::Null));
}

#[tokio::test]
async fn a_copy_whose_documents_no_replica_can_count_says_null() {
    let gateway = TestGateway::new().await;
    let (status, task) = gateway.call("POST", "/indexes", Some(json!({"uid": "movies"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{task}");
    // The nodes behind the test gateway do not answer.
    let (status, plan) = gateway.call("POST", &format!("{NEW_NODE}?dryRun=true"), Some(n3())).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    let copies = plan["copies"].as_array().unwrap();
    assert!(!copies.is_empty() && copies.iter().all(|copy| copy["documents"].is_null()), "{plan}");
    assert!(plan["documentsToCopy"].is_null(), "{plan}");
}

#[tokio::test]
async fn a_change_is_recorded_then_a_copy_barrier_goes_to_every_partition_and_every_gateway_sees_it() {
    let log = memory_log();
    let a = Setup { log: log.clone(), ..Setup::default() }.start().await;
    let b = Setup { log: log.clone(), ..Setup::default() }.start().await;
    let (status, plan) = a.call("POST", NEW_NODE, Some(n3())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{plan}");
    assert_eq!((plan["version"].clone(), plan["dryRun"].clone()), (json!(2), json!(false)));

    let records = topology_records(&a).await;
    let [TopologyChange::TopologyProposed { topology, .. }] = records.as_slice() else { panic!("{records:?}") };
    assert_eq!((topology.version, topology.nodes.len()), (2, 4));
    assert_eq!(topology.node("n3").unwrap().api_key.as_deref(), Some("nodeKey"));

    let partitions = log.config().partitions(Topic::Ops);
    let barriers: Vec<(u32, String)> = a
        .records(Topic::Ops)
        .await
        .into_iter()
        .map(|record| {
            let envelope: miroir_schemas::envelope::OpEnvelope = decode(&record.payload).unwrap();
            assert_eq!(envelope.op, Op::CopyShards { version: 2 });
            (record.position.partition, record.dedup_id)
        })
        .collect();
    let expected: Vec<(u32, String)> = (0..partitions).map(|p| (p, format!("copy:2:{p}"))).collect();
    assert_eq!(barriers, expected);

    // The other gateway folds the same change: the new version, and its move being copied.
    let (_, view) = b.call("GET", "/_miroir/topology", None).await;
    assert_eq!(view["version"], 2);
    assert_eq!(view["move"]["phase"], "copying");
    assert_eq!(view["move"]["partitions"], partitions);
    assert_eq!(view["move"]["copiedPartitions"], json!([]));
    assert!(view["nodes"].as_array().unwrap().iter().any(|node| node["id"] == "n3" && node["draining"] == false), "{view}");
    assert!(!view.to_string().contains("nodeKey"), "node keys never appear: {view}");

    // A second change waits until the first has moved.
    let (status, error) = b.call("POST", "/_miroir/topology/nodes/n0/drain", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["code"], "topology_change_in_progress");
    assert_eq!(error["type"], "invalid_request");
    assert_eq!(error["link"], "https://docs.meilisearch.com/errors#topology_change_in_progress");
    assert_eq!(topology_records(&a).await.len(), 1, "nothing recorded");

    let (_, status) = a.call("GET", "/_miroir/status", None).await;
    assert_eq!(status["move"]["version"], 2, "{status}");
}

#[tokio::test]
async fn bad_changes_are_refused_and_record_nothing() {
    let gateway = TestGateway::new().await;
    let refusals = [
        ("POST", NEW_NODE.to_owned(), Some(json!({"id": "n0", "url": "http://x", "replicaGroup": "g0"})), 400, "invalid_topology_change"),
        ("POST", NEW_NODE.to_owned(), Some(json!({"id": "n9", "url": "x", "replicaGroup": "g0"})), 400, "invalid_topology_change"),
        ("POST", NEW_NODE.to_owned(), Some(json!({"id": "n9", "url": "http://x"})), 400, "invalid_topology_change"),
        ("POST", format!("{NEW_NODE}?dryRun=maybe"), Some(n3()), 400, "invalid_topology_change"),
        ("DELETE", format!("{NEW_NODE}/n9"), None, 404, "topology_node_not_found"),
        ("POST", format!("{NEW_NODE}/n9/drain"), None, 404, "topology_node_not_found"),
    ];
    for (method, path, body, status, code) in refusals {
        let (got, error) = gateway.call(method, &path, body).await;
        assert_eq!((got.as_u16(), error["code"].as_str()), (status, Some(code)), "{method} {path}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Only the master key changes the topology.
    let (_, keys) = gateway.call("GET", "/keys", None).await;
    let admin = keys["results"].as_array().unwrap().iter().find(|k| k["name"] == "Default Admin API Key").unwrap()["key"].clone();
    assert_eq!(gateway.call_as("POST", NEW_NODE, admin.as_str(), Some(n3())).await.0, StatusCode::FORBIDDEN);
    assert_eq!(gateway.call_as("DELETE", &format!("{NEW_NODE}/n0"), None, None).await.0, StatusCode::UNAUTHORIZED);
    assert!(topology_records(&gateway).await.is_empty());
    assert!(gateway.ops().await.is_empty());
}

#[tokio::test]
async fn task_targets_follow_the_copy_barriers() {
    let log = memory_log();
    let gateway = Setup { log: log.clone(), ..Setup::default() }.start().await;
    assert_eq!(gateway.call("POST", "/indexes/movies/documents", Some(json!([{"id": 1}]))).await.0, StatusCode::ACCEPTED);
    assert_eq!(gateway.call("POST", NEW_NODE, Some(n3())).await.0, StatusCode::ACCEPTED);
    let partitions = log.config().partitions(Topic::Ops);
    let documents: Vec<Value> = (0..30).map(|id| json!({"id": id})).collect();

    // Copying: operations reach the previous holders only.
    assert_eq!(gateway.call("POST", "/indexes/movies/documents", Some(json!(documents))).await.0, StatusCode::ACCEPTED);
    // The indexers copied every partition at its barrier: later operations reach old and new holders.
    for partition in 0..partitions {
        let change = TopologyChange::ShardsCopied { version: 2, partition, position: 0 };
        log.append(Topic::Meta, "topology", &format!("copied:{partition}"), encode(&MetaEnvelope::new(change)).into()).await.unwrap();
    }
    assert_eq!(gateway.call("GET", "/_miroir/topology", None).await.1["move"]["phase"], "switched");
    assert_eq!(gateway.call("POST", "/indexes/movies/documents", Some(json!(documents))).await.0, StatusCode::ACCEPTED);

    let tasks: Vec<TaskRecord> = gateway.records(Topic::Tasks).await.iter().map(|r| decode(&r.payload).unwrap()).collect();
    let [_, copying, switched] = tasks.as_slice() else { panic!("{} tasks", tasks.len()) };
    let launch = Placement::new(topology(3));
    for target in &copying.targets {
        let holders: Vec<String> = launch.replicas(target.shard).iter().map(|node| node.id.clone()).collect();
        assert_eq!(target.replicas, holders, "before the copy barrier: the launch holders");
    }
    let mut book = TopologyBook::new(launch, partitions);
    for change in topology_records(&gateway).await {
        book.apply(&change);
    }
    let partition = partition_for_key(&ops_key("movies"), partitions);
    assert_eq!(switched.targets.len(), 3);
    for target in &switched.targets {
        assert_eq!(target.replicas, book.write_targets(partition, target.shard, None));
    }
    assert!(switched.targets.iter().any(|target| target.replicas.contains(&"n3".to_owned())), "{:?}", switched.targets);
}

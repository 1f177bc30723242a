//! Online resharding end to end on NATS with real nodes (docs/resharding.md): an index in 3 nodes
//! at S = 4, RF = 2, searches and writes running, is resharded to 12 with `miroirctl reshard`
//! (its indexer killed -9 during the build), then back to 4 (killed -9 after the switch).
//! Throughout, every search answers every document written before the reshards exactly once;
//! afterwards every node index of the new layout holds exactly the shards HRW over its shard
//! count gives it, every replica of a shard holds the same documents, the old layout is gone,
//! every acknowledged write is there, and the change stream holds one event per write and
//! nothing for the copies.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::{LogConfig, NatsLog, Topic, WriteLog};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::master_calls::{send, wait_task};
use miroir_integration::recorded::{http_client, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::cdc::{CdcChange, CdcEvent};
use miroir_schemas::node_layout::{layout_node_index_uid, ReplicaRank, SHARD_FIELD};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::{ShardId, Topology};
use serde_json::{json, Value};

const INDEX: &str = "items";
/// Documents written before the reshards; searches must find exactly these among `batch = initial`.
const INITIAL: u64 = 3000;

/// One search for every document written before the reshards: `Err` describes a wrong answer.
async fn sweep(client: &reqwest::Client, base: &str) -> Result<(), String> {
    let body = json!({"q": "", "filter": "batch = initial", "hitsPerPage": INITIAL, "page": 1, "attributesToRetrieve": ["id"]});
    let (status, answer) = send(client.post(format!("{base}/indexes/{INDEX}/search")).json(&body)).await;
    if status != 200 {
        return Err(format!("search answered {status}: {answer}"));
    }
    if answer["totalHits"] != INITIAL {
        return Err(format!("totalHits {} instead of {INITIAL}", answer["totalHits"]));
    }
    let mut seen = BTreeSet::new();
    for hit in answer["hits"].as_array().into_iter().flatten() {
        let id = hit["id"].as_u64().ok_or("a hit without id")?;
        if !seen.insert(id) {
            return Err(format!("document {id} returned twice"));
        }
    }
    if seen.len() as u64 != INITIAL {
        return Err(format!("{} of {INITIAL} documents found", seen.len()));
    }
    Ok(())
}

/// The index's reshard state as `GET /_miroir/indexes/{uid}/reshard` answers it.
async fn reshard_state(client: &reqwest::Client, base: &str) -> Value {
    let (status, state) = send(client.get(format!("{base}/_miroir/indexes/{INDEX}/reshard"))).await;
    assert_eq!(status, 200, "{state}");
    state
}

/// Waits until `phase` (`building`, `switched`) or, with `None`, until the index has `shards`
/// shards and no reshard runs.
async fn wait_phase(client: &reqwest::Client, base: &str, shards: u64, phase: Option<&str>) {
    wait_until(Deadline::after(Duration::from_secs(300)), format!("the reshard to {shards} did not reach {phase:?}"), async || {
        let state = reshard_state(client, base).await;
        let reached = match phase {
            Some(phase) => state["reshard"]["phase"] == phase,
            None => state["shardCount"] == shards && state["reshard"].is_null(),
        };
        Ok(if reached { Progress::Done(()) } else { Progress::Waiting(state.to_string()) })
    })
    .await
    .unwrap();
}

/// Every id held by layout `layout` (placed by `placement`), checked against the shards the
/// placement gives each node index, every replica of a shard holding the same ids.
async fn check_layout(client: &reqwest::Client, placement: &Placement, layout: Option<u32>, node_key: &str) -> BTreeSet<u64> {
    let mut by_shard: BTreeMap<ShardId, BTreeSet<u64>> = BTreeMap::new();
    for node in &placement.topology().nodes {
        for rank in (0..placement.topology().replication_factor).map(ReplicaRank) {
            let uid = layout_node_index_uid(INDEX, layout, rank);
            let mut held: BTreeMap<ShardId, BTreeSet<u64>> = BTreeMap::new();
            let mut offset = 0;
            loop {
                let url = format!("{}/indexes/{uid}/documents?limit=1000&offset={offset}&fields=id,{SHARD_FIELD}", node.url);
                let response = client.get(url).bearer_auth(node_key).send().await.unwrap();
                if response.status() == 404 {
                    break;
                }
                let page: Value = response.json().await.unwrap();
                let results = page["results"].as_array().unwrap().clone();
                for doc in &results {
                    let shard = ShardId::from_field_value(doc[SHARD_FIELD].as_str().unwrap()).unwrap();
                    assert_eq!(placement.shard_of(&doc["id"].to_string()), shard, "{} {uid}: {doc} is not on its HRW shard", node.id);
                    held.entry(shard).or_default().insert(doc["id"].as_u64().unwrap());
                }
                offset += results.len();
                if results.is_empty() || offset as u64 >= page["total"].as_u64().unwrap() {
                    break;
                }
            }
            let shards: Vec<ShardId> = held.keys().copied().collect();
            let expected: Vec<ShardId> = placement.shards_of_node_at(&node.id, rank).into_iter().filter(|s| held.contains_key(s)).collect();
            assert_eq!(shards, expected, "{} {uid} holds shards the placement does not give it", node.id);
            for (shard, ids) in held {
                if let Some(other) = by_shard.insert(shard, ids.clone()) {
                    assert_eq!(other, ids, "replicas of {shard} differ ({} {uid})", node.id);
                }
            }
        }
    }
    by_shard.into_values().flatten().collect()
}

/// Asserts no node holds a node index of `layout`.
async fn assert_gone(client: &reqwest::Client, placement: &Placement, layout: Option<u32>, node_key: &str) {
    for node in &placement.topology().nodes {
        for rank in (0..placement.topology().replication_factor).map(ReplicaRank) {
            let uid = layout_node_index_uid(INDEX, layout, rank);
            let response = client.get(format!("{}/indexes/{uid}", node.url)).bearer_auth(node_key).send().await.unwrap();
            assert_eq!(response.status(), 404, "{} still has {uid}", node.id);
        }
    }
}

/// Every CDC event of the index stored so far, de-duplicated by event id.
async fn cdc_events(log: &Arc<dyn WriteLog>) -> Vec<CdcEvent> {
    let mut events: BTreeMap<String, CdcEvent> = BTreeMap::new();
    for partition in 0..log.config().partitions(Topic::Cdc) {
        let end = log.end_offset(Topic::Cdc, partition).await.unwrap();
        if end == 0 {
            continue;
        }
        let mut reader = log.read_partition(Topic::Cdc, partition, 0).await.unwrap();
        let mut read = 0;
        while read < end {
            for record in reader.next_batch(1000, Duration::from_secs(5)).await.unwrap() {
                read = record.position.offset + 1;
                let event: CdcEvent = serde_json::from_slice(&record.payload).unwrap();
                if event.index_uid == INDEX {
                    events.insert(event.event_id.clone(), event);
                }
            }
        }
    }
    events.into_values().collect()
}

/// Proposes the reshard with `miroirctl` and returns its plan.
fn reshard(cluster: &Cluster, shards: u32) -> Value {
    let plan = cluster.miroirctl(&["--json", "reshard", INDEX, "--shards", &shards.to_string()]);
    serde_json::from_str(&plan).unwrap_or_else(|_| panic!("miroirctl reshard printed {plan}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_index_is_resharded_under_search_and_write_load_and_a_kill() {
    let mut cluster = Cluster::builder(LogKind::Nats)
        .nodes(3)
        .shards(4)
        .replication_factor(2)
        .master_key(MASTER_KEY)
        .env("MIROIR_RELEASE_GRACE_MS", 2000)
        .start()
        .await
        .expect("starting the cluster");
    let client = http_client();
    let base = cluster.gateway_url().to_owned();
    let settings = json!({"filterableAttributes": ["batch"], "pagination": {"maxTotalHits": 5000}});
    let (status, task) = send(client.patch(format!("{base}/indexes/{INDEX}/settings")).json(&settings)).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(wait_task(&client, &base, task["taskUid"].as_u64().unwrap()).await["status"], "succeeded");
    let documents: Vec<Value> = (0..INITIAL).map(|id| json!({"id": id, "title": format!("item {id}"), "batch": "initial"})).collect();
    let (status, task) = send(client.post(format!("{base}/indexes/{INDEX}/documents?primaryKey=id")).json(&documents)).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(wait_task(&client, &base, task["taskUid"].as_u64().unwrap()).await["status"], "succeeded");
    sweep(&client, &base).await.unwrap();

    // A searcher and a writer until both reshards are over.
    let stop = Arc::new(AtomicBool::new(false));
    let searcher = {
        let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
        tokio::spawn(async move {
            let mut sweeps = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Err(wrong) = sweep(&client, &base).await {
                    panic!("a search during the reshards answered wrongly after {sweeps} good sweeps: {wrong}");
                }
                sweeps += 1;
            }
            sweeps
        })
    };
    let writer = {
        let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            let mut next = INITIAL;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<Value> =
                    (next..next + 50).map(|id| json!({"id": id, "title": format!("item {id}"), "batch": "later"})).collect();
                let (status, task) = send(client.post(format!("{base}/indexes/{INDEX}/documents")).json(&batch)).await;
                assert_eq!(status, 202, "{task}");
                tasks.push(task["taskUid"].as_u64().unwrap());
                next += 50;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            (tasks, next)
        })
    };

    let key = cluster.node_key().to_owned();
    let launch = cluster.placement();
    let topology = |shards: u32| Placement::new(Topology { shard_count: shards, ..launch.topology().clone() });

    // 4 → 12, the indexer killed -9 while it builds the new layout.
    let plan = reshard(&cluster, 12);
    assert_eq!((plan["fromShards"].as_u64(), plan["toShards"].as_u64()), (Some(4), Some(12)), "{plan}");
    assert!(plan["documentsToCopy"].as_u64().is_some_and(|n| n >= INITIAL), "{plan}");
    wait_phase(&client, &base, 12, Some("building")).await;
    let shadow = layout_node_index_uid(INDEX, Some(12), ReplicaRank(0));
    wait_until(Deadline::after(Duration::from_secs(120)), "the new layout never appeared", async || {
        for node in &launch.topology().nodes {
            let response = client.get(format!("{}/indexes/{shadow}", node.url)).bearer_auth(&key).send().await?;
            if response.status() == 200 {
                return Ok(Progress::Done(()));
            }
        }
        Ok(Progress::Waiting("no node index of the new layout yet".into()))
    })
    .await
    .unwrap();
    cluster.miroir().indexer.kill9();
    cluster.miroir().indexer.restart().unwrap();
    wait_phase(&client, &base, 12, None).await;
    let (status, stats) = send(client.get(format!("{base}/indexes/{INDEX}/stats"))).await;
    assert_eq!(status, 200, "{stats}");

    // 12 → 4, the indexer killed -9 once the switch is recorded.
    let plan = reshard(&cluster, 4);
    assert_eq!((plan["fromShards"].as_u64(), plan["toShards"].as_u64()), (Some(12), Some(4)), "{plan}");
    wait_phase(&client, &base, 4, Some("switched")).await;
    cluster.miroir().indexer.kill9();
    cluster.miroir().indexer.restart().unwrap();
    wait_phase(&client, &base, 4, None).await;

    stop.store(true, Ordering::Relaxed);
    let sweeps = searcher.await.unwrap();
    let (tasks, next) = writer.await.unwrap();
    eprintln!("{sweeps} searches answered right during the reshards; {} writes", tasks.len());
    assert!(sweeps > 0);
    for task in &tasks {
        assert_eq!(wait_task(&client, &base, *task).await["status"], "succeeded", "task {task}");
    }
    let response = client.get(format!("{base}/indexes/{INDEX}/stats")).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(response.headers().get("Miroir-Shard-Count").and_then(|v| v.to_str().ok()), Some("4"));

    let held = check_layout(&client, &topology(4), Some(4), &key).await;
    assert_eq!(held, (0..next).collect::<BTreeSet<u64>>(), "the documents held are not every document written");
    assert_gone(&client, &launch, None, &key).await;
    assert_gone(&client, &launch, Some(12), &key).await;

    // The change stream: one upsert per document written, nothing for the copies.
    let log: Arc<dyn WriteLog> =
        Arc::new(NatsLog::connect(cluster.broker.url(), LogConfig::for_tests(cluster.spec.topic_prefix.clone())).await.unwrap());
    let want = next as usize;
    wait_until(
        Deadline::after(Duration::from_secs(120)).polling_every(Duration::from_millis(500)),
        "the CDC stream is incomplete",
        async || {
            let events = cdc_events(&log).await;
            let upserts = events.iter().filter(|e| matches!(e.change, CdcChange::DocumentUpserted { .. })).count();
            Ok(if upserts >= want { Progress::Done(()) } else { Progress::Waiting(format!("{upserts} of {want} upserts")) })
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut per_document: BTreeMap<String, usize> = BTreeMap::new();
    for event in cdc_events(&log).await {
        match event.change {
            CdcChange::DocumentUpserted { document_id, .. } => *per_document.entry(document_id).or_default() += 1,
            CdcChange::SettingsChanged { .. } | CdcChange::IndexCreated { .. } => {}
            other => panic!("a change no client made: {other:?}"),
        }
    }
    assert_eq!(per_document.len(), want, "documents with an upsert event");
    assert!(per_document.values().all(|&n| n == 1), "a document published twice: {:?}", per_document.iter().find(|(_, &n)| n > 1));
}

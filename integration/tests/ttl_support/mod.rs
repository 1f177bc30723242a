//! The document TTL scenario `ttl_nats.rs` and `ttl_kafka.rs` run on 3 real Meilisearch nodes
//! (S = 3, RF = 2), with the reconciler sweeping every second (docs/ttl.md): documents whose
//! expiry passes (written as epoch seconds, epoch milliseconds and RFC 3339) are hidden from
//! searches, facet counts and document reads the moment they expire, while the nodes still hold
//! them; one sweep later they are gone from every replica, and the change stream shows the
//! deletion marked `ttl`; a document whose expiry was moved later before the sweep is kept.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use miroir_clients::log::{KafkaLog, LogConfig, NatsLog, Topic, WriteLog};
use miroir_clients::node::NodeClient;
use miroir_integration::bench_support::Target;
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::cdc::{CdcChange, CdcEvent};
use miroir_schemas::envelope::WriteOrigin;
use miroir_schemas::node_layout::node_index_uid;
use miroir_schemas::placement::Placement;
use reqwest::Method;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const MASTER_KEY: &str = "ttl-master-key";
const INDEX: &str = "events";
/// Bounds only turn a hang into a failure.
const BOUND: Duration = Duration::from_secs(90);
/// Documents 1–3 expire, 4 had its expiry moved later, 5 expires tomorrow, 6 has none.
const EXPIRING: [u32; 3] = [1, 2, 3];
const KEPT: [u32; 3] = [4, 5, 6];

fn epoch_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn call(target: &Target, method: Method, path: &str, body: Value) -> (u16, Value) {
    target.send(method, path, "application/json", body.to_string()).await.unwrap()
}

async fn write(target: &Target, method: Method, path: &str, body: Value) {
    let uid = target.enqueue(method, path, "application/json", body.to_string()).await.unwrap();
    target.wait_succeeded(uid).await.unwrap();
}

/// The ids a search returns and its facet counts of `kind`.
async fn search(target: &Target) -> (BTreeSet<u64>, Value) {
    let (status, answer) = call(target, Method::POST, &format!("/indexes/{INDEX}/search"), json!({"facets": ["kind"]})).await;
    assert_eq!(status, 200, "{answer}");
    let ids = answer["hits"].as_array().unwrap().iter().map(|hit| hit["id"].as_u64().unwrap()).collect();
    (ids, answer["facetDistribution"]["kind"].clone())
}

/// How many replicas of document `id` the nodes hold.
async fn replicas_holding(placement: &Placement, nodes: &[NodeClient], id: u32) -> usize {
    let shard = placement.shard_of(&id.to_string());
    let mut holding = 0;
    for replica in placement.replicas(shard) {
        let position = placement.topology().nodes.iter().position(|node| node.id == replica.id).unwrap();
        let node_index = node_index_uid(INDEX, placement.rank_of(shard, &replica.id).unwrap());
        let page = nodes[position].fetch_documents(&node_index, &json!({"ids": [id.to_string()], "limit": 1})).await.unwrap();
        holding += page["total"].as_u64().unwrap() as usize;
    }
    holding
}

async fn ttl_events(log: &Arc<dyn WriteLog>) -> Vec<CdcEvent> {
    let mut events = Vec::new();
    for partition in 0..log.config().partitions(Topic::Cdc) {
        let end = log.end_offset(Topic::Cdc, partition).await.unwrap();
        let mut reader = log.read_partition(Topic::Cdc, partition, 0).await.unwrap();
        let mut read = 0;
        while read < end {
            let records = reader.next_batch(1000, Duration::from_millis(200)).await.unwrap();
            read += records.len() as u64;
            for record in records {
                let event: CdcEvent = serde_json::from_slice(&record.payload).unwrap();
                if event.index_uid == INDEX && event.origin == WriteOrigin::Ttl {
                    events.push(event);
                }
            }
        }
    }
    events
}

pub async fn expired_documents_are_hidden_at_once_and_swept_through_the_log(kind: LogKind) {
    let builder = Cluster::builder(kind).nodes(3).shards(3).replication_factor(2).master_key(MASTER_KEY);
    let builder = builder.topic_prefix("ttl").env("MIROIR_RECONCILER_TTL_SWEEP_INTERVAL_SECS", 1);
    let cluster = builder.start().await.expect("starting the cluster");
    let target = Target::new(cluster.gateway_url(), MASTER_KEY, 2).unwrap();
    let placement = cluster.placement();
    let nodes = cluster.node_clients();

    let (status, setting) = call(&target, Method::PUT, &format!("/_miroir/indexes/{INDEX}/ttl"), json!({"field": "expiresAt"})).await;
    assert_eq!((status, setting["field"].clone()), (200, json!("expiresAt")), "{setting}");
    write(&target, Method::POST, "/indexes", json!({"uid": INDEX, "primaryKey": "id"})).await;
    write(&target, Method::PATCH, &format!("/indexes/{INDEX}/settings"), json!({"filterableAttributes": ["kind"]})).await;

    // Whole seconds, so every format names the same instant; long enough for two writes on a
    // busy machine.
    let expiry_ms = (epoch_millis() / 1000 + 12) * 1000;
    let rfc3339 = OffsetDateTime::from_unix_timestamp(expiry_ms / 1000).unwrap().format(&Rfc3339).unwrap();
    let tomorrow = expiry_ms / 1000 + 86_400;
    let documents = json!([
        {"id": 1, "kind": "a", "expiresAt": expiry_ms / 1000},
        {"id": 2, "kind": "a", "expiresAt": expiry_ms},
        {"id": 3, "kind": "b", "expiresAt": rfc3339},
        {"id": 4, "kind": "b", "expiresAt": expiry_ms / 1000},
        {"id": 5, "kind": "a", "expiresAt": tomorrow},
        {"id": 6, "kind": "b"},
    ]);
    write(&target, Method::POST, &format!("/indexes/{INDEX}/documents"), documents).await;
    // Moved later before it expires: it must never be hidden nor swept.
    write(&target, Method::PUT, &format!("/indexes/{INDEX}/documents"), json!([{"id": 4, "expiresAt": tomorrow}])).await;
    let (before, _) = search(&target).await;
    assert!(epoch_millis() < expiry_ms, "the writes took longer than the documents' lifetime");
    assert_eq!(before, (1..=6).collect(), "every document is visible before its expiry");

    // The instant the test chose passes: reads hide the expired documents at once.
    tokio::time::sleep(Duration::from_millis((expiry_ms - epoch_millis()).max(0) as u64 + 5)).await;
    let (ids, kinds) = search(&target).await;
    let still_on_nodes = replicas_holding(&placement, &nodes, 1).await;
    assert_eq!(ids, KEPT.iter().map(|&id| u64::from(id)).collect(), "searches hide expired documents");
    assert_eq!(kinds, json!({"a": 1, "b": 2}), "facet counts leave expired documents out");
    assert!(still_on_nodes > 0, "hidden before any sweep: the nodes still held document 1");
    let (status, missing) = target.get(&format!("/indexes/{INDEX}/documents/1")).await.unwrap();
    assert_eq!((status, missing["code"].clone()), (404, json!("document_not_found")), "{missing}");
    let (_, page) = call(&target, Method::POST, &format!("/indexes/{INDEX}/documents/fetch"), json!({"limit": 10})).await;
    assert_eq!(page["total"], 3, "{page}");
    let (_, listed) = target.get(&format!("/indexes/{INDEX}/documents")).await.unwrap();
    assert_eq!(listed["total"], 3, "{listed}");
    assert!(listed["results"].as_array().unwrap().iter().all(|d| d.get("_miroir_until").is_none()), "{listed}");

    // One sweep later they are gone from every replica; the others stay on both of theirs.
    wait_until(Deadline::after(BOUND), "the sweep did not delete the expired documents", async || {
        let mut left = 0;
        for id in EXPIRING {
            left += replicas_holding(&placement, &nodes, id).await;
        }
        Ok(if left == 0 { Progress::Done(()) } else { Progress::Waiting(format!("{left} replicas of expired documents left")) })
    })
    .await
    .unwrap();
    for id in KEPT {
        assert_eq!(replicas_holding(&placement, &nodes, id).await, 2, "document {id} is kept on both replicas");
    }
    // The sweep is a task like any other: it succeeds once every replica reported it.
    let sweeps: Vec<Value> = wait_until(Deadline::after(BOUND), "no sweep task succeeded", async || {
        let (_, tasks) = target.get(&format!("/tasks?indexUids={INDEX}&types=documentDeletion")).await?;
        let sweeps: Vec<Value> =
            tasks["results"].as_array().unwrap().iter().filter(|t| t["customMetadata"] == "miroir:ttl-sweep").cloned().collect();
        let succeeded = sweeps.iter().any(|t| t["status"] == "succeeded");
        Ok(if succeeded { Progress::Done(sweeps) } else { Progress::Waiting(tasks.to_string()) })
    })
    .await
    .unwrap();

    // The change stream shows the deletion, marked as TTL: one range per swept shard.
    let config = LogConfig::for_tests(cluster.spec.topic_prefix.clone());
    let log: Arc<dyn WriteLog> = match kind {
        LogKind::Nats => Arc::new(NatsLog::connect(cluster.broker.url(), config).await.unwrap()),
        LogKind::Kafka => Arc::new(KafkaLog::connect(cluster.broker.url(), config).await.unwrap()),
    };
    let swept_shards: BTreeSet<_> = EXPIRING.iter().map(|id| placement.shard_of(&id.to_string())).collect();
    let events = wait_until(Deadline::after(BOUND), "no TTL events on the change stream", async || {
        let events = ttl_events(&log).await;
        let shards: BTreeSet<_> = events
            .iter()
            .filter_map(|event| match &event.change {
                CdcChange::DocumentRangeDeleted { shard, .. } => Some(*shard),
                _ => None,
            })
            .collect();
        Ok(if shards == swept_shards { Progress::Done(events) } else { Progress::Waiting(format!("{shards:?}")) })
    })
    .await
    .unwrap();
    let sweep_uids: BTreeSet<u64> = sweeps.iter().map(|t| t["uid"].as_u64().unwrap()).collect();
    assert!(events.iter().all(|event| sweep_uids.contains(&event.task_uid)), "every TTL event comes from a sweep task");
}

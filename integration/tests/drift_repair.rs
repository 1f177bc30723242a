//! Drift repair on a real cluster (NATS; the periodic pass on Kafka too; 3 Meilisearch nodes, S = 3, RF = 3: every shard has
//! three replicas, so a replica altered behind the cluster's back is outvoted). One node index
//! is altered directly on its node: a document changed, one deleted, one added (a document
//! deleted through the gateway, put back), a setting changed, and a document written without a
//! shard (a stray). `miroirctl verify` names each of them; `verify --repair` brings the replica
//! back to the majority, the document deleted through the gateway stays deleted everywhere, and
//! the next pass finds nothing. The reconciler's periodic pass repairs on its own.
//!
//! Needs the binaries of the same profile: `cargo build --workspace --bins`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use miroir_clients::node::NodeClient;
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::recorded::{http_client, start_cluster, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::node_layout::{node_index_uid, SHARD_FIELD};
use serde_json::{json, Value};

const INDEX: &str = "drifting";

fn verify(cluster: &Cluster, args: &[&str]) -> Value {
    let output = Command::new(&cluster.binaries().miroirctl)
        .args(["--url", cluster.gateway_url(), "--master-key", MASTER_KEY, "--json", "verify", "--index", INDEX])
        .args(args)
        .output()
        .expect("running miroirctl");
    assert!(output.status.success(), "miroirctl verify {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("miroirctl --json prints the report")
}

/// A pass that compared every shard (none skipped because writes were still in flight).
async fn settled_verify(cluster: &Cluster, args: &[&str]) -> Value {
    let deadline = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(200));
    wait_until(deadline, "a verify pass kept skipping shards", async || {
        let report = verify(cluster, args);
        Ok(if report["totals"]["skippedShards"] == 0 { Progress::Done(report) } else { Progress::Waiting(report.to_string()) })
    })
    .await
    .unwrap()
}

async fn gateway_task(cluster: &Cluster, method: reqwest::Method, path: &str, body: Value) {
    let client = http_client();
    let url = format!("{}{path}", cluster.gateway_url());
    let reply: Value = client.request(method, &url).bearer_auth(MASTER_KEY).json(&body).send().await.unwrap().json().await.unwrap();
    let uid = reply["taskUid"].as_u64().unwrap_or_else(|| panic!("{path}: {reply}"));
    let deadline = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(50));
    wait_until(deadline, format!("task {uid} did not succeed"), async || {
        let task: Value = client.get(format!("{}/tasks/{uid}", cluster.gateway_url())).bearer_auth(MASTER_KEY).send().await?.json().await?;
        Ok((task["status"] == "succeeded").then_some(()).into())
    })
    .await
    .unwrap();
}

/// A write sent straight to a node, behind the cluster's back.
async fn on_node(node: &NodeClient, method: reqwest::Method, path: &str, body: Value) {
    let (_, task) = node.request_json(method, path, &[], Some(&body)).await.unwrap();
    let done = node.wait_for_task(task["taskUid"].as_u64().unwrap(), Duration::from_millis(50), Duration::from_secs(60)).await.unwrap();
    assert!(done.error.is_none(), "{done:?}");
}

/// Every document of every node index of the index, per node index.
async fn node_documents(cluster: &Cluster) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut all = BTreeMap::new();
    for (node, client) in cluster.spec.nodes.iter().zip(cluster.node_clients()) {
        for rank in 0..3 {
            let uid = node_index_uid(INDEX, miroir_schemas::node_layout::ReplicaRank(rank));
            let documents = client.all_documents(&uid, 1000).await.unwrap();
            let by_id = documents.into_iter().map(|d| (d["id"].to_string(), d)).collect();
            all.insert(format!("{}/{uid}", node.id), by_id);
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_altered_behind_the_cluster_is_found_and_repaired() {
    let cluster = start_cluster(3, 3, 3).await;
    let documents: Vec<Value> = (0..30).map(|i| json!({"id": i, "title": format!("movie {i}")})).collect();
    gateway_task(&cluster, reqwest::Method::POST, &format!("/indexes/{INDEX}/documents"), json!(documents)).await;
    gateway_task(&cluster, reqwest::Method::POST, &format!("/indexes/{INDEX}/documents/delete-batch"), json!([5])).await;

    let clean = settled_verify(&cluster, &[]).await;
    assert_eq!(clean["totals"]["mismatchedDocuments"], 0, "{clean}");
    assert_eq!(clean["totals"]["mismatchedSettings"], 0, "{clean}");
    assert_eq!(clean["totals"]["scannedDocuments"], 29 * 3, "every replica of every shard read: {clean}");

    // Alter node 0's node index holding document 5's shard.
    let placement = cluster.placement();
    let shard = placement.shard_of("5");
    let node = &cluster.spec.nodes[0];
    let client = &cluster.node_clients()[0];
    let node_index = node_index_uid(INDEX, placement.rank_of(shard, &node.id).expect("RF 3 on 3 nodes: every node holds every shard"));
    let held = client.all_documents(&node_index, 1000).await.unwrap();
    let same_shard: Vec<&Value> = held.iter().filter(|d| d[SHARD_FIELD] == shard.field_value()).collect();
    let (changed, deleted) = (same_shard[0]["id"].clone(), same_shard[1]["id"].clone());
    let documents_path = format!("/indexes/{node_index}/documents");
    on_node(client, reqwest::Method::PUT, &documents_path, json!([{"id": changed, "title": "altered"}])).await;
    on_node(client, reqwest::Method::POST, &format!("{documents_path}/delete-batch"), json!([deleted])).await;
    on_node(client, reqwest::Method::POST, &documents_path, json!([{"id": 5, "title": "movie 5", SHARD_FIELD: shard.field_value()}])).await;
    on_node(client, reqwest::Method::PATCH, &format!("/indexes/{node_index}/settings"), json!({"stopWords": ["the"]})).await;
    // A document without a shard: no shard's comparison reads it.
    on_node(client, reqwest::Method::POST, &documents_path, json!([{"id": 100, "title": "stray"}])).await;

    let found = settled_verify(&cluster, &["--page-pause-ms", "1"]).await;
    let shard_report = &found["indexes"][0]["shards"][shard.0 as usize];
    assert_eq!(shard_report["status"], "divergent", "{found}");
    let mut mismatches: Vec<(String, String, String)> = shard_report["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap().to_owned(), m["node"].as_str().unwrap().to_owned(), m["kind"].as_str().unwrap().to_owned()))
        .collect();
    mismatches.sort();
    let mut expected = vec![
        (changed.to_string(), node.id.clone(), "changed".to_owned()),
        (deleted.to_string(), node.id.clone(), "missing".to_owned()),
        ("5".to_owned(), node.id.clone(), "extra".to_owned()),
    ];
    expected.sort();
    assert_eq!(mismatches, expected, "{found}");
    assert_eq!(found["totals"]["mismatchedDocuments"], 3, "{found}");
    assert_eq!(found["totals"]["repairedDocuments"], 0, "a pass without --repair changes nothing: {found}");
    assert_eq!(found["indexes"][0]["strays"], json!([{"id": "100", "node": node.id, "nodeIndex": node_index}]), "{found}");
    let settings = &found["indexes"][0]["settings"]["divergent"];
    assert_eq!(settings, &json!([{"node": node.id, "nodeIndex": node_index, "settings": ["stopWords"]}]), "{found}");

    let repaired = settled_verify(&cluster, &["--repair"]).await;
    assert_eq!(repaired["totals"]["repairedDocuments"], 3, "{repaired}");
    assert_eq!(repaired["totals"]["repairedSettings"], 1, "{repaired}");
    assert_eq!(repaired["totals"]["deletedStrays"], 1, "{repaired}");
    assert_eq!(repaired["indexes"][0]["shards"][shard.0 as usize]["status"], "repaired", "{repaired}");

    let after = settled_verify(&cluster, &[]).await;
    assert_eq!(after["totals"]["mismatchedDocuments"], 0, "{after}");
    assert_eq!(after["totals"]["mismatchedSettings"], 0, "{after}");
    assert_eq!(after["totals"]["strayDocuments"], 0, "{after}");
    // Every replica holds what the gateway wrote, and document 5 (deleted through the
    // gateway) is gone from every node index.
    let expected_documents: BTreeMap<String, String> = (0..30).filter(|i| *i != 5).map(|i| (i.to_string(), format!("movie {i}"))).collect();
    let mut union = BTreeMap::new();
    for (node_index, held) in node_documents(&cluster).await {
        assert!(!held.contains_key("5"), "{node_index} holds the deleted document 5");
        for (id, document) in held {
            assert_eq!(document["title"].as_str(), expected_documents.get(&id).map(String::as_str), "{node_index}: {document}");
            *union.entry(id).or_insert(0) += 1;
        }
    }
    assert_eq!(union.len(), 29);
    assert!(union.values().all(|copies| *copies == 3), "three replicas of every document: {union:?}");
    let stop_words = client.get_settings(&node_index).await.unwrap()["stopWords"].clone();
    assert_eq!(stop_words, json!([]));
    let read =
        http_client().get(format!("{}/indexes/{INDEX}/documents/5", cluster.gateway_url())).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(read.status(), 404, "document 5 stays deleted");
}

/// The reconciler's periodic pass (`--verify-interval-secs 1 --verify-repair`) repairs a
/// replica on its own: a document deleted directly on one node comes back from the majority,
/// and each pass logs its totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcilers_periodic_pass_repairs_on_its_own() {
    periodic_pass_repairs_on_its_own(LogKind::Nats).await;
}

/// The same on Kafka, where a shard counts as settled once the indexers' consumer group has
/// committed the index's `ops` partition to its end (a Kafka offset fetch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcilers_periodic_pass_repairs_on_its_own_on_kafka() {
    periodic_pass_repairs_on_its_own(LogKind::Kafka).await;
}

async fn periodic_pass_repairs_on_its_own(kind: LogKind) {
    let cluster = Cluster::builder(kind)
        .nodes(3)
        .shards(3)
        .replication_factor(3)
        .master_key(MASTER_KEY)
        .env("MIROIR_RECONCILER_VERIFY_INTERVAL_SECS", 1)
        .env("MIROIR_RECONCILER_VERIFY_REPAIR", "true")
        .start()
        .await
        .expect("starting the cluster");
    let documents: Vec<Value> = (0..12).map(|i| json!({"id": i, "title": format!("movie {i}")})).collect();
    gateway_task(&cluster, reqwest::Method::POST, &format!("/indexes/{INDEX}/documents"), json!(documents)).await;

    let placement = cluster.placement();
    let node = &cluster.spec.nodes[1];
    let client = &cluster.node_clients()[1];
    let node_index = node_index_uid(INDEX, placement.rank_of(placement.shard_of("4"), &node.id).unwrap());
    on_node(client, reqwest::Method::POST, &format!("/indexes/{node_index}/documents/delete-batch"), json!(["4"])).await;

    let deadline = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(200));
    wait_until(deadline, "the periodic pass did not put document 4 back", async || {
        let fetched = client.fetch_documents(&node_index, &json!({"ids": ["4"]})).await?;
        Ok((fetched["results"].as_array().map(Vec::len) == Some(1)).then_some(()).into())
    })
    .await
    .unwrap();
    let restored = client.fetch_documents(&node_index, &json!({"ids": ["4"]})).await.unwrap();
    assert_eq!(restored["results"][0]["title"], "movie 4");
    // The pass logs once its repair's node task is seen done, a moment after the node has it.
    let deadline = Deadline::after(Duration::from_secs(30)).polling_every(Duration::from_millis(100));
    wait_until(deadline, "the reconciler did not log the repair and the pass", async || {
        let output = cluster.process_output("reconciler");
        let logged = output.contains("replica repaired") && output.contains("verify pass done");
        Ok(if logged { Progress::Done(()) } else { Progress::Waiting(output) })
    })
    .await
    .unwrap();
}

//! `miroirctl` against a real cluster (NATS, 3 Meilisearch nodes, S = 3, RF = 2): `status --json`
//! and `tasks --json` print exactly what the admin API and `/tasks` answer; once every task is
//! done the indexers' lag is zero and every `ops` partition has an owner; nodes that stop show
//! as unreachable, and the cluster as not ready once some shard has no replica left; the table
//! output names every node.
//!
//! Needs the binaries of the same profile: `cargo build --workspace --bins`.

use std::process::Command;
use std::time::Duration;

use miroir_integration::cluster::Cluster;
use miroir_integration::recorded::{http_client, start_cluster, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline};
use serde_json::{json, Value};

fn miroirctl(cluster: &Cluster, args: &[&str]) -> String {
    let output = Command::new(&cluster.binaries().miroirctl)
        .args(["--url", cluster.gateway_url(), "--master-key", MASTER_KEY])
        .args(args)
        .output()
        .expect("running miroirctl");
    assert!(output.status.success(), "miroirctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn json_of(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend(args);
    serde_json::from_str(&miroirctl(cluster, &all)).unwrap()
}

async fn get(cluster: &Cluster, path: &str) -> Value {
    let response = http_client().get(format!("{}{path}", cluster.gateway_url())).bearer_auth(MASTER_KEY).send().await.unwrap();
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miroirctl_reports_what_the_admin_api_says() {
    let mut cluster = start_cluster(3, 3, 2).await;
    let client = http_client();
    let documents: Vec<Value> = (0..60).map(|i| json!({"id": i, "title": format!("movie {i}")})).collect();
    let reply = client
        .post(format!("{}/indexes/movies/documents", cluster.gateway_url()))
        .bearer_auth(MASTER_KEY)
        .json(&documents)
        .send()
        .await
        .unwrap();
    let uid = reply.json::<Value>().await.unwrap()["taskUid"].as_u64().expect("a task uid");
    let finished = Deadline::after(Duration::from_secs(120)).polling_every(Duration::from_millis(50));
    wait_until(finished, format!("task {uid} did not succeed"), async || {
        let task = get(&cluster, &format!("/tasks/{uid}")).await;
        Ok((task["status"] == "succeeded").then_some(()).into())
    })
    .await
    .unwrap();

    // The indexer commits after reporting: wait until nothing is left to apply.
    let caught_up = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(100));
    wait_until(caught_up, "the indexers' lag did not reach 0", async || {
        let status = get(&cluster, "/_miroir/status").await;
        Ok((status["indexers"]["totalLag"] == 0).then_some(()).into())
    })
    .await
    .unwrap();
    let status = json_of(&cluster, &["status"]);
    assert_eq!(status, get(&cluster, "/_miroir/status").await, "miroirctl prints the admin API's answer");
    assert_eq!(status["ready"], true);
    assert!(status["nodes"].as_array().unwrap().iter().all(|node| node["reachable"] == true), "{status}");
    let partitions = status["indexers"]["partitions"].as_array().unwrap();
    assert!(!partitions.is_empty());
    assert!(partitions.iter().all(|p| p["lag"] == 0 && p["owner"].is_string()), "{status}");
    assert!(partitions.iter().any(|p| p["endOffset"].as_u64() > Some(0)), "the write went through some partition: {status}");

    assert_eq!(json_of(&cluster, &["tasks", "--limit", "5"]), get(&cluster, "/tasks?limit=5").await);
    let table = miroirctl(&cluster, &["status"]);
    for node in status["nodes"].as_array().unwrap() {
        assert!(table.contains(node["id"].as_str().unwrap()), "{table}");
    }
    assert!(table.contains("ready: yes"), "{table}");
    let tasks = miroirctl(&cluster, &["tasks", "--statuses", "succeeded"]);
    assert!(tasks.contains("documentAdditionOrUpdate") && tasks.contains("succeeded"), "{tasks}");

    // One node down (RF = 2: every shard keeps a replica), then two (some shard has none).
    cluster.nodes.kill(0);
    let status = json_of(&cluster, &["status"]);
    assert_eq!(status["nodes"][0]["reachable"], false, "{status}");
    assert_eq!(status["ready"], true, "{status}");
    cluster.nodes.kill(1);
    let status = json_of(&cluster, &["status"]);
    assert_eq!(status["ready"], false, "{status}");
    assert!(!status["shardsWithoutReachableReplica"].as_array().unwrap().is_empty(), "{status}");
    assert!(miroirctl(&cluster, &["status"]).contains("ready: no"));
}

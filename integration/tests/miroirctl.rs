//! `miroirctl` against a real cluster (NATS, 3 Meilisearch nodes, S = 3, RF = 2): `status --json`
//! and `tasks --json` print exactly what the admin API and `/tasks` answer; once every task is
//! done the indexers' lag is zero and every `ops` partition has an owner; nodes that stop show
//! as unreachable, and the cluster as not ready once some shard has no replica left; the table
//! output names every node. A second indexer joining splits the partitions, and the status
//! names which indexer owns which. A reshard's dry run prints its plan from the index's
//! stats.
//!
//! Needs the binaries of the same profile: `cargo build --workspace --bins`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use miroir_integration::cluster::Cluster;
use miroir_integration::recorded::{http_client, start_cluster, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::{json, Value};

fn json_of(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend(args);
    serde_json::from_str(&cluster.miroirctl(&all)).unwrap()
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
    let table = cluster.miroirctl(&["status"]);
    for node in status["nodes"].as_array().unwrap() {
        assert!(table.contains(node["id"].as_str().unwrap()), "{table}");
    }
    assert!(table.contains("ready: yes"), "{table}");
    let tasks = cluster.miroirctl(&["tasks", "--statuses", "succeeded"]);
    assert!(tasks.contains("documentAdditionOrUpdate") && tasks.contains("succeeded"), "{tasks}");

    // A topology change's plan (a dry run records nothing), and a change refused in
    // Meilisearch's error shape (docs/topology.md).
    let group = status["replicaGroups"][0].as_str().unwrap().to_owned();
    let add = ["add", "--id", "n-new", "--node-url", "http://127.0.0.1:9", "--group", group.as_str()];
    let plan = json_of(&cluster, &[&["rebalance", "plan"][..], &add[..]].concat());
    assert_eq!((plan["dryRun"].clone(), plan["version"].clone()), (json!(true), json!(status["version"].as_u64().unwrap() + 1)), "{plan}");
    assert_eq!(plan["ideal"], 1.5, "3 shards × RF 2 over 4 nodes: {plan}");
    let to_new = plan["copies"].as_array().unwrap().iter().filter(|copy| copy["node"] == "n-new").count();
    assert!((1..=2).contains(&to_new) && plan["moved"] == to_new, "{plan}");
    assert!(cluster.miroirctl(&[&["nodes"][..], &add[..], &["--dry-run"][..]].concat()).contains("would become"));
    let topology = get(&cluster, "/_miroir/topology").await;
    assert_eq!((topology["version"].clone(), topology["move"].clone()), (status["version"].clone(), Value::Null), "{topology}");
    let refused = Command::new(&cluster.binaries().miroirctl)
        .args(["--url", cluster.gateway_url(), "--master-key", MASTER_KEY, "nodes", "drain", "no-such-node"])
        .output()
        .expect("running miroirctl");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("404") && stderr.contains("topology_node_not_found"), "{stderr}");

    // A reshard's plan (docs/resharding.md): the index's documents and size from its stats on
    // the nodes; a dry run records nothing.
    let plan = json_of(&cluster, &["reshard", "movies", "--shards", "6", "--dry-run"]);
    let replicas = status["replicaGroups"].as_array().unwrap().len() as u64 * 2;
    assert_eq!(
        (plan["fromShards"].clone(), plan["toShards"].clone(), plan["documentsToCopy"].clone(), plan["replicasPerDocument"].clone()),
        (json!(3), json!(6), json!(60), json!(replicas)),
        "{plan}"
    );
    let response =
        http_client().get(format!("{}/indexes/movies/stats", cluster.gateway_url())).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(response.headers()["miroir-shard-count"], "3", "the index's shard count, in a header");
    let stats: Value = response.json().await.unwrap();
    assert_eq!(plan["extraDiskBytes"], json!(stats["rawDocumentDbSize"].as_u64().unwrap() * replicas), "{plan} {stats}");
    assert!(cluster.miroirctl(&["reshard", "movies", "--shards", "6", "--dry-run"]).contains("would be resharded from 3 to 6 shards"));
    let reshard = get(&cluster, "/_miroir/indexes/movies/reshard").await;
    assert_eq!(reshard, json!({"index": "movies", "shardCount": 3, "reshard": null}));

    cluster.nodes.kill(0);
    let status = json_of(&cluster, &["status"]);
    assert_eq!(status["nodes"][0]["reachable"], false, "{status}");
    assert_eq!(status["ready"], true, "{status}");
    cluster.nodes.kill(1);
    let status = json_of(&cluster, &["status"]);
    assert_eq!(status["ready"], false, "{status}");
    assert!(!status["shardsWithoutReachableReplica"].as_array().unwrap().is_empty(), "{status}");
    assert!(cluster.miroirctl(&["status"]).contains("ready: no"));
}

/// Each owner's partitions, as `/_miroir/status` reports them (`None` for unowned ones).
async fn owners(cluster: &Cluster) -> BTreeMap<Option<String>, Vec<u64>> {
    let status = get(cluster, "/_miroir/status").await;
    let mut owners: BTreeMap<Option<String>, Vec<u64>> = BTreeMap::new();
    for partition in status["indexers"]["partitions"].as_array().expect("partitions") {
        owners.entry(partition["owner"].as_str().map(str::to_owned)).or_default().push(partition["partition"].as_u64().unwrap());
    }
    owners
}

/// Waits until the partitions are owned as `accept` wants; returns the owners.
async fn wait_for_owners(
    cluster: &Cluster,
    what: &str,
    accept: impl Fn(&BTreeMap<Option<String>, Vec<u64>>) -> bool,
) -> BTreeMap<Option<String>, Vec<u64>> {
    let deadline = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(200));
    wait_until(deadline, what.to_owned(), async || {
        let owners = owners(cluster).await;
        Ok(if accept(&owners) { Progress::Done(owners) } else { Progress::Waiting(format!("{owners:?}")) })
    })
    .await
    .unwrap()
}

/// A second indexer joining the group takes some `ops` partitions: the status names both
/// owners, each with its own partitions, and `miroirctl status` lists each indexer's partitions
/// and lag; once the second stops (SIGTERM), the first owns every partition again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_which_indexer_owns_which_partitions() {
    let cluster = start_cluster(3, 3, 1).await;
    let alone = wait_for_owners(&cluster, "the first indexer never owned every partition", |owners| {
        owners.len() == 1 && owners.keys().all(Option::is_some)
    })
    .await;
    let (first, all) = alone.into_iter().next().unwrap();
    let mut second = cluster.spawn_indexer("second", &[("MIROIR_INDEXER_MEMBER", "second".to_owned())]).unwrap();
    let split = wait_for_owners(&cluster, "the partitions were never split between the two indexers", |owners| {
        owners.len() == 2 && owners.contains_key(&first) && owners.contains_key(&Some("second".to_owned()))
    })
    .await;
    assert_eq!(split.values().map(Vec::len).sum::<usize>(), all.len(), "every partition has one owner: {split:?}");
    let table = cluster.miroirctl(&["status"]);
    for (owner, partitions) in &split {
        let held = partitions.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let row = table.lines().find(|line| line.split_whitespace().next() == owner.as_deref()).unwrap_or_else(|| panic!("{table}"));
        assert_eq!(row.split_whitespace().nth(1), Some(held.as_str()), "{table}");
    }

    second.stop();
    let back = wait_for_owners(&cluster, "the first indexer never took the partitions back", |owners| owners.len() == 1).await;
    assert_eq!(back, BTreeMap::from([(first, all)]));
}

//! `POST /snapshots` on a cluster (NATS, 3 real Meilisearch nodes, S = 4, RF = 2): the gateway
//! answers a `snapshotCreation` task as a node does, every node writes its own snapshot, and the
//! gateway's manifest names each node's snapshot task and the log positions it covers. Then the
//! documented restore (docs/snapshots.md): every node restarted from its snapshot in a fresh
//! data directory (`--import-snapshot`), indexers started under a new consumer group; the
//! writes made after the snapshot come back from the log, later writes apply, and the cluster
//! holds exactly what was written. Needs `cargo build --workspace --bins`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::locate::meilisearch_binary;
use miroir_integration::master_calls::{send, wait_task};
use miroir_integration::process::ManagedProcess;
use miroir_integration::recorded::{http_client, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::{json, Value};

async fn write(client: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Option<Value>) {
    let request = client.request(method, format!("{base}{path}"));
    let (status, task) = send(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await;
    assert_eq!(status, 202, "{path}: {task}");
    let done = wait_task(client, base, task["taskUid"].as_u64().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{path}: {done}");
}

fn movies(ids: std::ops::Range<u32>, edition: &str) -> Value {
    json!(ids.map(|i| json!({"id": i, "title": format!("movie {i} {edition}"), "year": 1990 + i})).collect::<Vec<_>>())
}

/// Every document of `movies` as the gateway reads it, by id.
async fn documents(client: &reqwest::Client, base: &str) -> BTreeMap<u64, Value> {
    let (status, page) = send(client.get(format!("{base}/indexes/movies/documents?limit=1000"))).await;
    assert_eq!(status, 200, "{page}");
    page["results"].as_array().unwrap().iter().map(|document| (document["id"].as_u64().unwrap(), document.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_restored_from_its_snapshot_catches_up_from_the_log_and_holds_what_was_written() {
    let dump_dir = tempfile::Builder::new().prefix("miroir-snapshots-").tempdir().unwrap();
    let mut cluster = Cluster::builder(LogKind::Nats)
        .nodes(3)
        .shards(4)
        .replication_factor(2)
        .master_key(MASTER_KEY)
        .env("MIROIR_DUMP_DIR", dump_dir.path().display())
        .start()
        .await
        .expect("starting the cluster");
    let client = http_client();
    let base = cluster.gateway_url().to_owned();
    let (post, delete) = (reqwest::Method::POST, reqwest::Method::DELETE);

    let mut expected: BTreeMap<u64, Value> = BTreeMap::new();
    write(&client, &base, post.clone(), "/indexes/movies/documents", Some(movies(0..40, "first"))).await;
    write(&client, &base, reqwest::Method::PATCH, "/indexes/movies/settings", Some(json!({"filterableAttributes": ["year"]}))).await;
    for document in movies(0..40, "first").as_array().unwrap() {
        expected.insert(document["id"].as_u64().unwrap(), document.clone());
    }

    // The snapshot, as a node answers it.
    let (status, summary) = send(client.post(format!("{base}/snapshots"))).await;
    assert_eq!(status, 202, "{summary}");
    assert_eq!(
        (&summary["type"], &summary["status"], &summary["indexUid"]),
        (&json!("snapshotCreation"), &json!("enqueued"), &Value::Null)
    );
    let task_uid = summary["taskUid"].as_u64().unwrap();
    let done = wait_task(&client, &base, task_uid).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done.get("details").is_none(), "a node's snapshotCreation task shows no details: {done}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dump_dir.path().join(format!("cluster-snapshot-{task_uid}.json"))).unwrap()).unwrap();
    let nodes = manifest["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{manifest}");
    for node in nodes {
        assert!(node["snapshotTaskUid"].is_u64(), "{node}");
        let indexes = node["nodeIndexes"].as_array().unwrap();
        assert!(!indexes.is_empty() && indexes.iter().all(|index| index["lastPosition"].is_u64()), "{node}");
    }
    assert_eq!(manifest["opsNeededFrom"].as_object().unwrap().len(), 1, "one index, one partition: {manifest}");

    // Writes after the snapshot: only the log has them for the restored nodes.
    write(&client, &base, post.clone(), "/indexes/movies/documents", Some(movies(30..60, "second"))).await;
    write(&client, &base, post.clone(), "/indexes/movies/documents/delete-batch", Some(json!([0, 1, 2, 45]))).await;
    for document in movies(30..60, "second").as_array().unwrap() {
        expected.insert(document["id"].as_u64().unwrap(), document.clone());
    }
    for id in [0, 1, 2, 45] {
        expected.remove(&id);
    }

    // The restore: indexers stopped, each node replaced by one started from its snapshot in a
    // fresh data directory on the same address, indexers started under a new group.
    cluster.miroir().indexer.stop();
    let binary = meilisearch_binary().unwrap();
    let restored_dir = tempfile::Builder::new().prefix("miroir-restored-").tempdir().unwrap();
    let mut restored = Vec::new();
    for (i, url) in cluster.nodes.urls().to_vec().iter().enumerate() {
        cluster.nodes.kill(i);
        // A node writes `<db name>.snapshot` into `snapshots/` under its working directory.
        let node_dir = cluster.log_dir().parent().unwrap().join("nodes").join(format!("node-{i}"));
        let snapshot = node_dir.join("snapshots").join(format!("node-{i}.snapshot"));
        assert!(snapshot.is_file(), "{} was not written", snapshot.display());
        let data = restored_dir.path().join(format!("node-{i}"));
        std::fs::create_dir_all(&data).unwrap();
        let mut command = Command::new(&binary);
        command
            .arg("--http-addr")
            .arg(url.trim_start_matches("http://"))
            .arg("--master-key")
            .arg(cluster.node_key())
            .arg("--db-path")
            .arg(data.join("data.ms"))
            .arg("--no-analytics")
            .arg("--import-snapshot")
            .arg(&snapshot)
            .current_dir(&data);
        restored.push(
            ManagedProcess::spawn(&format!("restored node {i}"), command, &restored_dir.path().join(format!("node-{i}.log"))).unwrap(),
        );
    }
    for (i, url) in cluster.nodes.urls().to_vec().iter().enumerate() {
        let health = format!("{url}/health");
        let process = &mut restored[i];
        wait_until(
            Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(100)),
            format!("{health} never answered"),
            async || {
                process.check_alive()?;
                Ok(client.get(&health).send().await.is_ok_and(|r| r.status().is_success()).then_some(()).into())
            },
        )
        .await
        .unwrap();
    }
    // What the snapshots hold: the first writes only.
    assert_eq!(node_documents(&cluster).await, 40 * 2, "every replica of the 40 first documents, RF = 2");
    let _indexer = cluster.spawn_indexer("restored-indexer", &[("MIROIR_INDEXER_GROUP", "restored".to_owned())]).unwrap();

    // Later writes apply, after the ones the log replays.
    write(&client, &base, post.clone(), "/indexes/movies/documents", Some(movies(60..70, "third"))).await;
    write(&client, &base, delete, "/indexes/movies/documents/3", None).await;
    for document in movies(60..70, "third").as_array().unwrap() {
        expected.insert(document["id"].as_u64().unwrap(), document.clone());
    }
    expected.remove(&3);

    wait_until(Deadline::after(Duration::from_secs(60)), "the restored cluster never held what was written", async || {
        let read = documents(&client, &base).await;
        Ok(if read == expected {
            Progress::Done(())
        } else {
            Progress::Waiting(format!("{} documents, {} expected", read.len(), expected.len()))
        })
    })
    .await
    .unwrap();
    // Every replica caught up: the nodes hold RF copies of each document.
    wait_until(Deadline::after(Duration::from_secs(60)), "a restored replica never caught up", async || {
        let total = node_documents(&cluster).await;
        Ok(if total == expected.len() as u64 * 2 { Progress::Done(()) } else { Progress::Waiting(format!("{total} on the nodes")) })
    })
    .await
    .unwrap();
}

/// Documents the nodes hold, every node index counted.
async fn node_documents(cluster: &Cluster) -> u64 {
    let mut total = 0;
    for node in cluster.node_clients() {
        let stats = node.stats().await.unwrap();
        total += stats["indexes"].as_object().unwrap().values().map(|index| index["numberOfDocuments"].as_u64().unwrap()).sum::<u64>();
    }
    total
}

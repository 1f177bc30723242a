//! `POST /dumps` on a cluster (NATS, 3 real Meilisearch nodes, S = 4, RF = 1): the gateway
//! answers a `dumpCreation` task as a node does, finishes it with the dump's uid, and one fresh
//! real Meilisearch 1.50 node started with `--import-dump` on the file answers the same index
//! list, settings and documents as the cluster, and knows the API keys created on the cluster.
//! Needs `cargo build --workspace --bins`.

use std::process::Command;
use std::time::Duration;

use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::locate::meilisearch_binary;
use miroir_integration::master_calls::{all_documents, call, get, succeeds, wait_healthy, wait_task};
use miroir_integration::nodes::{free_port, MeiliNodes};
use miroir_integration::process::ManagedProcess;
use miroir_integration::recorded::{http_client, MASTER_KEY};
use serde_json::{json, Value};

/// The index list without times (a node stamps imported indexes with the dump's, the cluster
/// with its own).
async fn index_list(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let list = get(client, base, "/indexes").await;
    list["results"].as_array().unwrap().iter().map(|index| json!({"uid": index["uid"], "primaryKey": index["primaryKey"]})).collect()
}

/// Two indexes with settings and documents, and a key; the key as created.
async fn fill(client: &reqwest::Client, base: &str) -> Value {
    let post = reqwest::Method::POST;
    let patch = reqwest::Method::PATCH;
    let movies: Vec<Value> = (0..40)
        .map(|i| json!({"id": i, "title": format!("movie {i}"), "genre": if i % 2 == 0 { "drama" } else { "comedy" }, "year": 1990 + i}))
        .collect();
    let books: Vec<Value> =
        (0..25).map(|i| json!({"isbn": format!("isbn-{i:03}"), "title": format!("book {i}"), "pages": 100 + i})).collect();
    succeeds(client, base, post.clone(), "/indexes", json!({"uid": "books", "primaryKey": "isbn"})).await;
    succeeds(client, base, post.clone(), "/indexes/movies/documents", json!(movies)).await;
    succeeds(client, base, post.clone(), "/indexes/books/documents", json!(books)).await;
    succeeds(
        client,
        base,
        patch.clone(),
        "/indexes/movies/settings",
        json!({"filterableAttributes": ["genre"], "sortableAttributes": ["year"], "synonyms": {"film": ["movie"]}}),
    )
    .await;
    succeeds(client, base, patch, "/indexes/books/settings", json!({"searchableAttributes": ["title"], "stopWords": ["the"]})).await;
    let (status, created_key) = call(
        client,
        base,
        post.clone(),
        "/keys",
        Some(json!({"name": "dump reader", "actions": ["search", "documents.get"], "indexes": ["movies"], "expiresAt": null})),
    )
    .await;
    assert_eq!(status, 201, "{created_key}");
    created_key
}

/// `to` answers what `from` answers: index list, settings, every document, and it knows every
/// key of `from` (same uids, so the same values under one master key), and with `same_keys`
/// no other.
async fn assert_same_content(client: &reqwest::Client, from: &str, to: &str, created_key: &Value, same_keys: bool) {
    assert_eq!(index_list(client, to).await, index_list(client, from).await);
    assert_eq!(index_list(client, to).await.len(), 2);
    for (index, id_field, count) in [("movies", "id", 40), ("books", "isbn", 25)] {
        let settings = get(client, from, &format!("/indexes/{index}/settings")).await;
        assert_eq!(get(client, to, &format!("/indexes/{index}/settings")).await, settings, "{index} settings");
        let on_source = all_documents(client, from, index, id_field).await;
        assert_eq!(on_source.len(), count, "{index}");
        assert_eq!(all_documents(client, to, index, id_field).await, on_source, "{index} documents");
    }
    let key_uid = created_key["uid"].as_str().unwrap();
    let imported_key = get(client, to, &format!("/keys/{key_uid}")).await;
    assert_eq!(imported_key["key"], created_key["key"], "the same value, derived from the uid and the master key");
    assert_eq!((&imported_key["actions"], &imported_key["indexes"]), (&created_key["actions"], &created_key["indexes"]));
    let from_keys = get(client, from, "/keys?limit=100").await;
    let to_keys = get(client, to, "/keys?limit=100").await;
    let uids = |keys: &Value| {
        let mut uids: Vec<String> = keys["results"].as_array().unwrap().iter().map(|key| key["uid"].to_string()).collect();
        uids.sort();
        uids
    };
    let (to_uids, from_uids) = (uids(&to_keys), uids(&from_keys));
    assert!(from_uids.iter().all(|uid| to_uids.contains(uid)), "every key, default keys included: {from_uids:?} in {to_uids:?}");
    if same_keys {
        assert_eq!(to_uids, from_uids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_dump_is_imported_by_one_node_with_the_same_indexes_settings_documents_and_keys() {
    let dump_dir = tempfile::Builder::new().prefix("miroir-dumps-").tempdir().unwrap();
    let cluster = Cluster::builder(LogKind::Nats)
        .nodes(3)
        .shards(4)
        .replication_factor(1)
        .master_key(MASTER_KEY)
        .env("MIROIR_DUMP_DIR", dump_dir.path().display())
        .start()
        .await
        .expect("starting the cluster");
    let client = http_client();
    let base = cluster.gateway_url().to_owned();
    let post = reqwest::Method::POST;

    let created_key = fill(&client, &base).await;
    // Documents sit on every node (the dump reads them across shards).
    for node in cluster.node_clients() {
        let stats = node.stats().await.unwrap();
        let holds = stats["indexes"].as_object().unwrap().values().any(|index| index["numberOfDocuments"].as_u64() > Some(0));
        assert!(holds, "a node holds no document: {stats}");
    }

    let (status, summary) = call(&client, &base, post, "/dumps", None).await;
    assert_eq!(status, 202, "{summary}");
    assert_eq!((&summary["type"], &summary["status"], &summary["indexUid"]), (&json!("dumpCreation"), &json!("enqueued"), &Value::Null));
    let uid = summary["taskUid"].as_u64().unwrap();
    let done = wait_task(&client, &base, uid).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let dump_uid = done["details"]["dumpUid"].as_str().unwrap_or_else(|| panic!("no dumpUid: {done}")).to_owned();
    let listed = get(&client, &base, "/tasks?types=dumpCreation").await;
    assert_eq!(listed["results"][0]["uid"], uid, "{listed}");
    let dump_file = dump_dir.path().join(format!("{dump_uid}.dump"));
    assert!(dump_file.is_file(), "{} was not written", dump_file.display());

    // One fresh node imports it.
    let node_dir = tempfile::Builder::new().prefix("miroir-import-").tempdir().unwrap();
    let port = free_port().unwrap();
    let mut command = Command::new(meilisearch_binary().unwrap());
    command
        .arg("--http-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--master-key")
        .arg(MASTER_KEY)
        .arg("--db-path")
        .arg(node_dir.path().join("data"))
        .arg("--no-analytics")
        .arg("--import-dump")
        .arg(&dump_file)
        .current_dir(node_dir.path());
    let mut node = ManagedProcess::spawn("imported node", command, &node_dir.path().join("node.log")).unwrap();
    let node_url = format!("http://127.0.0.1:{port}");
    tokio::select! {
        () = wait_healthy(&client, &node_url) => {}
        () = async { while node.check_alive().is_ok() { tokio::time::sleep(Duration::from_millis(200)).await } } => {
            panic!("the importing node exited: {:?}", node.check_alive())
        }
    }

    assert_same_content(&client, &base, &node_url, &created_key, true).await;
    // The imported key works on the node.
    let search = client
        .post(format!("{node_url}/indexes/movies/search"))
        .bearer_auth(created_key["key"].as_str().unwrap())
        .json(&json!({"q": "film"}))
        .send()
        .await
        .unwrap();
    assert_eq!(search.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miroirctl_imports_a_node_dump_into_a_cluster_with_the_same_indexes_settings_documents_and_keys() {
    let binary = meilisearch_binary().unwrap();
    let node_dir = tempfile::Builder::new().prefix("miroir-dump-source-").tempdir().unwrap();
    let node = MeiliNodes::start(&binary, 1, node_dir.path(), MASTER_KEY).await.unwrap();
    let client = http_client();
    let node_url = node.urls()[0].clone();
    let created_key = fill(&client, &node_url).await;
    let (status, summary) = call(&client, &node_url, reqwest::Method::POST, "/dumps", None).await;
    assert_eq!(status, 202, "{summary}");
    let done = wait_task(&client, &node_url, summary["taskUid"].as_u64().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    // A node writes into `dumps/` under its working directory (its data directory here).
    let dump_file = node_dir.path().join("node-0/dumps").join(format!("{}.dump", done["details"]["dumpUid"].as_str().unwrap()));
    assert!(dump_file.is_file(), "{}", dump_file.display());

    let cluster = Cluster::builder(LogKind::Nats)
        .nodes(3)
        .shards(4)
        .replication_factor(1)
        .master_key(MASTER_KEY)
        .start()
        .await
        .expect("starting the cluster");
    let base = cluster.gateway_url().to_owned();
    let output = Command::new(&cluster.binaries().miroirctl)
        .args(["--url", &base, "--master-key", MASTER_KEY, "import-dump"])
        .arg(&dump_file)
        .output()
        .expect("running miroirctl");
    assert!(output.status.success(), "miroirctl import-dump: {}", String::from_utf8_lossy(&output.stderr));

    assert_same_content(&client, &node_url, &base, &created_key, false).await;
    // The documents went to their shards: every node of the cluster holds some.
    for node in cluster.node_clients() {
        let stats = node.stats().await.unwrap();
        let holds = stats["indexes"].as_object().unwrap().values().any(|index| index["numberOfDocuments"].as_u64() > Some(0));
        assert!(holds, "a node holds no document: {stats}");
    }
}

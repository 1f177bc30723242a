//! `POST /export` on a cluster (NATS, 3 real Meilisearch nodes, S = 4, RF = 1) to one real
//! Meilisearch 1.50 node: bad bodies get exactly the node's own answers (each sent to both),
//! and an export creates the remote indexes with their primary keys and settings and sends the
//! matching documents (filter honoured, Miroir's fields left out), in small payloads. Needs
//! `cargo build --workspace --bins`.

use std::time::Duration;

use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::locate::meilisearch_binary;
use miroir_integration::master_calls::{all_documents, call, get, send, succeeds, wait_task};
use miroir_integration::nodes::MeiliNodes;
use miroir_integration::recorded::{http_client, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_exports_its_indexes_to_a_node_as_a_node_would() {
    let cluster = Cluster::builder(LogKind::Nats).nodes(3).shards(4).replication_factor(1).master_key(MASTER_KEY).start().await.unwrap();
    let remote = MeiliNodes::start_temp(&meilisearch_binary().unwrap(), 1, MASTER_KEY).await.unwrap();
    let client = http_client();
    let base = cluster.gateway_url().to_owned();
    let remote_url = remote.urls()[0].clone();
    let (post, patch) = (reqwest::Method::POST, reqwest::Method::PATCH);

    // Bad bodies: the cluster answers what the node answers, and registers nothing.
    for body in [
        json!([]),
        json!({"url": 1}),
        json!({"url": null}),
        json!({"url": remote_url, "apiKey": 1}),
        json!({"url": remote_url, "payloadSize": "abc"}),
        json!({"url": remote_url, "payloadSize": "10 XB"}),
        json!({"url": remote_url, "payloadSize": -1}),
        json!({"url": remote_url, "indexes": []}),
        json!({"url": remote_url, "indexes": {"bad name!": {}}}),
        json!({"url": remote_url, "indexes": {"*": {"overrideSettings": 1}}}),
        json!({"url": remote_url, "indexes": {"*": {"other": 1}}}),
        json!({"url": remote_url, "other": 1}),
    ] {
        let on_node = call(&client, &remote_url, post.clone(), "/export", Some(body.clone())).await;
        assert_eq!(on_node.0, 400, "the node refuses {body}: {}", on_node.1);
        assert_eq!(call(&client, &base, post.clone(), "/export", Some(body.clone())).await, on_node, "{body}");
    }
    let empty = reqwest::Client::new().post(format!("{base}/export")).bearer_auth(MASTER_KEY).header("Content-Type", "application/json");
    assert_eq!(send(empty).await.1["code"], "missing_payload");
    assert_eq!(get(&client, &base, "/tasks?types=export").await["total"], 0);

    let movies: Vec<Value> = (0..40)
        .map(|i| json!({"id": i, "title": format!("movie {i}"), "genre": if i % 2 == 0 { "drama" } else { "comedy" }, "year": 1990 + i}))
        .collect();
    let books: Vec<Value> =
        (0..25).map(|i| json!({"isbn": format!("isbn-{i:03}"), "title": format!("book {i}"), "pages": 100 + i})).collect();
    succeeds(&client, &base, post.clone(), "/indexes", json!({"uid": "books", "primaryKey": "isbn"})).await;
    succeeds(&client, &base, post.clone(), "/indexes/movies/documents", json!(movies)).await;
    succeeds(&client, &base, post.clone(), "/indexes/books/documents", json!(books)).await;
    succeeds(&client, &base, post.clone(), "/indexes/ignored/documents", json!([{"id": 1}])).await;
    succeeds(
        &client,
        &base,
        patch.clone(),
        "/indexes/movies/settings",
        json!({"filterableAttributes": ["genre"], "sortableAttributes": ["year"], "synonyms": {"film": ["movie"]}}),
    )
    .await;
    succeeds(&client, &base, patch, "/indexes/books/settings", json!({"searchableAttributes": ["title"], "stopWords": ["the"]})).await;

    let request = json!({"url": remote_url, "apiKey": MASTER_KEY, "payloadSize": "300 B",
        "indexes": {"mov*": {"filter": "genre = drama"}, "books": {"overrideSettings": true}}});
    let (status, summary) = call(&client, &base, post.clone(), "/export", Some(request)).await;
    assert_eq!(status, 200, "a node answers 200 here: {summary}");
    assert_eq!((&summary["type"], &summary["status"], &summary["indexUid"]), (&json!("export"), &json!("enqueued"), &Value::Null));
    let done = wait_task(&client, &base, summary["taskUid"].as_u64().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(
        done["details"],
        json!({"url": remote_url, "apiKey": "XXX...", "payloadSize": "300 B",
            "indexes": {"books": {"filter": null, "overrideSettings": true}, "mov*": {"filter": "genre = drama", "overrideSettings": false}}})
    );

    // The remote received everything (its own tasks may still run).
    wait_until(Deadline::after(Duration::from_secs(60)), "the remote never finished its tasks", async || {
        let pending = get(&client, &remote_url, "/tasks?statuses=enqueued,processing").await;
        Ok(if pending["total"] == 0 { Progress::Done(()) } else { Progress::Waiting(pending.to_string()) })
    })
    .await
    .unwrap();
    let failed = get(&client, &remote_url, "/tasks?statuses=failed").await;
    assert_eq!(failed["total"], 0, "{failed}");
    let indexes = get(&client, &remote_url, "/indexes").await;
    let listed: Vec<(Value, Value)> =
        indexes["results"].as_array().unwrap().iter().map(|index| (index["uid"].clone(), index["primaryKey"].clone())).collect();
    assert_eq!(listed, [(json!("books"), json!("isbn")), (json!("movies"), json!("id"))]);
    for index in ["movies", "books"] {
        let settings = get(&client, &base, &format!("/indexes/{index}/settings")).await;
        assert_eq!(get(&client, &remote_url, &format!("/indexes/{index}/settings")).await, settings, "{index} settings");
    }
    assert_eq!(all_documents(&client, &remote_url, "books", "isbn").await, all_documents(&client, &base, "books", "isbn").await);
    let dramas: Vec<Value> =
        all_documents(&client, &base, "movies", "id").await.into_iter().filter(|movie| movie["genre"] == "drama").collect();
    assert_eq!(dramas.len(), 20);
    assert_eq!(all_documents(&client, &remote_url, "movies", "id").await, dramas);
    // Payloads of at most 300 bytes: several document additions per index.
    let additions = get(&client, &remote_url, "/tasks?types=documentAdditionOrUpdate&indexUids=movies").await;
    assert!(additions["total"].as_u64().unwrap() >= 4, "{additions}");

    // A remote refusing the key: the task fails as a node's does.
    let refused = json!({"url": remote_url, "apiKey": "wrongwrongwrong", "indexes": {"books": {}}});
    let (_, summary) = call(&client, &base, post, "/export", Some(refused)).await;
    let failed = wait_task(&client, &base, summary["taskUid"].as_u64().unwrap()).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["error"],
        json!({"message": "Failed to export documents to remote server invalid_api_key (auth): The provided API key is invalid. <https://docs.meilisearch.com/errors#invalid_api_key>",
            "code": "internal", "type": "internal", "link": "https://docs.meilisearch.com/errors#internal"})
    );
}

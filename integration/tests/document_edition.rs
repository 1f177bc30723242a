//! `POST /indexes/{uid}/documents/edit` (edit documents by a Rhai function) on a cluster (NATS,
//! 3 real Meilisearch nodes, S = 3, RF = 2) and on one real Meilisearch 1.50 node with the
//! `editDocumentsByFunction` feature on: the same answers, the same finished tasks (details
//! summed over the shards of one rank) and the same documents afterwards (times and uids
//! aside); functions that replace or delete documents, `return` early, define functions, fail at
//! run time, or change the primary key. Every document on every node index keeps its
//! `_miroir_shard`. Needs `cargo build --workspace --bins`.

use miroir_integration::locate::meilisearch_binary;
use miroir_integration::master_calls;
use miroir_integration::nodes::MeiliNodes;
use miroir_integration::recorded::{http_client, start_cluster, MASTER_KEY};
use miroir_schemas::node_layout::{node_index_uid, ReplicaRank, SHARD_FIELD};
use reqwest::Method;
use serde_json::{json, Value};

async fn send(client: &reqwest::Client, base: &str, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(body);
    }
    master_calls::send(request).await
}

fn comparable(value: &Value) -> Value {
    master_calls::comparable(value, &[])
}

/// Sends one request to both sides and waits for the task it enqueued, if any.
async fn on_both(
    client: &reqwest::Client,
    sides: &[String; 2],
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> [(u16, Value, Value); 2] {
    let mut answers = Vec::new();
    for base in sides {
        let (status, answer) = send(client, base, method.clone(), path, body).await;
        let task = match answer["taskUid"].as_u64() {
            Some(uid) => master_calls::wait_task(client, base, uid).await,
            None => Value::Null,
        };
        answers.push((status, answer, task));
    }
    answers.try_into().unwrap()
}

/// Every document of an index, ordered by id.
async fn documents(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let (status, page) = send(client, base, Method::GET, "/indexes/movies/documents?limit=1000", None).await;
    assert_eq!(status, 200, "{page}");
    let mut documents = page["results"].as_array().unwrap().clone();
    documents.sort_by_key(|document| document["id"].as_u64());
    documents
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editions_answer_as_one_node_and_keep_miroirs_fields() {
    let cluster = start_cluster(3, 3, 2).await;
    let reference = MeiliNodes::start_temp(&meilisearch_binary().unwrap(), 1, MASTER_KEY).await.unwrap();
    let client = http_client();
    let sides = [cluster.gateway_url().to_owned(), reference.urls()[0].clone()];
    let (status, features) =
        send(&client, &sides[1], Method::PATCH, "/experimental-features", Some(&json!({"editDocumentsByFunction": true}))).await;
    assert_eq!(status, 200, "{features}");
    let (status, cluster_features) = send(&client, &sides[0], Method::GET, "/experimental-features", None).await;
    assert_eq!((status, &cluster_features["editDocumentsByFunction"]), (200, &json!(true)), "the cluster has the feature on");

    let genre = |i: usize| ["a", "b"][i % 2];
    let movies: Vec<Value> = (0..40).map(|i| json!({"id": i, "title": format!("movie {i}"), "n": i, "genre": genre(i)})).collect();
    for (method, path, body) in [
        (Method::POST, "/indexes/movies/documents", json!(movies)),
        (Method::PATCH, "/indexes/movies/settings", json!({"filterableAttributes": ["n"]})),
    ] {
        for (status, answer, task) in on_both(&client, &sides, method.clone(), path, Some(&body)).await {
            assert_eq!((status, &task["status"]), (202, &json!("succeeded")), "{path}: {answer} {task}");
        }
    }

    let editions = [
        // Edits a filtered part with a context; customMetadata is kept on the task.
        (
            "/indexes/movies/documents/edit?customMetadata=edited",
            json!({"function": "doc.title = doc.title.to_upper(); if doc.n > context.min { doc.big = true }", "filter": "n >= 10", "context": {"min": 20}}),
        ),
        // Deletes some documents (`doc = ()`), over every shard.
        ("/indexes/movies/documents/edit", json!({"function": "if doc.id % 7 == 0 { doc = () }"})),
        // Replaces documents whole: on the cluster, Miroir's fields are put back.
        ("/indexes/movies/documents/edit", json!({"function": "doc = #{id: doc.id, title: \"replaced\", n: doc.n}", "filter": ["n < 5"]})),
        // Returns early for one document.
        ("/indexes/movies/documents/edit", json!({"function": "if doc.id == 6 { return; } doc.r = 1", "filter": "n < 10"})),
        // Defines a function (run at the top level of the node's script).
        ("/indexes/movies/documents/edit", json!({"function": "fn double(x) { x * 2 }\ndoc.twice = double(doc.n)", "filter": "n > 30"})),
        // Fails at run time, on every shard: the node's error, the client's line numbers.
        ("/indexes/movies/documents/edit", json!({"function": "let a = 1;\nthrow \"boom\""})),
        ("/indexes/movies/documents/edit", json!({"function": "doc.id = 1000", "filter": "n = 12"})),
        ("/indexes/movies/documents/edit", json!({"function": "doc = 5", "filter": "n = 12"})),
        ("/indexes/movies/documents/edit", json!({"function": "doc.remove(\"id\")", "filter": "n = 12"})),
        // A filter on an attribute that is not filterable fails the task.
        ("/indexes/movies/documents/edit", json!({"function": "doc.x = 1", "filter": "genre = a"})),
        // Matches nothing.
        ("/indexes/movies/documents/edit", json!({"function": "doc.x = 1", "filter": "n > 1000"})),
        // A missing index fails the task; a function that does not compile is refused at once.
        ("/indexes/nope/documents/edit", json!({"function": "doc.x = 1"})),
        ("/indexes/movies/documents/edit", json!({"function": "doc.x = "})),
        ("/indexes/movies/documents/edit", json!({"function": "doc.x = 1", "context": [1]})),
    ];
    for (path, body) in &editions {
        let [cluster_side, node_side] = on_both(&client, &sides, Method::POST, path, Some(body)).await;
        assert_eq!(
            (cluster_side.0, comparable(&cluster_side.1), comparable(&cluster_side.2)),
            (node_side.0, comparable(&node_side.1), comparable(&node_side.2)),
            "{path} {body}"
        );
        assert_eq!(documents(&client, &sides[0]).await, documents(&client, &sides[1]).await, "documents after {body}");
    }

    // Every document on every node index still carries its shard (a read narrowed to shards,
    // a clear or a deletion by filter finds it): each node holds node indexes of both ranks.
    let mut checked = 0;
    for node in cluster.node_clients() {
        for rank in [ReplicaRank(0), ReplicaRank(1)] {
            let path = format!("/indexes/{}/documents/fetch", node_index_uid("movies", rank));
            let without = json!({"limit": 1000, "filter": format!("{SHARD_FIELD} NOT EXISTS")});
            let Ok((_, page)) = node.request_json(Method::POST, &path, &[], Some(&without)).await else { continue };
            assert_eq!(page["results"], json!([]), "{} {path}: documents without their shard", node.node_id());
            let (_, all) = node.request_json(Method::POST, &path, &[], Some(&json!({"limit": 1000}))).await.unwrap();
            assert!(!all["results"].as_array().unwrap().is_empty(), "{} {path} holds documents", node.node_id());
            checked += 1;
        }
    }
    assert_eq!(checked, 6, "3 nodes, 2 ranks each");
}

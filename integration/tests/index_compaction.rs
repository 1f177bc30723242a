//! `POST /indexes/{uid}/compact` on a cluster (NATS, 3 real Meilisearch nodes, S = 3, RF = 2)
//! and on one real Meilisearch 1.50 node: the same answers (times, uids and sizes aside), and
//! the cluster's sizes are the sum of its rank-0 node indexes' own compactions (one copy of the
//! index, as one node holding it whole would report). Needs `cargo build --workspace --bins`.

use std::time::Duration;

use miroir_clients::node::TaskFilter;
use miroir_integration::locate::meilisearch_binary;
use miroir_integration::master_calls;
use miroir_integration::nodes::MeiliNodes;
use miroir_integration::recorded::{http_client, is_finished, start_cluster, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::details::byte_size;
use miroir_schemas::node_layout::{node_index_uid, ReplicaRank};
use serde_json::{json, Value};

const TASK_BOUND: Duration = Duration::from_secs(120);

async fn send(client: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut request = client.request(method, format!("{base}{path}")).bearer_auth(MASTER_KEY);
    if let Some(body) = body {
        request = request.header("Content-Type", "application/json").body(body.to_owned());
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{base}{path}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn finished_task(client: &reqwest::Client, base: &str, uid: u64) -> Value {
    wait_until(Deadline::after(TASK_BOUND), format!("{base}: task {uid} finished"), async || {
        let (_, task) = send(client, base, reqwest::Method::GET, &format!("/tasks/{uid}"), None).await;
        Ok(match task["status"].as_str() {
            Some(status) if is_finished(status) => Progress::Done(task),
            _ => Progress::Waiting(task.to_string()),
        })
    })
    .await
    .unwrap()
}

/// What must differ between a cluster and a node blanked: times, uids, sizes.
fn comparable(value: &Value) -> Value {
    master_calls::comparable(value, &["preCompactionSize", "postCompactionSize"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_answers_as_one_node_and_sums_the_node_indexes_of_one_rank() {
    let cluster = start_cluster(3, 3, 2).await;
    let reference = MeiliNodes::start_temp(&meilisearch_binary().unwrap(), 1, MASTER_KEY).await.unwrap();
    let client = http_client();
    let sides = [cluster.gateway_url().to_owned(), reference.urls()[0].clone()];
    let documents = json!((0..30).map(|i| json!({"id": i, "title": format!("movie {i}")})).collect::<Vec<_>>()).to_string();
    for base in &sides {
        let (status, task) = send(&client, base, reqwest::Method::POST, "/indexes/movies/documents", Some(&documents)).await;
        assert_eq!(status, 202, "{base}: {task}");
        let done = finished_task(&client, base, task["taskUid"].as_u64().unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{done}");
    }

    // The query string and the body are not read (not even customMetadata); a missing index
    // fails the task; a uid no index can have is refused at once.
    let requests = [
        ("/indexes/movies/compact", None),
        ("/indexes/movies/compact?customMetadata=x&foo=bar", Some("not json")),
        ("/indexes/nope/compact", None),
        ("/indexes/bad%20uid/compact", None),
    ];
    for (path, body) in requests {
        let mut answers = Vec::new();
        for base in &sides {
            let (status, answer) = send(&client, base, reqwest::Method::POST, path, body).await;
            let task = match answer["taskUid"].as_u64() {
                Some(uid) => finished_task(&client, base, uid).await,
                None => Value::Null,
            };
            answers.push((status, comparable(&answer), task));
        }
        let (cluster_answer, node_answer) = (&answers[0], &answers[1]);
        assert_eq!(
            (cluster_answer.0, &cluster_answer.1, comparable(&cluster_answer.2)),
            (node_answer.0, &node_answer.1, comparable(&node_answer.2)),
            "{path}"
        );
        if path == "/indexes/movies/compact" {
            assert_sizes_are_the_rank_zero_sum(&cluster, &cluster_answer.2).await;
        }
    }
}

/// The cluster's sizes are what every node reported for its rank-0 node index, summed (called
/// after the first compaction, so every node compaction there is belongs to it).
async fn assert_sizes_are_the_rank_zero_sum(cluster: &miroir_integration::cluster::Cluster, compaction: &Value) {
    assert_eq!(compaction["status"], "succeeded", "{compaction}");
    let size = |details: &Value, field: &str| byte_size::from_text(details[field].as_str().unwrap_or_default());
    let (mut pre, mut post) = (0, 0);
    let filter = TaskFilter {
        index_uids: vec![node_index_uid("movies", ReplicaRank(0))],
        types: vec!["indexCompaction".into()],
        ..TaskFilter::default()
    };
    for node in cluster.node_clients() {
        for task in node.get_tasks(&filter).await.unwrap().results {
            let details = task.details.unwrap_or_default();
            pre += size(&details, "preCompactionSize").unwrap();
            post += size(&details, "postCompactionSize").unwrap();
        }
    }
    assert!(pre > 0 && post > 0, "the rank-0 node indexes reported their sizes");
    let reported = (size(&compaction["details"], "preCompactionSize"), size(&compaction["details"], "postCompactionSize"));
    assert_eq!(reported, (Some(pre), Some(post)), "{compaction}");
}

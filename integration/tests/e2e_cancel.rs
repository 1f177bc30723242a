//! `POST /tasks/cancel` end to end on NATS: with the indexer paused, a document addition is
//! canceled before any indexer announced it; once the indexer resumes, it applies the tasks
//! around it and no node ever receives the canceled documents.

mod gateway_cluster;

use std::process::Command;
use std::time::{Duration, Instant};

use gateway_cluster::{http_client, is_finished, GatewayCluster, MASTER_KEY};
use serde_json::{json, Value};

const TASK_BOUND: Duration = Duration::from_secs(120);

async fn call(client: &reqwest::Client, method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = client.request(method, url).bearer_auth(MASTER_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn wait_task(client: &reqwest::Client, base: &str, uid: u64) -> Value {
    let give_up = Instant::now() + TASK_BOUND;
    loop {
        let (_, task) = call(client, reqwest::Method::GET, format!("{base}/tasks/{uid}"), None).await;
        if task["status"].as_str().is_some_and(is_finished) {
            return task;
        }
        assert!(Instant::now() < give_up, "task {uid} did not finish: {task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

fn books(ids: std::ops::Range<u32>, tag: &str) -> Value {
    Value::Array(ids.map(|id| json!({"id": id, "tag": tag})).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_addition_never_reaches_a_node() {
    let cluster = GatewayCluster::start(3, 3, 2).await;
    let client = http_client();
    let base = cluster.url().to_owned();
    let post = |path: &str, body: Value| call(&client, reqwest::Method::POST, format!("{base}{path}"), Some(body));

    let (status, created) = post("/indexes", json!({"uid": "books", "primaryKey": "id"})).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(wait_task(&client, &base, created["taskUid"].as_u64().unwrap()).await["status"], "succeeded");

    let indexer = cluster.miroir.indexer.pid();
    signal(indexer, "STOP");
    let (_, kept) = post("/indexes/books/documents", books(0..40, "kept")).await;
    let (_, canceled) = post("/indexes/books/documents", books(20..60, "canceled")).await;
    let (kept, canceled) = (kept["taskUid"].as_u64().unwrap(), canceled["taskUid"].as_u64().unwrap());
    let (status, cancelation) = call(&client, reqwest::Method::POST, format!("{base}/tasks/cancel?uids={canceled}"), None).await;
    assert_eq!(status, 200, "{cancelation}");
    let cancelation = wait_task(&client, &base, cancelation["taskUid"].as_u64().unwrap()).await;
    signal(indexer, "CONT");

    assert_eq!(cancelation["status"], "succeeded");
    assert_eq!(cancelation["details"]["canceledTasks"], 1, "{cancelation}");
    let canceled_task = wait_task(&client, &base, canceled).await;
    assert_eq!((canceled_task["status"].clone(), canceled_task["canceledBy"].clone()), (json!("canceled"), cancelation["uid"].clone()));
    assert_eq!(canceled_task["details"]["indexedDocuments"], 0);
    let kept_task = wait_task(&client, &base, kept).await;
    assert_eq!(kept_task["status"], "succeeded", "{kept_task}");
    assert_eq!(kept_task["details"]["indexedDocuments"], 40);

    // A later write is applied after the canceled one was skipped.
    let (_, later) = post("/indexes/books/documents", books(100..101, "later")).await;
    assert_eq!(wait_task(&client, &base, later["taskUid"].as_u64().unwrap()).await["status"], "succeeded");
    let (status, documents) = call(&client, reqwest::Method::GET, format!("{base}/indexes/books/documents?limit=1000"), None).await;
    assert_eq!(status, 200, "{documents}");
    assert_eq!(documents["total"], 41, "{documents}");
    let tags: Vec<&str> = documents["results"].as_array().unwrap().iter().filter_map(|d| d["tag"].as_str()).collect();
    assert!(tags.iter().all(|&tag| tag != "canceled"), "{tags:?}");
}

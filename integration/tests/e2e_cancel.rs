//! `POST /tasks/cancel` end to end on NATS: with the indexer paused, a document addition is
//! canceled before any indexer announced it; once the indexer resumes, it applies the tasks
//! around it and no node ever receives the canceled documents.

use std::time::Duration;

use miroir_integration::process::Signal;
use miroir_integration::recorded::{http_client, is_finished, start_cluster, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
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
    wait_until(Deadline::after(TASK_BOUND), format!("task {uid} did not finish"), async || {
        let (_, task) = call(client, reqwest::Method::GET, format!("{base}/tasks/{uid}"), None).await;
        Ok(if task["status"].as_str().is_some_and(is_finished) { Progress::Done(task) } else { Progress::Waiting(task.to_string()) })
    })
    .await
    .unwrap()
}

fn books(ids: std::ops::Range<u32>, tag: &str) -> Value {
    Value::Array(ids.map(|id| json!({"id": id, "tag": tag})).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canceled_addition_never_reaches_a_node() {
    let mut cluster = start_cluster(3, 3, 2).await;
    let client = http_client();
    let base = cluster.gateway_url().to_owned();
    let post = |path: &str, body: Value| call(&client, reqwest::Method::POST, format!("{base}{path}"), Some(body));

    let (status, created) = post("/indexes", json!({"uid": "books", "primaryKey": "id"})).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(wait_task(&client, &base, created["taskUid"].as_u64().unwrap()).await["status"], "succeeded");

    cluster.miroir().indexer.signal(Signal::Stop);
    let (_, kept) = post("/indexes/books/documents", books(0..40, "kept")).await;
    let (_, canceled) = post("/indexes/books/documents", books(20..60, "canceled")).await;
    let (kept, canceled) = (kept["taskUid"].as_u64().unwrap(), canceled["taskUid"].as_u64().unwrap());
    let (status, cancelation) = call(&client, reqwest::Method::POST, format!("{base}/tasks/cancel?uids={canceled}"), None).await;
    assert_eq!(status, 200, "{cancelation}");
    let cancelation = wait_task(&client, &base, cancelation["taskUid"].as_u64().unwrap()).await;
    cluster.miroir().indexer.signal(Signal::Cont);

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

//! Calls to a gateway with the master key, as the end-to-end tests of Miroir's own features
//! make them: send and read the JSON answer, wait for health, wait for a task to finish, compare
//! answers with one node's.

use std::time::Duration;

use serde_json::Value;

use crate::recorded::{is_finished, MASTER_KEY};
use crate::wait::{wait_until, Deadline, Progress};

/// How long a task may take before a test fails.
pub const TASK_BOUND: Duration = Duration::from_secs(120);

/// Sends `request` with the master key; the status and the JSON answer (`Null` if none).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.bearer_auth(MASTER_KEY).send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until `base` answers `/health`.
pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    wait_until(Deadline::after(Duration::from_secs(60)), format!("{base} did not become healthy"), async || {
        let healthy = client.get(format!("{base}/health")).send().await.is_ok_and(|response| response.status().is_success());
        Ok(if healthy { Progress::Done(()) } else { Progress::Waiting("not yet".into()) })
    })
    .await
    .unwrap();
}

/// Waits until task `uid` is finished as `base` sees it, and returns it.
pub async fn wait_task(client: &reqwest::Client, base: &str, uid: u64) -> Value {
    wait_until(Deadline::after(TASK_BOUND), format!("task {uid} did not finish"), async || {
        let (_, task) = send(client.get(format!("{base}/tasks/{uid}"))).await;
        Ok(if task["status"].as_str().is_some_and(is_finished) { Progress::Done(task) } else { Progress::Waiting(task.to_string()) })
    })
    .await
    .unwrap()
}

/// An answer or a task with what must differ between a cluster and one node blanked: times,
/// uids, and the fields named in `also` (sizes…), at any depth; `null`s are kept.
pub fn comparable(value: &Value, also: &[&str]) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| {
                    let blank = match k.as_str() {
                        "enqueuedAt" | "startedAt" | "finishedAt" | "duration" => Some("<time>"),
                        "uid" | "taskUid" | "batchUid" => Some("<uid>"),
                        other if also.contains(&other) => Some("<blanked>"),
                        _ => None,
                    };
                    (k.clone(), blank.filter(|_| !v.is_null()).map_or_else(|| comparable(v, also), Value::from))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `method path` on `base` with an optional JSON body; the status and JSON answer.
pub async fn call(client: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = client.request(method, format!("{base}{path}"));
    send(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

/// `GET path` on `base`, which must answer `200`.
pub async fn get(client: &reqwest::Client, base: &str, path: &str) -> Value {
    let (status, body) = call(client, base, reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "{base}{path}: {body}");
    body
}

/// A write on `base` that must be enqueued and succeed.
pub async fn succeeds(client: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Value) {
    let (status, task) = call(client, base, method, path, Some(body)).await;
    assert_eq!(status, 202, "{path}: {task}");
    let done = wait_task(client, base, task["taskUid"].as_u64().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{path}: {done}");
}

/// Every document of `index` on `base` (at most 1,000), sorted by `id_field`.
pub async fn all_documents(client: &reqwest::Client, base: &str, index: &str, id_field: &str) -> Vec<Value> {
    let page = get(client, base, &format!("/indexes/{index}/documents?limit=1000")).await;
    let mut documents = page["results"].as_array().unwrap().clone();
    documents.sort_by_key(|document| document[id_field].to_string());
    documents
}

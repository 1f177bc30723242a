//! The gateway as an SDK sees it: requests with the master key, task polling on `/tasks/{uid}`.

use std::time::Duration;

use miroir_integration::wait::{wait_until, Deadline, Progress};

use serde_json::Value;

/// How often a task is polled (Meilisearch's SDKs poll every 50 ms by default).
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A status and JSON body (`Null` when the body is empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The `taskUid` of a `202`, panicking with the answer otherwise.
    pub fn task_uid(&self) -> u64 {
        assert_eq!(self.status, 202, "expected 202 with a summarized task, got {self:?}");
        self.body["taskUid"].as_u64().unwrap_or_else(|| panic!("202 without a taskUid: {}", self.body))
    }

    /// Whether the body is a Meilisearch error object `{message, code, type, link}`.
    pub fn is_meilisearch_error(&self) -> bool {
        let Some(object) = self.body.as_object() else { return false };
        ["message", "code", "type", "link"].iter().all(|field| object.get(*field).is_some_and(Value::is_string)) && object.len() == 4
    }
}

#[derive(Clone)]
pub struct Gateway {
    pub url: String,
    key: String,
    http: reqwest::Client,
}

impl Gateway {
    pub fn new(url: &str, key: &str) -> Gateway {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("an HTTP client");
        Gateway { url: url.to_owned(), key: key.to_owned(), http }
    }

    /// Any request; `content_type: None` sends no `Content-Type` header.
    pub async fn send(&self, method: reqwest::Method, path: &str, content_type: Option<&str>, body: Option<Vec<u8>>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.url)).bearer_auth(&self.key);
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: the gateway did not answer: {e}"));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("reading the gateway's answer");
        Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    pub async fn json(&self, method: reqwest::Method, path: &str, body: &Value) -> Answer {
        self.send(method, path, Some("application/json"), Some(body.to_string().into_bytes())).await
    }

    pub async fn ndjson(&self, method: reqwest::Method, path: &str, body: Vec<u8>) -> Answer {
        self.send(method, path, Some("application/x-ndjson"), Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    /// Polls `/tasks/{uid}` until the task is finished and returns it. `bound` only turns a hang
    /// into a failure.
    pub async fn wait_task(&self, uid: u64, bound: Duration) -> Value {
        let deadline = Deadline::after(bound).polling_every(POLL_INTERVAL);
        wait_until(deadline, format!("task {uid} did not finish"), async || {
            let answer = self.get(&format!("/tasks/{uid}")).await;
            // A gateway may not have folded a just-acknowledged task yet: 404 means "not seen yet".
            match (answer.status, answer.body["status"].as_str()) {
                (200, Some("succeeded" | "failed" | "canceled")) => Ok(Progress::Done(answer.body)),
                (200, Some("enqueued" | "processing")) | (404, _) => Ok(Progress::Waiting(answer.body.to_string())),
                (status, other) => anyhow::bail!("GET /tasks/{uid}: {status}, status {other:?}: {}", answer.body),
            }
        })
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
    }

    /// Waits for every task and asserts each `succeeded`.
    pub async fn expect_succeeded(&self, uids: &[u64], bound: Duration) {
        for &uid in uids {
            let task = self.wait_task(uid, bound).await;
            assert_eq!(task["status"], "succeeded", "task {uid} did not succeed: {task}");
        }
    }
}

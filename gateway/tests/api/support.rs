//! Builds a gateway router on an in-memory log and sends it requests without a socket.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use miroir_clients::log::{LogConfig, MemoryLog, Record, Topic, WriteLog};
use miroir_gateway::app::router;
use miroir_gateway::state::AppState;
use miroir_schemas::details::DetailCounts;
use miroir_schemas::envelope::{decode, encode, OpEnvelope};
use miroir_schemas::task_log::{ReplicaStatus, TaskEvent, TaskRecord};
use miroir_schemas::topology::{Node, Topology};
use serde_json::Value;
use tower::ServiceExt;

pub const MASTER_KEY: &str = "masterKey";

pub fn topology(shards: u32) -> Topology {
    let nodes = (0..3)
        .map(|i| Node { id: format!("n{i}"), url: format!("http://127.0.0.1:{}", 1 + i), replica_group: "g0".into(), api_key: None })
        .collect();
    Topology::new(1, shards, 2, nodes).unwrap()
}

pub struct TestGateway {
    pub router: Router,
    pub log: Arc<MemoryLog>,
}

impl TestGateway {
    pub fn new() -> Self {
        Self::with_payload_limit(miroir_gateway::config::DEFAULT_PAYLOAD_LIMIT)
    }

    pub fn with_payload_limit(limit: usize) -> Self {
        let log = Arc::new(MemoryLog::new(LogConfig::for_tests("gw")).unwrap());
        let state = AppState::new(topology(3), log.clone(), Some(MASTER_KEY.into()), limit);
        state.start_watching();
        TestGateway { router: router(state), log }
    }

    /// Sends a request with the master key; `body` is sent as JSON when given.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path).header("Authorization", format!("Bearer {MASTER_KEY}"));
        let body = match body {
            Some(json) => {
                request = request.header("Content-Type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    /// Sends any request; an empty response body reads as `Value::Null`.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, bytes) = self.send_raw(request).await;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, json)
    }

    /// Every record of `topic`, partition by partition.
    pub async fn records(&self, topic: Topic) -> Vec<Record> {
        let mut all = Vec::new();
        for partition in 0..self.log.config().partitions(topic) {
            let end = self.log.end_offset(topic, partition).await.unwrap();
            let mut reader = self.log.read_partition(topic, partition, 0).await.unwrap();
            let mut got = Vec::new();
            while (got.len() as u64) < end {
                got.extend(reader.next_batch(1000, Duration::from_millis(100)).await.unwrap());
            }
            all.extend(got);
        }
        all
    }

    /// Every operation appended to `ops`.
    pub async fn ops(&self) -> Vec<(String, OpEnvelope)> {
        self.records(Topic::Ops).await.into_iter().map(|r| (r.key.clone(), decode(&r.payload).unwrap())).collect()
    }

    /// Plays the indexer: reports every replica of every shard task `uid` targets.
    pub async fn finish_task(&self, uid: u64, status: ReplicaStatus, counts: DetailCounts) {
        let record = &self.records(Topic::Tasks).await[uid as usize];
        let task: TaskRecord = decode(&record.payload).unwrap();
        let now = time::OffsetDateTime::now_utc();
        for target in &task.targets {
            for replica in &target.replicas {
                let event = TaskEvent {
                    schema_version: miroir_schemas::envelope::SCHEMA_VERSION,
                    task_uid: uid,
                    shard: target.shard,
                    replica: replica.clone(),
                    status,
                    error: None,
                    counts,
                    started_at: now,
                    finished_at: now,
                };
                let key = format!("{uid}/{}/{replica}", target.shard);
                self.log.append(Topic::TaskEvents, &key, &key, encode(&event).into()).await.unwrap();
            }
        }
    }

    /// Polls `GET /tasks/{uid}` until its status is `status` (the fold is asynchronous).
    /// (The bound only turns a hang into a failure.)
    pub async fn wait_status(&self, uid: u64, status: &str) -> Value {
        for _ in 0..2000 {
            let (_, task) = self.call("GET", &format!("/tasks/{uid}"), None).await;
            if task["status"] == status {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("task {uid} never became {status}");
    }

    pub async fn send_raw(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        (status, to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec())
    }
}

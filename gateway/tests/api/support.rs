//! A gateway as the process serves it (the route table behind the auth middleware, `/keys`
//! included) on an in-memory log, sent requests without a socket.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::{Json, Router};
use miroir_clients::log::{LogConfig, MemoryLog, Record, Topic, WriteLog};
use miroir_gateway::app::{router_for, routes, Route};
use miroir_gateway::auth::{Auth, KeysOptions, KeysService};
use miroir_gateway::error::GatewayError;
use miroir_gateway::read::ReadConfig;
use miroir_gateway::state::AppState;
use miroir_schemas::details::DetailCounts;
use miroir_schemas::envelope::{decode, encode, OpEnvelope};
use miroir_schemas::task_log::{ReplicaStatus, TaskEvent, TaskRecord};
use miroir_schemas::topology::{Node, Topology};
use serde_json::{json, Map, Value};
use time::macros::datetime;
use time::OffsetDateTime;
use tower::ServiceExt;

pub const MASTER_KEY: &str = "masterKey";

pub const INVALID_KEY: &str = "The provided API key is invalid.";

/// `shards` shards with replication factor 2 on three nodes that are not there.
pub fn topology(shards: u32) -> Topology {
    let nodes = (0..3)
        .map(|i| Node { id: format!("n{i}"), url: format!("http://127.0.0.1:{}", 1 + i), replica_group: "g0".into(), api_key: None })
        .collect();
    Topology::new(1, shards, 2, nodes).unwrap()
}

pub fn memory_log() -> Arc<MemoryLog> {
    Arc::new(MemoryLog::new(LogConfig::for_tests("gw")).unwrap())
}

/// A clock tests move by hand, so key expiry is checked without waiting.
#[derive(Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub const START: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

    pub fn now(&self) -> OffsetDateTime {
        Self::START + time::Duration::seconds(self.0.load(Ordering::SeqCst))
    }

    pub fn advance(&self, by: time::Duration) {
        self.0.fetch_add(by.whole_seconds(), Ordering::SeqCst);
    }
}

/// How a [`TestGateway`] starts; [`Setup::default`] is the common case.
pub struct Setup {
    pub topology: Topology,
    pub log: Arc<MemoryLog>,
    pub master_key: Option<&'static str>,
    pub payload_limit: usize,
    /// The API keys' clock.
    pub clock: ManualClock,
    /// Serve [`echo_routes`] instead of the gateway's own handlers.
    pub echo: bool,
    /// Most tasks kept before the automatic cleanup (`--task-limit`).
    pub task_limit: u64,
    /// How long an `Idempotency-Key` stays reserved (`--idempotency-window-secs`).
    pub idempotency_window: Duration,
    /// The read path's deadline (`--search-deadline-ms`).
    pub read_deadline: Duration,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            topology: topology(3),
            log: memory_log(),
            master_key: Some(MASTER_KEY),
            payload_limit: miroir_gateway::config::DEFAULT_PAYLOAD_LIMIT,
            clock: ManualClock::default(),
            echo: false,
            task_limit: miroir_gateway::catalog::DEFAULT_TASK_LIMIT,
            idempotency_window: miroir_gateway::idempotency::DEFAULT_WINDOW,
            read_deadline: ReadConfig::default().deadline,
        }
    }
}

impl Setup {
    /// Starts the keys service (seeding the default keys) and the watchers, as the process does.
    pub async fn start(self) -> TestGateway {
        let master_key = self.master_key.map(str::to_owned);
        let read_config = ReadConfig { deadline: self.read_deadline, ..ReadConfig::default() };
        let state = AppState::with_read_config(self.topology, self.log.clone(), master_key.clone(), self.payload_limit, read_config)
            .with_idempotency_window(self.idempotency_window);
        state.catalog().set_task_limit(self.task_limit);
        state.start_watching();
        let clock = self.clock;
        let options = KeysOptions { clock: Arc::new(move || clock.now()), ..KeysOptions::default() };
        let keys = KeysService::start(self.log.clone(), master_key, options).await.unwrap();
        let routes = if self.echo { echo_routes() } else { routes() };
        TestGateway { router: router_for(routes, state, keys.clone()), log: self.log, keys }
    }
}

/// The gateway's routes and guards, with some handlers replaced by ones that answer what the
/// auth verdict lets them see (a search's fused tenant filter, whether a write may create its
/// index, which tasks are visible, …): the real handlers would need nodes behind the gateway,
/// and the verdict is what the auth tests check.
fn echo_routes() -> Vec<Route> {
    routes()
        .into_iter()
        .map(|route| match (route.method().as_str(), route.pattern()) {
            ("POST", "/indexes/{index_uid}/search") => route.answered_by(echo::search),
            ("POST", "/indexes/{index_uid}/documents") => route.answered_by(echo::write),
            ("POST", "/multi-search") => route.answered_by(echo::multi_search),
            ("GET", "/tasks") => route.answered_by(echo::tasks),
            ("POST", "/swap-indexes") => route.answered_by(echo::swap),
            _ => route,
        })
        .collect()
}

/// Handlers that use the verdict as real handlers must, and answer with what it allowed.
pub mod echo {
    use super::*;

    pub async fn search(auth: Auth, Path(index): Path<String>, Json(mut request): Json<Map<String, Value>>) -> Json<Value> {
        auth.restrict_search(&index, &mut request);
        Json(json!({ "index": index, "filter": request.get("filter") }))
    }

    pub async fn multi_search(auth: Auth, Json(mut body): Json<Map<String, Value>>) -> Result<Json<Value>, GatewayError> {
        auth.restrict_multi_search(&mut body)?;
        Ok(Json(Value::Object(body)))
    }

    pub async fn write(auth: Auth, Path(index): Path<String>) -> (StatusCode, Json<Value>) {
        (StatusCode::ACCEPTED, Json(json!({ "indexUid": index, "mayCreate": auth.allow_index_creation(&index) })))
    }

    /// Three fake tasks: one per index `movies` and `books`, and a swap of both.
    pub async fn tasks(auth: Auth) -> Json<Value> {
        let all = [("movies", true, vec!["movies"]), ("books", true, vec!["books"]), ("swap", false, vec!["movies", "books"])];
        let visible: Vec<&str> =
            all.iter().filter(|(_, one, indexes)| auth.task_visible(*one, indexes.iter().copied())).map(|(name, _, _)| *name).collect();
        Json(json!(visible))
    }

    pub async fn swap(auth: Auth, Json(pairs): Json<Vec<Value>>) -> Result<StatusCode, GatewayError> {
        let indexes: Vec<&str> = pairs.iter().flat_map(|p| p["indexes"].as_array().unwrap().iter().map(|i| i.as_str().unwrap())).collect();
        auth.check_indexes(indexes)?;
        Ok(StatusCode::ACCEPTED)
    }
}

/// A gateway over `log` answering with [`echo_routes`], its keys on `clock`.
pub async fn echoing_gateway(log: Arc<MemoryLog>, master_key: Option<&'static str>, clock: &ManualClock) -> TestGateway {
    Setup { log, master_key, clock: clock.clone(), echo: true, ..Setup::default() }.start().await
}

/// Two echoing gateways with the master key over one fresh log, and their clock.
pub async fn two_gateways() -> (Arc<MemoryLog>, ManualClock, TestGateway, TestGateway) {
    let (log, clock) = (memory_log(), ManualClock::default());
    let a = echoing_gateway(log.clone(), Some(MASTER_KEY), &clock).await;
    let b = echoing_gateway(log.clone(), Some(MASTER_KEY), &clock).await;
    (log, clock, a, b)
}

pub struct TestGateway {
    pub router: Router,
    pub log: Arc<MemoryLog>,
    pub keys: KeysService,
}

impl TestGateway {
    pub async fn new() -> Self {
        Setup::default().start().await
    }

    /// Sends a request with the master key; `body` is sent as JSON when given.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(method, path, Some(MASTER_KEY), body).await
    }

    /// Sends a request with `Authorization: Bearer <key>` when a key is given.
    pub async fn call_as(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with_authorization(method, path, key.map(|key| format!("Bearer {key}")).as_deref(), body).await
    }

    /// Sends a request with `authorization` as the raw `Authorization` header, if any.
    pub async fn call_with_authorization(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let body = match body {
            Some(json) => {
                request = request.header("Content-Type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    /// Creates a key through `POST /keys` and returns its view.
    pub async fn create_key(&self, body: Value) -> Value {
        let (status, view) = self.call("POST", "/keys", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        view
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

    pub async fn send_raw(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        (status, to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec())
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
        let now = OffsetDateTime::now_utc();
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
}

/// Exchanges recorded from a real Meilisearch 1.50 node (master key [`MASTER_KEY`]), in order.
pub fn exchanges() -> Vec<Value> {
    const TRANSCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/meilisearch-reference/transcripts-v1.50.jsonl");
    let text = std::fs::read_to_string(TRANSCRIPT).expect("transcript present");
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The recorded exchange called `name`.
pub fn exchange(name: &str) -> Value {
    exchanges().into_iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("no exchange `{name}`"))
}

/// Meilisearch's error object.
pub fn meili_error(code: &str, kind: &str, message: &str) -> Value {
    json!({ "message": message, "code": code, "type": kind, "link": format!("https://docs.meilisearch.com/errors#{code}") })
}

pub fn invalid_api_key(message: &str) -> Value {
    meili_error("invalid_api_key", "auth", message)
}

//! The task store on real brokers (NATS JetStream and Kafka/Tansu): `DELETE /tasks` through one
//! gateway deletes the same tasks on another running at the same time and on one started
//! afterwards, and a store that reaches its limit is cleaned up once, as Meilisearch does.
//! The gateways run in this process over the real log; no node or indexer is needed: the tasks
//! here either fail when folded (deleting a missing index), or stay enqueued, or are finished
//! by task events this test appends as an indexer would.

use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::{KafkaLog, LogConfig, NatsLog, WriteLog};
use miroir_gateway::app::authenticated_router;
use miroir_gateway::auth::{KeysOptions, KeysService};
use miroir_gateway::state::AppState;
use miroir_integration::brokers::{NatsServer, Tansu};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::topology::{Node, Topology};
use serde_json::{json, Value};

const MASTER_KEY: &str = "masterKey";
const BOUND: Duration = Duration::from_secs(30);

/// One shard on one node that is not there: the only replica a task waits for is `n0`.
fn topology() -> Topology {
    let node = Node { id: "n0".into(), url: "http://127.0.0.1:1".into(), replica_group: "g0".into(), api_key: None };
    Topology::new(1, 1, 1, vec![node]).unwrap()
}

/// A gateway on a loopback port; dropping it stops it.
struct Gateway {
    peer: Peer,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

impl Gateway {
    async fn start(log: Arc<dyn WriteLog>, task_limit: u64) -> Gateway {
        let state = AppState::new(topology(), log.clone(), Some(MASTER_KEY.into()), 100_000_000);
        state.catalog().set_task_limit(task_limit);
        let mut tasks = state.start_watching();
        let keys = KeysService::start(log, Some(MASTER_KEY.into()), KeysOptions::default()).await.expect("keys service");
        let router = authenticated_router(state, keys);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tasks.push(tokio::spawn(async move { axum::serve(listener, router).await.unwrap() }));
        Gateway { peer: Peer { base: url, client: reqwest::Client::new() }, tasks }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.peer.call(method, path, body).await
    }

    /// Enqueues a write; returns its task uid.
    async fn write(&self, method: &str, path: &str, body: Option<Value>) -> u64 {
        let (status, task) = self.call(method, path, body).await;
        assert!(status == 202 || status == 200, "{method} {path}: {status} {task}");
        task["taskUid"].as_u64().unwrap()
    }

    async fn wait_status(&self, uid: u64, status: &str) -> Value {
        wait_until(Deadline::after(BOUND), format!("task {uid} did not become {status} on {}", self.peer.base), async || {
            let (_, task) = self.call("GET", &format!("/tasks/{uid}"), None).await;
            Ok(if task["status"] == status { Progress::Done(task) } else { Progress::Waiting(task.to_string()) })
        })
        .await
        .unwrap()
    }

    /// `/tasks` and `/batches` once this gateway lists exactly `uids` (newest first).
    async fn lists_once(&self, uids: &[u64]) -> [Value; 2] {
        let tasks = wait_until(Deadline::after(BOUND), format!("{} never listed {uids:?}", self.peer.base), async || {
            let (_, list) = self.call("GET", "/tasks?limit=100", None).await;
            let listed: Vec<u64> = list["results"].as_array().unwrap().iter().map(|task| task["uid"].as_u64().unwrap()).collect();
            Ok(if listed == uids { Progress::Done(list) } else { Progress::Waiting(format!("{listed:?}")) })
        })
        .await
        .unwrap();
        [tasks, self.call("GET", "/batches?limit=100", None).await.1]
    }

    async fn assert_not_found(&self, uid: u64) {
        let (status, error) = self.call("GET", &format!("/tasks/{uid}"), None).await;
        let expected = json!({"message": format!("Task `{uid}` not found."), "code": "task_not_found", "type": "invalid_request",
                              "link": "https://docs.meilisearch.com/errors#task_not_found"});
        assert_eq!((status, error), (404, expected), "task {uid} on {}", self.peer.base);
    }
}

/// Plays the indexer: replica `n0` applied task `uid`.
async fn applied(log: &dyn WriteLog, uid: u64) {
    miroir_integration::task_events::applied_on_shard_0(log, uid, "n0").await;
}

/// The scenario, on gateways `a` and `b` over `open()`'s log, both with a limit of 8 tasks.
async fn deletions_agree_everywhere(open: impl AsyncFn() -> Arc<dyn WriteLog>) {
    let log = open().await;
    let a = Gateway::start(open().await, 8).await;
    let b = Gateway::start(open().await, 8).await;

    let created = a.write("POST", "/indexes", Some(json!({"uid": "books"}))).await;
    let missing = a.write("DELETE", "/indexes/missing0", None).await;
    let other_missing = b.write("DELETE", "/indexes/missing1", None).await;
    applied(log.as_ref(), created).await;
    a.wait_status(created, "succeeded").await;
    let waiting = a.write("POST", "/indexes", Some(json!({"uid": "later"}))).await;
    assert_eq!([created, missing, other_missing, waiting], [0, 1, 2, 3]);

    // Deleting through `b` what `a` wrote: the enqueued task stays.
    let (status, registered) = b.call("DELETE", "/tasks?uids=0,1,3", None).await;
    assert_eq!(status, 200, "{registered}");
    let deletion = b.wait_status(registered["taskUid"].as_u64().unwrap(), "succeeded").await;
    assert_eq!(deletion["details"], json!({"matchedTasks": 3, "deletedTasks": 2, "originalFilter": "?uids=0,1,3"}));
    let lists = a.lists_once(&[4, 3, 2]).await;
    assert_eq!(b.lists_once(&[4, 3, 2]).await, lists);
    for gateway in [&a, &b] {
        gateway.assert_not_found(0).await;
        gateway.assert_not_found(1).await;
        assert_eq!(gateway.call("GET", "/tasks/4", None).await.1, deletion);
    }

    // Five more tasks fill the store (8): `a` wrote the one that filled it, so `a` registers
    // the cleanup of every finished task (all but the enqueued 3), once.
    for uid in 5..10 {
        assert_eq!(a.write("DELETE", &format!("/indexes/missing{uid}"), None).await, uid);
    }
    let cleanup = b.wait_status(10, "succeeded").await;
    assert_eq!(cleanup["type"], "taskDeletion");
    assert_eq!((cleanup["details"]["matchedTasks"].clone(), cleanup["details"]["deletedTasks"].clone()), (json!(7), json!(7)));
    let filter = cleanup["details"]["originalFilter"].as_str().unwrap();
    assert!(filter.starts_with("?beforeEnqueuedAt=") && filter.ends_with("&statuses=succeeded,failed,canceled"), "{filter}");
    let lists = a.lists_once(&[10, 3]).await;
    assert_eq!(b.lists_once(&[10, 3]).await, lists);

    // A gateway started now, with the default limit, folds the same log to the same store.
    let c = Gateway::start(open().await, miroir_gateway::catalog::DEFAULT_TASK_LIMIT).await;
    assert_eq!(c.lists_once(&[10, 3]).await, lists);
    for uid in [0, 1, 2, 4, 9] {
        c.assert_not_found(uid).await;
    }
    // The enqueued task finishes later, on every gateway.
    applied(log.as_ref(), waiting).await;
    for gateway in [&a, &b, &c] {
        gateway.wait_status(waiting, "succeeded").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_deletion_and_cleanup_agree_on_nats() {
    let server = NatsServer::start().expect("start nats-server");
    let config = LogConfig::for_tests(format!("taskstore{}", std::process::id()));
    let url = server.url().to_owned();
    deletions_agree_everywhere(async || {
        let log: Arc<dyn WriteLog> = Arc::new(NatsLog::connect(&url, config.clone()).await.expect("connect to NATS"));
        log
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_deletion_and_cleanup_agree_on_kafka() {
    let tansu = Tansu::start().expect("start tansu");
    let config = LogConfig::for_tests(format!("taskstore{}", std::process::id()));
    let bootstrap = tansu.bootstrap().to_owned();
    deletions_agree_everywhere(async || {
        let log: Arc<dyn WriteLog> = Arc::new(KafkaLog::connect(&bootstrap, config.clone()).await.expect("connect to Kafka"));
        log
    })
    .await;
}

/// An HTTP peer: the Miroir gateway or a plain Meilisearch node.
struct Peer {
    base: String,
    client: reqwest::Client,
}

impl Peer {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method.parse().unwrap(), format!("{}{path}", self.base)).bearer_auth(MASTER_KEY);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the peer answers");
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    /// Sends a write and returns its task once finished.
    async fn finished(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, summary) = self.call(method, path, body).await;
        let uid = summary["taskUid"].as_u64().unwrap_or_else(|| panic!("{method} {path} on {}: {summary}", self.base));
        let task = wait_until(Deadline::after(BOUND), format!("task {uid} on {}", self.base), async || {
            let (_, task) = self.call("GET", &format!("/tasks/{uid}"), None).await;
            let done = task["status"].as_str().is_some_and(miroir_integration::recorded::is_finished);
            Ok(if done { Progress::Done(task) } else { Progress::Waiting(task.to_string()) })
        })
        .await
        .unwrap();
        (status, task)
    }
}

/// A task object without what differs from run to run (dates, durations, batch uids).
fn stable(task: &Value) -> Value {
    let mut task = task.clone();
    for volatile in ["enqueuedAt", "startedAt", "finishedAt", "duration", "batchUid"] {
        task.as_object_mut().map(|task| task.remove(volatile));
    }
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_deletion_answers_like_meilisearch_through_the_whole_cluster() {
    let binary = miroir_integration::nodes::find_meilisearch().expect("MEILISEARCH_BIN");
    let meilisearch = miroir_integration::nodes::MeiliNodes::start_temp(&binary, 1, MASTER_KEY).await.expect("a Meilisearch node");
    let mut cluster = miroir_integration::recorded::start_cluster(2, 3, 1).await;
    let client = reqwest::Client::new();
    let miroir = Peer { base: cluster.gateway_url().to_owned(), client: client.clone() };
    let node = Peer { base: meilisearch.urls()[0].clone(), client };

    let documents = json!([{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]);
    let steps: [(&str, &str, Option<Value>); 6] = [
        ("POST", "/indexes", Some(json!({"uid": "books", "primaryKey": "id"}))),
        ("POST", "/indexes/books/documents", Some(documents)),
        ("DELETE", "/indexes/missing", None),
        ("DELETE", "/tasks?statuses=succeeded,failed&uids=0,2,3", None),
        ("DELETE", "/tasks?types=taskDeletion", None),
        ("DELETE", "/tasks?uids=*", None),
    ];
    for (method, path, body) in steps {
        let (miroir_status, miroir_task) = miroir.finished(method, path, body.clone()).await;
        let (node_status, node_task) = node.finished(method, path, body).await;
        assert_eq!((miroir_status, stable(&miroir_task)), (node_status, stable(&node_task)), "{method} {path}");
        let [miroir_list, node_list] = [miroir.call("GET", "/tasks", None).await.1, node.call("GET", "/tasks", None).await.1];
        let uids = |list: &Value| list["results"].as_array().unwrap().iter().map(|task| task["uid"].clone()).collect::<Vec<_>>();
        assert_eq!(uids(&miroir_list), uids(&node_list), "tasks kept after {method} {path}");
        assert_eq!(miroir_list["total"], node_list["total"]);
    }
    for uid in [0, 1, 2, 3, 4] {
        assert_eq!(
            miroir.call("GET", &format!("/tasks/{uid}"), None).await,
            node.call("GET", &format!("/tasks/{uid}"), None).await,
            "task {uid}"
        );
    }

    // A restarted gateway folds the log again to the same tasks.
    let before = miroir.call("GET", "/tasks", None).await;
    cluster.miroir().gateway.restart().expect("restart the gateway");
    cluster.miroir().wait_healthy(BOUND).await.expect("the gateway answers again");
    let after = wait_until(Deadline::after(BOUND), "the restarted gateway lists the tasks", async || {
        let listed = miroir.call("GET", "/tasks", None).await;
        Ok(if listed == before { Progress::Done(listed) } else { Progress::Waiting(listed.1.to_string()) })
    })
    .await
    .unwrap();
    assert_eq!(after, before);
}

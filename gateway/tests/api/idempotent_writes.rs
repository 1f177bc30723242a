//! `Idempotency-Key` on writes, through two gateways on one in-memory log: a retry gets the
//! first answer from either gateway and registers nothing, another request with the key is
//! refused, concurrent retries make one task, and the key is scoped by API key and window.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_clients::log::{Topic, WriteLog};
use miroir_schemas::envelope::decode;
use miroir_schemas::task_log::TaskRecord;
use serde_json::{json, Value};

use crate::support::{memory_log, Setup, TestGateway, MASTER_KEY};

/// Two gateways serving the real routes over one fresh log.
async fn two_real_gateways() -> (TestGateway, TestGateway) {
    let log = memory_log();
    let a = Setup { log: log.clone(), ..Setup::default() }.start().await;
    let b = Setup { log, ..Setup::default() }.start().await;
    (a, b)
}

fn keyed(method: &str, path: &str, key: &str, api_key: &str, body: Option<&Value>) -> Request<Body> {
    let request =
        Request::builder().method(method).uri(path).header("Authorization", format!("Bearer {api_key}")).header("Idempotency-Key", key);
    match body {
        Some(body) => request.header("Content-Type", "application/json").body(Body::from(body.to_string())).unwrap(),
        None => request.body(Body::empty()).unwrap(),
    }
}

fn documents(names: &[&str]) -> Value {
    Value::Array(names.iter().map(|name| json!({"id": name, "name": name})).collect())
}

/// The task uids that have operations in `ops`.
async fn tasks_with_operations(gateway: &TestGateway) -> BTreeSet<u64> {
    gateway.ops().await.iter().map(|(_, envelope)| envelope.task_uid).collect()
}

#[tokio::test]
async fn a_retry_through_another_gateway_gets_the_first_answer_and_registers_nothing() {
    let (a, b) = two_real_gateways().await;
    let body = documents(&["x", "y", "z"]);
    let first = a.send(keyed("POST", "/indexes/movies/documents?customMetadata=m1", "order-1", MASTER_KEY, Some(&body))).await;
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
    let records = a.records(Topic::Tasks).await.len();
    let ops = a.ops().await.len();

    for gateway in [&b, &a, &b] {
        let again = gateway.send(keyed("POST", "/indexes/movies/documents?customMetadata=m1", "order-1", MASTER_KEY, Some(&body))).await;
        assert_eq!(again, first, "same status and summarized task");
    }
    assert_eq!(a.records(Topic::Tasks).await.len(), records, "no second task record");
    assert_eq!(a.ops().await.len(), ops, "no second set of operations");
    assert_eq!(first.1["customMetadata"], "m1");

    // The key is in the task record, and nowhere in the task views.
    let record: TaskRecord = decode(&a.records(Topic::Tasks).await[0].payload).unwrap();
    assert!(record.idempotency.as_ref().is_some_and(|claim| claim.key.ends_with("/order-1")));
    let (_, task) = b.call("GET", "/tasks/0", None).await;
    assert!(!task.to_string().contains("order-1"), "{task}");
}

#[tokio::test]
async fn the_key_with_another_request_is_refused() {
    let (a, b) = two_real_gateways().await;
    let first = a.send(keyed("POST", "/indexes/movies/documents", "k", MASTER_KEY, Some(&documents(&["x"])))).await;
    assert_eq!(first.0, StatusCode::ACCEPTED);
    let records = a.records(Topic::Tasks).await.len();
    let other_requests = [
        keyed("POST", "/indexes/movies/documents", "k", MASTER_KEY, Some(&documents(&["y"]))),
        keyed("PUT", "/indexes/movies/documents", "k", MASTER_KEY, Some(&documents(&["x"]))),
        keyed("POST", "/indexes/books/documents", "k", MASTER_KEY, Some(&documents(&["x"]))),
        keyed("POST", "/indexes/movies/documents?customMetadata=2", "k", MASTER_KEY, Some(&documents(&["x"]))),
    ];
    for request in other_requests {
        let (status, error) = b.send(request).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            error,
            json!({
                "message": "The `Idempotency-Key` was already used for another request (task `0`). Retry with the same method, route, query, content type and body, or use a new key.",
                "code": "idempotency_key_reused",
                "type": "invalid_request",
                "link": "https://docs.meilisearch.com/errors#idempotency_key_reused",
            })
        );
    }
    assert_eq!(a.records(Topic::Tasks).await.len(), records, "nothing registered");

    let (status, error) = a.send(keyed("POST", "/indexes/movies/documents", "two words", MASTER_KEY, Some(&documents(&["x"])))).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_idempotency_key")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_through_two_gateways_make_one_task() {
    for round in 0..10 {
        let (a, b) = two_real_gateways().await;
        let key = format!("race-{round}");
        let body = documents(&["p", "q", "r", "s"]);
        // Each request on its own task, so the two gateways serve them in parallel.
        let sends = (0..12).map(|i| {
            let router = if i % 2 == 0 { a.router.clone() } else { b.router.clone() };
            let request = keyed("POST", "/indexes/movies/documents", &key, MASTER_KEY, Some(&body));
            tokio::spawn(async move {
                let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
                (status, serde_json::from_slice::<Value>(&bytes).unwrap())
            })
        });
        let answers: Vec<(StatusCode, Value)> = futures::future::join_all(sends).await.into_iter().map(Result::unwrap).collect();
        let first = &answers[0];
        assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.1);
        assert!(answers.iter().all(|answer| answer == first), "every retry got the first answer: {answers:?}");
        let uid = first.1["taskUid"].as_u64().unwrap();
        assert_eq!(tasks_with_operations(&a).await, BTreeSet::from([uid]), "one set of operations");
        // Records of losing retries (if the race produced any) are no tasks, on either gateway.
        let records = a.records(Topic::Tasks).await.len() as u64;
        for gateway in [&a, &b] {
            let (_, list) = gateway.call("GET", "/tasks", None).await;
            let uids: Vec<u64> = list["results"].as_array().unwrap().iter().map(|task| task["uid"].as_u64().unwrap()).collect();
            assert_eq!(uids, [uid]);
            for other in (0..records).filter(|other| *other != uid) {
                assert_eq!(gateway.call("GET", &format!("/tasks/{other}"), None).await.0, StatusCode::NOT_FOUND);
            }
        }
    }
}

#[tokio::test]
async fn keys_are_scoped_by_api_key_and_cancelations_answer_200_again() {
    let (a, b) = two_real_gateways().await;
    let view = a.create_key(json!({"actions": ["*"], "indexes": ["*"], "expiresAt": null})).await;
    let api_key = view["key"].as_str().unwrap();
    let body = documents(&["x"]);
    let with_master = a.send(keyed("POST", "/indexes/movies/documents", "shared", MASTER_KEY, Some(&body))).await;
    let with_key = b.send(keyed("POST", "/indexes/movies/documents", "shared", api_key, Some(&body))).await;
    assert_eq!((with_master.0, with_key.0), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_ne!(with_master.1["taskUid"], with_key.1["taskUid"], "another API key's key is another key");

    let cancel = a.send(keyed("POST", "/tasks/cancel?uids=1", "cancel-1", MASTER_KEY, None)).await;
    assert_eq!(cancel.0, StatusCode::OK);
    assert_eq!(b.send(keyed("POST", "/tasks/cancel?uids=1", "cancel-1", MASTER_KEY, None)).await, cancel);
}

#[tokio::test]
async fn a_key_is_free_again_after_its_window() {
    let log = memory_log();
    let window = Duration::from_secs(1);
    let a = Setup { log: log.clone(), idempotency_window: window, ..Setup::default() }.start().await;
    let first = a.send(keyed("POST", "/indexes/movies/documents", "k", MASTER_KEY, Some(&documents(&["x"])))).await;
    assert_eq!(first.0, StatusCode::ACCEPTED);
    tokio::time::sleep(window + Duration::from_millis(100)).await;
    // The window is over once a later record is folded; this request's own record is one.
    let later = a.send(keyed("POST", "/indexes/movies/documents", "k", MASTER_KEY, Some(&documents(&["y"])))).await;
    assert_eq!(later.0, StatusCode::ACCEPTED, "{}", later.1);
    assert_ne!(later.1["taskUid"], first.1["taskUid"]);
}

/// The race decided by the log: another gateway's record of the key lands first (here appended
/// straight to `tasks`), then this gateway appends its own. Folding its record, it finds it a
/// repeat: it appends no operations and answers with the first task, or refuses another request.
#[tokio::test]
async fn a_record_that_lost_the_race_appends_nothing_and_answers_with_the_winner() {
    use miroir_gateway::catalog::TaskLogEntry;
    use miroir_gateway::enqueue::{enqueue, Write};
    use miroir_gateway::idempotency::with_claim;
    use miroir_gateway::state::AppState;
    use miroir_schemas::envelope::{encode, Op};
    use miroir_schemas::task_log::{IdempotencyClaim, TaskType};
    use miroir_schemas::tasks::summarized_task_view;
    use miroir_schemas::topology::ShardId;

    let log = memory_log();
    let state = AppState::new(crate::support::topology(3), log.clone(), None, 1 << 20);
    state.start_watching();
    let claim = |digest: &str| IdempotencyClaim { key: "*/k".into(), request_digest: digest.into(), window_seconds: 3600 };
    let write = || {
        let record = TaskRecord::new(TaskType::DocumentAdditionOrUpdate, Some("movies".into()), None, time::OffsetDateTime::now_utc());
        Write { entry: TaskLogEntry::new(record), layout: None, ops: vec![(ShardId(0), Op::ClearDocuments)], cancels: None }
    };
    let mut winner = write().entry;
    winner.record.idempotency = Some(claim("d"));
    log.append(Topic::Tasks, "tasks", "winner", encode(&winner).into()).await.unwrap();

    let answer = with_claim(claim("d"), enqueue(&state, write())).await.unwrap();
    assert_eq!(answer, summarized_task_view(0, &winner.record));
    let refused = with_claim(claim("other"), enqueue(&state, write())).await.unwrap_err();
    assert_eq!(refused.response_error().code, "idempotency_key_reused");

    assert_eq!(log.end_offset(Topic::Tasks, 0).await.unwrap(), 3, "both losers appended their record");
    assert!(state.catalog().read(|catalog| !catalog.has_task(1) && !catalog.has_task(2)), "neither is a task");
    for partition in 0..log.config().partitions(Topic::Ops) {
        assert_eq!(log.end_offset(Topic::Ops, partition).await.unwrap(), 0, "no operations appended");
    }
    // Without a key, the same write is a task of its own.
    assert_eq!(enqueue(&state, write()).await.unwrap()["taskUid"], 3);
}

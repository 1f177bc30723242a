//! `Miroir-Read-After-Task`: a request naming a task is served once the task is finished in
//! the serving gateway's catalog, within the read deadline; otherwise a clear error. The
//! requests here read the catalog (`GET /indexes/{uid}`, `GET /tasks/{uid}`), which needs no
//! node; searches and document reads go through the same middleware.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_schemas::details::DetailCounts;
use miroir_schemas::task_log::ReplicaStatus;
use serde_json::{json, Value};

use crate::support::{memory_log, Setup, TestGateway, MASTER_KEY};

const DONE: DetailCounts = DetailCounts::NONE;

fn after_task(path: &str, task: &str) -> Request<Body> {
    Request::get(path)
        .header("Authorization", format!("Bearer {MASTER_KEY}"))
        .header("Miroir-Read-After-Task", task)
        .body(Body::empty())
        .unwrap()
}

async fn two_gateways(read_deadline: Duration) -> (TestGateway, TestGateway) {
    let log = memory_log();
    let a = Setup { log: log.clone(), read_deadline, ..Setup::default() }.start().await;
    let b = Setup { log, read_deadline, ..Setup::default() }.start().await;
    (a, b)
}

/// Two gateways where task 0 (creating `movies`) is enqueued through the first.
async fn movies_enqueued(read_deadline: Duration) -> (TestGateway, TestGateway) {
    let (a, b) = two_gateways(read_deadline).await;
    assert_eq!(a.call("POST", "/indexes", Some(json!({"uid": "movies"}))).await.0, StatusCode::ACCEPTED);
    (a, b)
}

#[tokio::test]
async fn a_read_through_another_gateway_waits_until_the_write_is_finished() {
    let (a, b) = two_gateways(Duration::from_secs(10)).await;
    let (status, task) = a.call("POST", "/indexes", Some(json!({"uid": "movies", "primaryKey": "id"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let uid = task["taskUid"].to_string();

    // Without the header the task is not finished yet when the read is served…
    assert_eq!(b.wait_status(0, "enqueued").await["status"], "enqueued");
    // … with it, the read is held until every replica reported, then served.
    let started = Instant::now();
    let read = tokio::spawn({
        let router = b.router.clone();
        let request = after_task("/tasks/0", &uid);
        async move { tower::ServiceExt::oneshot(router, request).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!read.is_finished(), "the read waits for the task");
    a.finish_task(0, ReplicaStatus::Succeeded, DONE).await;
    let response = read.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!(body["status"], "succeeded", "served after the task finished");
    assert!(started.elapsed() >= Duration::from_millis(150));

    // Once finished, the read is served at once, and a failed task counts as finished.
    assert_eq!(b.send(after_task("/indexes/movies", &uid)).await.0, StatusCode::OK);
    a.call("POST", "/indexes", Some(json!({"uid": "books"}))).await;
    a.finish_task(1, ReplicaStatus::Failed, DONE).await;
    assert_eq!(b.send(after_task("/indexes/movies", "1")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn past_the_deadline_the_read_is_refused() {
    let (_, b) = movies_enqueued(Duration::from_millis(200)).await;
    let started = Instant::now();
    let (status, error) = b.send(after_task("/indexes/movies", "0")).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        error,
        json!({
            "message": "Task `0` is not finished (`enqueued`) after 200 ms, so the read could not reflect it and was not served. Retry later.",
            "code": "read_after_task_timeout",
            "type": "system",
            "link": "https://docs.meilisearch.com/errors#read_after_task_timeout",
        })
    );
}

#[tokio::test]
async fn unknown_tasks_and_malformed_uids_are_refused_at_once() {
    let (a, _) = movies_enqueued(Duration::from_secs(10)).await;
    let started = Instant::now();
    let (status, error) = a.send(after_task("/indexes/movies", "7")).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::NOT_FOUND, Some("task_not_found")));
    assert_eq!(error["message"], "Task `7` not found.");
    let (status, error) = a.send(after_task("/indexes/movies", "seven")).await;
    assert_eq!((status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_read_after_task")));
    assert!(started.elapsed() < Duration::from_secs(2), "no waiting");
}

//! `Miroir-Session`: every write answers with a session token; a read sending it back through
//! any gateway is served once everything the session wrote is finished there. The reads here
//! read the catalog (`GET /indexes/{uid}`, `GET /tasks/{uid}`), which needs no node; searches
//! and document reads go through the same middleware.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use miroir_gateway::session::token::SessionToken;
use miroir_schemas::details::DetailCounts;
use miroir_schemas::task_log::ReplicaStatus;
use serde_json::{json, Value};

use crate::support::{memory_log, Setup, TestGateway, MASTER_KEY};

const DONE: DetailCounts = DetailCounts::NONE;

fn request(method: &str, path: &str, session: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path).header("Authorization", format!("Bearer {MASTER_KEY}"));
    if let Some(session) = session {
        request = request.header("Miroir-Session", session);
    }
    match body {
        Some(body) => request.header("Content-Type", "application/json").body(Body::from(body.to_string())).unwrap(),
        None => request.body(Body::empty()).unwrap(),
    }
}

async fn send(gateway: &TestGateway, request: Request<Body>) -> Response<Body> {
    tower::ServiceExt::oneshot(gateway.router.clone(), request).await.unwrap()
}

fn session_of(response: &Response<Body>) -> String {
    response.headers().get("Miroir-Session").expect("a session token").to_str().unwrap().to_owned()
}

async fn json_of(response: Response<Body>) -> Value {
    serde_json::from_slice(&axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap()
}

async fn two_gateways(read_deadline: Duration) -> (TestGateway, TestGateway) {
    let log = memory_log();
    let a = Setup { log: log.clone(), read_deadline, ..Setup::default() }.start().await;
    let b = Setup { log, read_deadline, ..Setup::default() }.start().await;
    (a, b)
}

#[tokio::test]
async fn a_session_reads_all_its_writes_through_another_gateway() {
    let (a, b) = two_gateways(Duration::from_secs(10)).await;
    // Two writes through `a`, the second sending the first's token: the session holds both.
    let first = send(&a, request("POST", "/indexes", None, Some(json!({"uid": "movies"})))).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let token = session_of(&first);
    let second = send(&a, request("POST", "/indexes", Some(&token), Some(json!({"uid": "books"})))).await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    let token = session_of(&second);
    assert_eq!(SessionToken::parse(&token).unwrap().pending.into_iter().collect::<Vec<_>>(), [0, 1]);
    // A write by someone else is not part of the session.
    a.call("POST", "/indexes", Some(json!({"uid": "other"}))).await;

    // A read through `b` with the token waits for both writes, not for the other client's.
    let started = Instant::now();
    let read = tokio::spawn({
        let router = b.router.clone();
        let request = request("GET", "/tasks/1", Some(&token), None);
        async move { tower::ServiceExt::oneshot(router, request).await.unwrap() }
    });
    a.finish_task(1, ReplicaStatus::Succeeded, DONE).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!read.is_finished(), "the read waits for the session's first write too");
    a.finish_task(0, ReplicaStatus::Succeeded, DONE).await;
    let response = read.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let served = SessionToken::parse(&session_of(&response)).unwrap();
    assert!(served.pending.is_empty(), "nothing left to wait for: {served:?}");
    assert!(served.positions.tasks >= 2);
    assert_eq!(json_of(response).await["status"], "succeeded");

    // Task 2 (another client's) is still enqueued, yet the session's reads are served at once.
    let started = Instant::now();
    let again = send(&b, request("GET", "/indexes/books", Some(&served.to_string()), None)).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(b.wait_status(2, "enqueued").await["status"], "enqueued");
}

#[tokio::test]
async fn an_unfinished_session_times_out_and_a_bad_token_is_refused() {
    let (a, b) = two_gateways(Duration::from_millis(200)).await;
    let write = send(&a, request("POST", "/indexes", None, Some(json!({"uid": "movies"})))).await;
    let token = session_of(&write);
    let started = Instant::now();
    let response = send(&b, request("GET", "/indexes/movies", Some(&token), None)).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        json_of(response).await,
        json!({
            "message": "After 200 ms the session's tasks `0` are not finished, so the read could not reflect them and was not served. Retry later.",
            "code": "read_after_session_timeout",
            "type": "system",
            "link": "https://docs.meilisearch.com/errors#read_after_session_timeout",
        })
    );
    let response = send(&b, request("GET", "/indexes/movies", Some("s1.t"), None)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(response).await["code"], "invalid_session");
    // A write is never held back by its session: it is registered at once.
    let started = Instant::now();
    let write = send(&b, request("POST", "/indexes", Some(&token), Some(json!({"uid": "books"})))).await;
    assert_eq!(write.status(), StatusCode::ACCEPTED);
    assert!(started.elapsed() < Duration::from_millis(150));
    let merged = SessionToken::parse(&session_of(&write)).unwrap();
    assert_eq!(merged.pending.into_iter().collect::<Vec<_>>(), [0, 1]);
}

/// A retry answered from its idempotency reservation carries the session of the first write.
#[tokio::test]
async fn an_idempotent_replay_carries_the_task_of_the_first_write() {
    let (a, b) = two_gateways(Duration::from_secs(10)).await;
    let keyed = |gateway| {
        let request = Request::post("/indexes")
            .header("Authorization", format!("Bearer {MASTER_KEY}"))
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", "create-movies")
            .body(Body::from(json!({"uid": "movies"}).to_string()))
            .unwrap();
        send(gateway, request)
    };
    let first = SessionToken::parse(&session_of(&keyed(&a).await)).unwrap();
    let replay = SessionToken::parse(&session_of(&keyed(&b).await)).unwrap();
    assert_eq!(first.pending, replay.pending);
    assert_eq!(replay.pending.into_iter().collect::<Vec<_>>(), [0]);
}

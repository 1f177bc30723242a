//! Finished tasks are posted to the cluster's webhooks as Meilisearch posts them (gzipped
//! NDJSON of the task views, with the webhook's headers), by one gateway only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use miroir_gateway::state::AppState;
use miroir_gateway::webhooks::caller;
use miroir_schemas::details::DetailCounts;
use miroir_schemas::task_log::ReplicaStatus;
use serde_json::{json, Value};

use crate::support::{topology, Setup, TestGateway};

type Calls = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on loopback: its URL and what it received.
async fn receiver() -> (String, Calls) {
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

/// Another gateway process on the same log, calling webhooks (no HTTP of its own needed).
fn calling_gateway(gateway: &TestGateway) {
    let state = AppState::new(topology(3), gateway.log.clone(), Some("masterKey".into()), 1 << 20);
    state.start_watching();
    tokio::spawn(caller::run(state));
}

/// The NDJSON a gzip body carries.
fn ndjson_of(body: &[u8]) -> Value {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(body).read_to_string(&mut text).expect("a gzip stream");
    assert!(text.ends_with('\n'), "{text}");
    serde_json::from_str(text.trim_end()).unwrap()
}

async fn wait_for_calls(calls: &Calls, count: usize) {
    for _ in 0..500 {
        if calls.lock().unwrap().len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} webhook calls, {count} expected", calls.lock().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_tasks_reach_every_webhook_once() {
    let gateway = Setup::default().start().await;
    let (url, calls) = receiver().await;
    let (status, _) = gateway.call("POST", "/webhooks", Some(json!({"url": url, "headers": {"Authorization": "Bearer secret"}}))).await;
    assert_eq!(status, StatusCode::CREATED);
    // Two gateways could call; only the owner of `tasks` in the group does.
    calling_gateway(&gateway);
    calling_gateway(&gateway);

    let mut uids = Vec::new();
    for index in ["a", "b", "c"] {
        let (status, task) = gateway.call("POST", "/indexes", Some(json!({"uid": index}))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{task}");
        uids.push(task["taskUid"].as_u64().unwrap());
    }
    // The last task finishes first: it is delivered without waiting for the others.
    gateway.finish_task(uids[2], ReplicaStatus::Succeeded, DetailCounts::default()).await;
    wait_for_calls(&calls, 1).await;
    for &uid in &uids[..2] {
        gateway.finish_task(uid, ReplicaStatus::Succeeded, DetailCounts::default()).await;
    }
    wait_for_calls(&calls, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 3, "each task delivered once, by one gateway");
    let mut delivered = Vec::new();
    for (headers, body) in &calls {
        assert_eq!(headers["content-encoding"], "gzip");
        assert_eq!(headers["content-type"], "application/x-ndjson");
        assert_eq!(headers["authorization"], "Bearer secret", "the webhook's own headers, unredacted");
        let task = ndjson_of(body);
        let uid = task["uid"].as_u64().unwrap();
        let (_, view) = gateway.call("GET", &format!("/tasks/{uid}"), None).await;
        assert_eq!(task, view, "the task as GET /tasks/{{uid}} shows it");
        delivered.push(uid);
    }
    assert_eq!(delivered[0], uids[2]);
    delivered.sort_unstable();
    assert_eq!(delivered, uids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_taking_over_resumes_where_delivery_stood() {
    let gateway = Setup::default().start().await;
    let (url, calls) = receiver().await;
    assert_eq!(gateway.call("POST", "/webhooks", Some(json!({"url": url}))).await.0, StatusCode::CREATED);
    let first = {
        let state = AppState::new(topology(3), gateway.log.clone(), Some("masterKey".into()), 1 << 20);
        state.start_watching();
        tokio::spawn(caller::run(state))
    };
    let (_, task) = gateway.call("POST", "/indexes", Some(json!({"uid": "a"}))).await;
    let a = task["taskUid"].as_u64().unwrap();
    gateway.finish_task(a, ReplicaStatus::Succeeded, DetailCounts::default()).await;
    wait_for_calls(&calls, 1).await;
    // Give the commit a moment, then stop the calling gateway (its group membership goes).
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.abort();
    let _ = first.await;
    calling_gateway(&gateway);
    let (_, task) = gateway.call("POST", "/indexes", Some(json!({"uid": "b"}))).await;
    let b = task["taskUid"].as_u64().unwrap();
    gateway.finish_task(b, ReplicaStatus::Succeeded, DetailCounts::default()).await;
    wait_for_calls(&calls, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered: Vec<u64> = calls.lock().unwrap().iter().map(|(_, body)| ndjson_of(body)["uid"].as_u64().unwrap()).collect();
    assert_eq!(delivered, [a, b], "the committed task is not delivered again");
}

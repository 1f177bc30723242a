//! Settings routes against Meilisearch 1.50's recorded exchanges, on the in-memory log, with
//! in-process fake nodes answering settings reads.

use std::sync::{Arc, Mutex};

use crate::support::{exchange, Setup, TestGateway};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use miroir_schemas::details::DetailCounts;
use miroir_schemas::envelope::Op;
use miroir_schemas::task_log::ReplicaStatus;
use miroir_schemas::topology::{Node, Topology};
use serde_json::{json, Value};

const VOLATILE: &[&str] = &["enqueuedAt", "startedAt", "finishedAt", "duration", "batchUid", "taskUid", "uid"];

fn without_volatile(mut value: Value) -> Value {
    if let Value::Object(map) = &mut value {
        for key in VOLATILE {
            map.remove(*key);
        }
    }
    value
}

/// What the fake nodes saw: the paths they were asked.
type Seen = Arc<Mutex<Vec<String>>>;

/// A fake node answering settings reads with `settings` (the full object or one field), or
/// Meilisearch's `index_not_found` for node indexes it does not hold.
async fn fake_node(settings: Value, holds: &'static str, seen: Seen) -> String {
    let all = settings.clone();
    let seen_all = seen.clone();
    let app = Router::new()
        .route(
            "/indexes/{index}/settings",
            get(move |Path(index): Path<String>| {
                let all = all.clone();
                let seen = seen_all.clone();
                async move {
                    seen.lock().unwrap().push(format!("/indexes/{index}/settings"));
                    answer(&index, holds, all)
                }
            }),
        )
        .route(
            "/indexes/{index}/settings/{route}",
            get(move |Path((index, route)): Path<(String, String)>| {
                let settings = settings.clone();
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(format!("/indexes/{index}/settings/{route}"));
                    let name = miroir_gateway::settings::fields::by_route(&route).unwrap().name;
                    answer(&index, holds, settings[name].clone())
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A node holding user index `holds` has it under a node index of some rank (`holds__rank-r`).
fn answer(index: &str, holds: &str, body: Value) -> (StatusCode, Json<Value>) {
    if miroir_schemas::node_layout::parse_node_index_uid(index).is_some_and(|(uid, _)| uid == holds) {
        (StatusCode::OK, Json(body))
    } else {
        let message = format!("Index `{index}` not found.");
        (
            StatusCode::NOT_FOUND,
            Json(
                json!({"message": message, "code": "index_not_found", "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#index_not_found"}),
            ),
        )
    }
}

/// A gateway over 3 shards, RF 2 on 3 nodes at `urls`.
async fn gateway(urls: Vec<String>) -> TestGateway {
    let nodes =
        urls.into_iter().enumerate().map(|(i, url)| Node { id: format!("n{i}"), url, replica_group: "g0".into(), api_key: None }).collect();
    let topology = Topology::new(1, 3, 2, nodes).unwrap();
    Setup { topology, ..Setup::default() }.start().await
}

/// A port nothing listens on.
async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

async fn replay(gateway: &TestGateway, name: &str) -> (StatusCode, Value) {
    let recorded = exchange(name);
    let request = &recorded["request"];
    let body = request.get("body").cloned();
    gateway.call(request["method"].as_str().unwrap(), request["path"].as_str().unwrap(), body).await
}

async fn assert_replays(gateway: &TestGateway, name: &str) -> Value {
    let recorded = exchange(name);
    let (status, body) = replay(gateway, name).await;
    assert_eq!(status.as_u16(), recorded["status"].as_u64().unwrap() as u16, "{name}: {body}");
    assert_eq!(without_volatile(body.clone()), without_volatile(recorded["response"].clone()), "{name}");
    body
}

#[tokio::test]
async fn recorded_settings_exchanges_read_the_same() {
    let defaults = exchange("default settings")["response"].clone();
    let seen: Seen = Arc::default();
    let mut urls = Vec::new();
    for _ in 0..3 {
        urls.push(fake_node(defaults.clone(), "packages", seen.clone()).await);
    }
    let gateway = gateway(urls).await;
    // Tasks 0 and 1 as in the recording.
    assert_replays(&gateway, "create index").await;
    gateway.finish_task(0, ReplicaStatus::Succeeded, DetailCounts::default()).await;
    gateway.wait_status(0, "succeeded").await;
    assert_replays(&gateway, "create index again").await;

    assert_replays(&gateway, "default settings").await;
    let read_a_rank_index = |path: &String| path.starts_with("/indexes/packages__rank-") && path.ends_with("/settings");
    assert!(seen.lock().unwrap().iter().all(read_a_rank_index), "{seen:?}");

    let accepted = assert_replays(&gateway, "update settings").await;
    assert_eq!(accepted["taskUid"], 2);
    gateway.finish_task(2, ReplicaStatus::Succeeded, DetailCounts::default()).await;
    gateway.wait_status(2, "succeeded").await;
    assert_replays(&gateway, "update settings / finished task").await;

    let accepted = assert_replays(&gateway, "update typo tolerance").await;
    assert_eq!(accepted["taskUid"], 3);
    gateway.finish_task(3, ReplicaStatus::Succeeded, DetailCounts::default()).await;
    gateway.wait_status(3, "succeeded").await;
    assert_replays(&gateway, "update typo tolerance / finished task").await;

    assert_replays(&gateway, "invalid settings field").await;
    assert_replays(&gateway, "unknown settings field").await;
}

#[tokio::test]
async fn a_sub_route_reads_the_node_sub_route() {
    let recorded = exchange("get filterable attributes");
    let settings = json!({"filterableAttributes": recorded["response"].clone()});
    let seen: Seen = Arc::default();
    let url = fake_node(settings, "packages", seen.clone()).await;
    let gateway = gateway(vec![url.clone(), url.clone(), url]).await;
    gateway.call("POST", "/indexes", Some(json!({"uid": "packages"}))).await;
    assert_replays(&gateway, "get filterable attributes").await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("/indexes/packages__rank-") && seen[0].ends_with("/settings/filterable-attributes"), "{seen:?}");
}

#[tokio::test]
async fn reads_fail_over_and_never_leak_node_index_names() {
    let seen: Seen = Arc::default();
    let live = fake_node(json!({"stopWords": ["a"]}), "other", seen.clone()).await;
    let (dead_a, dead_b) = (dead_url().await, dead_url().await);
    // Whatever replicas hold shard-0, at most one of them is live: a read must reach it.
    let gateway = gateway(vec![dead_a, dead_b, live]).await;
    gateway.call("POST", "/indexes", Some(json!({"uid": "movies"}))).await;
    let (status, body) = gateway.call("GET", "/indexes/nope/settings", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"message": "Index `nope` not found.", "code": "index_not_found", "type": "invalid_request", "link": "https://docs.meilisearch.com/errors#index_not_found"})
    );

    let (status, body) = gateway.call("GET", "/indexes/movies/settings", None).await;
    if seen.lock().unwrap().is_empty() {
        // The live node does not hold shard-0: both replicas are down.
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "shard_unavailable");
    } else {
        // The live node answered for `movies__rank-r`, which it lacks: the error names `movies`.
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["message"], "Index `movies` not found.");
    }
    assert!(!body.to_string().contains("__rank-"), "{body}");
}

#[tokio::test]
async fn updates_reach_every_shard_normalized_and_resets_are_nulls() {
    let gateway = TestGateway::new().await;
    let (status, _) = gateway.call("PATCH", "/indexes/movies/settings", Some(json!({"stopWords": ["the", "a", "the"]}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = gateway.call("PUT", "/indexes/movies/settings/sortable-attributes", Some(json!(["b", "a"]))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["type"], "settingsUpdate");
    let (status, _) = gateway.call("DELETE", "/indexes/movies/settings/typo-tolerance", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = gateway.call("DELETE", "/indexes/movies/settings", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let ops = gateway.ops().await;
    let per_task = |uid: u64| ops.iter().filter(|(_, e)| e.task_uid == uid).map(|(key, e)| (key.clone(), e.op.clone())).collect::<Vec<_>>();
    let first = per_task(0);
    assert_eq!(first.len(), 6, "the index is new: one creation, then one update, per shard");
    for (_, op) in &first[..3] {
        assert_eq!(*op, Op::CreateIndex { primary_key: None });
    }
    for (_, op) in &first[3..] {
        assert_eq!(*op, Op::UpdateSettings { settings: json!({"stopWords": ["a", "the"]}).as_object().unwrap().clone() });
    }
    assert!(per_task(1)
        .iter()
        .all(|(_, op)| *op == Op::UpdateSettings { settings: json!({"sortableAttributes": ["a", "b"]}).as_object().unwrap().clone() }));
    assert!(per_task(2)
        .iter()
        .all(|(_, op)| *op == Op::UpdateSettings { settings: json!({"typoTolerance": null}).as_object().unwrap().clone() }));
    assert!(per_task(3).iter().all(|(_, op)| *op == Op::ResetSettings));

    let task = gateway.wait_status(3, "enqueued").await;
    assert_eq!(task["details"]["displayedAttributes"], json!(["*"]));
    assert_eq!(task["details"].as_object().unwrap().len(), 22);
}

#[tokio::test]
async fn sub_routes_take_only_their_verb_and_refuse_bad_values_with_their_code() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.call("PATCH", "/indexes/movies/settings/sortable-attributes", Some(json!(["a"]))).await;
    assert_eq!((status, body), (StatusCode::METHOD_NOT_ALLOWED, Value::Null));
    let (status, body) = gateway.call("PUT", "/indexes/movies/settings/typo-tolerance", Some(json!({}))).await;
    assert_eq!((status, body), (StatusCode::METHOD_NOT_ALLOWED, Value::Null));
    let (status, _) = gateway.call("PUT", "/indexes/movies/settings/no-such-setting", Some(json!([]))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = gateway.call("PUT", "/indexes/movies/settings/ranking-rules", Some(json!(["words", "nonsense"]))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_settings_ranking_rules");
    assert_eq!(body["message"], "Invalid value at `[1]`: `nonsense` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules.");
    let (status, body) = gateway.call("PATCH", "/indexes/bad%20uid/settings", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_index_uid");
    assert!(gateway.ops().await.is_empty(), "nothing refused reached the log");
}

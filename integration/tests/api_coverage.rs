//! The routes of Meilisearch 1.50 that Miroir serves as one node (docs/api-coverage.md): each
//! request is sent to a cluster (NATS, 3 real Meilisearch nodes, S = 3, RF = 2, gateway +
//! indexer + reconciler processes) and to one real Meilisearch 1.50 node, and the two answers
//! must be the same: HTTP status and body, uuids aside (each side makes its own). The reference
//! node has the `network` feature on, as the cluster has.
//!
//! Needs the binaries of the same profile: `cargo build --workspace --bins`.

use std::time::Duration;

use miroir_integration::locate::meilisearch_binary;
use miroir_integration::nodes::MeiliNodes;
use miroir_integration::recorded::{http_client, is_finished, start_cluster, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::{json, Value};

/// Bound on one task reaching a final status: turns a hang into a failure.
const TASK_BOUND: Duration = Duration::from_secs(120);

/// One side of the comparison: a base URL and the uuid of the webhook it created last.
struct Side {
    name: &'static str,
    base: String,
    webhook: String,
}

struct Answer {
    status: u16,
    body: Value,
}

/// Uuids (a webhook's, or one inside a message) become `<uuid>`: each side makes its own.
fn without_uuids(value: &Value) -> Value {
    let uuid = regex::Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    match value {
        Value::String(text) => Value::String(uuid.replace_all(text, "<uuid>").into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(without_uuids).collect()),
        Value::Object(fields) => Value::Object(fields.iter().map(|(k, v)| (k.clone(), without_uuids(v))).collect()),
        other => other.clone(),
    }
}

async fn send(client: &reqwest::Client, side: &Side, method: &str, path: &str, body: Option<&Value>) -> Answer {
    let path = path.replace("{webhook}", &side.webhook);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, format!("{}{path}", side.base)).bearer_auth(MASTER_KEY);
    if let Some(body) = body {
        request = request.header("Content-Type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{}: {path}: {e}", side.name));
    let status = response.status().as_u16();
    let raw = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&raw).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    Answer { status, body }
}

async fn wait_for_task(client: &reqwest::Client, side: &Side, uid: u64) {
    let message = format!("{}: task {uid} finished", side.name);
    let task = wait_until(Deadline::after(TASK_BOUND), message, async || {
        let task = send(client, side, "GET", &format!("/tasks/{uid}"), None).await.body;
        Ok(match task["status"].as_str() {
            Some(status) if is_finished(status) => Progress::Done(task),
            _ => Progress::Waiting(format!("{task}")),
        })
    })
    .await
    .unwrap();
    assert_eq!(task["status"], "succeeded", "{}: {task}", side.name);
}

/// Sends the same write to both sides and waits for its task on each.
async fn write_both(client: &reqwest::Client, sides: &[Side; 2], method: &str, path: &str, body: Value) {
    for side in sides {
        let answer = send(client, side, method, path, Some(&body)).await;
        assert_eq!(answer.status, 202, "{}: {path}: {}", side.name, answer.body);
        wait_for_task(client, side, answer.body["taskUid"].as_u64().unwrap()).await;
    }
}

/// Sends one request to both sides; records a difference when the answers differ. Returns the
/// cluster's answer.
async fn compare(
    client: &reqwest::Client,
    sides: &mut [Side; 2],
    method: &str,
    path: &str,
    body: Option<Value>,
    differences: &mut Vec<String>,
) -> Value {
    let cluster = send(client, &sides[0], method, path, body.as_ref()).await;
    let node = send(client, &sides[1], method, path, body.as_ref()).await;
    for (side, answer) in sides.iter_mut().zip([&cluster, &node]) {
        if method == "POST" && path == "/webhooks" && answer.status == 201 {
            side.webhook = answer.body["uuid"].as_str().unwrap().to_owned();
        }
    }
    let asked = format!("{method} {path} {}", body.map_or(String::new(), |b| b.to_string()));
    if cluster.status != node.status || without_uuids(&cluster.body) != without_uuids(&node.body) {
        differences.push(format!("{asked}\n  cluster {} {}\n  node    {} {}", cluster.status, cluster.body, node.status, node.body));
    }
    cluster.body
}

type HookCalls = std::sync::Arc<std::sync::Mutex<Vec<(std::collections::HashMap<String, String>, Value)>>>;

/// A webhook receiver on loopback: its URL and the task each call carried (a gzipped NDJSON body).
async fn webhook_receiver() -> (String, HookCalls) {
    let calls: HookCalls = Default::default();
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let headers = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
                let mut ndjson = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut ndjson).expect("a gzip body");
                let task = serde_json::from_slice(&ndjson).unwrap_or(Value::Null);
                seen.lock().unwrap().push((headers, task));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_routes_answer_as_one_node() {
    let cluster = start_cluster(3, 3, 2).await;
    let reference = MeiliNodes::start_temp(&meilisearch_binary().unwrap(), 1, MASTER_KEY).await.unwrap();
    let client = http_client();
    let mut sides = [
        Side { name: "cluster", base: cluster.gateway_url().to_owned(), webhook: String::new() },
        Side { name: "node", base: reference.urls()[0].clone(), webhook: String::new() },
    ];
    // The features a cluster has on (it serves the documents edit route).
    let features = json!({"network": true, "editDocumentsByFunction": true});
    let network_on = send(&client, &sides[1], "PATCH", "/experimental-features", Some(&features)).await;
    assert_eq!(network_on.status, 200, "{}", network_on.body);
    // The cluster posts its finished tasks to a webhook (a node would too, but its IP policy
    // refuses loopback addresses, so only the cluster's calls are looked at).
    let (hook_url, hook_calls) = webhook_receiver().await;
    let hook = send(&client, &sides[0], "POST", "/webhooks", Some(&json!({"url": hook_url, "headers": {"X-Test": "1"}}))).await;
    assert_eq!(hook.status, 201, "{}", hook.body);

    let documents = json!([
        {"id": 1, "title": "a", "genre": ["x"], "info": {"year": 1999, "tags": ["q"]}},
        {"id": 2, "title": "b", "rating": 3.5},
        {"id": 3, "title": "c", "info": {"year": 2001}, "extra": true},
        {"id": 4, "title": "d", "rating": 1, "genre": "y"},
        {"id": 5, "title": "e", "only_five": "z"},
        {"id": 6, "title": "f", "info": {"tags": []}},
    ]);
    write_both(&client, &sides, "POST", "/indexes/movies/documents", documents).await;
    let settings = json!({
        "filterableAttributes": ["genre", {"attributePatterns": ["info.*"], "features": {"facetSearch": true, "filter": {"equality": true, "comparison": true}}}],
        "sortableAttributes": ["rating"], "rankingRules": ["words", "rating:desc"], "distinctAttribute": "title",
        "displayedAttributes": ["title", "id", "genre"], "localizedAttributes": [{"attributePatterns": ["title"], "locales": ["fra"]}],
        "faceting": {"sortFacetValuesBy": {"genre": "count"}}
    });
    write_both(&client, &sides, "PATCH", "/indexes/movies/settings", settings).await;

    // Both writes' tasks reached the webhook, as `GET /tasks/{uid}` shows them.
    let delivered = wait_until(Deadline::after(TASK_BOUND), "two finished tasks posted to the webhook", async || {
        let calls = hook_calls.lock().unwrap().clone();
        Ok(if calls.len() >= 2 { Progress::Done(calls) } else { Progress::Waiting(format!("{} calls", calls.len())) })
    })
    .await
    .unwrap();
    for (headers, task) in delivered {
        assert_eq!(
            (headers.get("content-encoding").map(String::as_str), headers.get("x-test").map(String::as_str)),
            (Some("gzip"), Some("1"))
        );
        let uid = task["uid"].as_u64().unwrap();
        assert_eq!(task, send(&client, &sides[0], "GET", &format!("/tasks/{uid}"), None).await.body);
    }
    let unhook = send(&client, &sides[0], "DELETE", &format!("/webhooks/{}", hook.body["uuid"].as_str().unwrap()), None).await;
    assert_eq!(unhook.status, 204);

    let mut differences = Vec::new();
    let exchanges: Vec<(&str, &str, Option<Value>)> = vec![
        // Experimental features and the network.
        ("GET", "/experimental-features", None),
        ("PATCH", "/experimental-features", Some(json!({"network": true, "metrics": false}))),
        ("PATCH", "/experimental-features", Some(json!({"nope": true}))),
        ("PATCH", "/experimental-features", Some(json!({"metrics": "yes"}))),
        ("PATCH", "/experimental-features", Some(json!([]))),
        ("GET", "/network", None),
        ("PATCH", "/network", Some(json!({"self": 5}))),
        ("PATCH", "/network", Some(json!({"remotes": {"a": {"foo": 1}}}))),
        ("PATCH", "/network", Some(json!({"shards": {"s": {"remotes": [1]}}}))),
        ("POST", "/network/control", Some(json!({}))),
        (
            "POST",
            "/network/control",
            Some(json!({"origin": {"remoteName": "a", "taskUid": 1}, "message": {"type": "exportNoIndexForRemote", "remote": "x"}})),
        ),
        // Webhooks.
        ("GET", "/webhooks", None),
        ("POST", "/webhooks", Some(json!({"url": "http://example.com/hook"}))),
        ("GET", "/webhooks/{webhook}", None),
        ("PATCH", "/webhooks/{webhook}", Some(json!({"headers": {"Authorization": "Bearer 0123456789abcdefghijklmnop", "X-A": "b"}}))),
        ("PATCH", "/webhooks/{webhook}", Some(json!({"headers": {"X-A": null}}))),
        ("PATCH", "/webhooks/{webhook}", Some(json!({"url": null}))),
        ("PATCH", "/webhooks/{webhook}", Some(json!({"headers": {"bad name": "x"}}))),
        ("PATCH", "/webhooks/{webhook}", Some(json!({"isEditable": false}))),
        ("GET", "/webhooks", None),
        ("GET", "/webhooks/nope", None),
        ("GET", "/webhooks/76f1aa1c-d5ab-49fe-84f0-66d34849975", None),
        ("DELETE", "/webhooks/00000000-0000-0000-0000-000000000000", None),
        ("POST", "/webhooks", Some(json!({"url": "not a url"}))),
        ("POST", "/webhooks", Some(json!({"url": "http://x.y", "headers": {"a": null, "Authorization": "short"}}))),
        ("DELETE", "/webhooks/{webhook}", None),
        ("GET", "/webhooks/{webhook}", None),
        ("DELETE", "/webhooks/{webhook}", None),
        // Index fields.
        ("POST", "/indexes/movies/fields", Some(json!({}))),
        (
            "POST",
            "/indexes/movies/fields",
            Some(json!({"offset": 1, "limit": 2, "filter": {"attributePatterns": ["info*", "title"], "searchable": true}})),
        ),
        ("POST", "/indexes/movies/fields", Some(json!({"filter": {"filterable": true}}))),
        ("POST", "/indexes/movies/fields", Some(json!({"filter": {"displayed": false, "rankingRule": false}}))),
        ("POST", "/indexes/movies/fields", Some(json!({"limit": 0, "offset": 3}))),
        ("POST", "/indexes/movies/fields", Some(json!({"offset": 100}))),
        ("POST", "/indexes/movies/fields", Some(json!({"filter": {"attributePatterns": ["_miroir*"]}}))),
        ("POST", "/indexes/movies/fields", Some(json!({"offset": -1}))),
        ("POST", "/indexes/movies/fields", Some(json!({"filter": {"foo": 1}}))),
        ("POST", "/indexes/nope/fields", Some(json!({}))),
        ("POST", "/indexes/bad%20uid/fields", Some(json!({}))),
        ("POST", "/indexes/nope/fields", Some(json!({"foo": 1}))),
        // Routes gated by experimental features the cluster has off.
        ("GET", "/metrics", None),
        ("POST", "/logs/stream", Some(json!({}))),
        ("POST", "/logs/stream", Some(json!({"profileMemory": true}))),
        ("POST", "/logs/stream", Some(json!({"target": "milli=nope"}))),
        ("DELETE", "/logs/stream", None),
        ("POST", "/logs/stderr", Some(json!({"target": "a=b=c"}))),
        ("POST", "/logs/stderr", Some(json!({"target": "info"}))),
        ("POST", "/dynamic-search-rules", Some(json!({}))),
        ("POST", "/dynamic-search-rules", Some(json!({"filter": {"active": "x"}}))),
        ("DELETE", "/dynamic-search-rules", None),
        ("DELETE", "/dynamic-search-rules?foo=1", None),
        ("GET", "/dynamic-search-rules/abc", None),
        ("GET", "/dynamic-search-rules/bad%20uid", None),
        (
            "PATCH",
            "/dynamic-search-rules/abc",
            Some(json!({"description": "d", "actions": [{"selector": {"id": "1"}, "action": {"type": "pin", "position": 1}}]})),
        ),
        (
            "PATCH",
            "/dynamic-search-rules/abc",
            Some(json!({"conditions": {"time": {"start": "2020-01-01T00:00:00Z", "end": "2019-01-01T00:00:00Z"}}})),
        ),
        ("PATCH", "/dynamic-search-rules/abc", Some(json!({"actions": [{"selector": {"id": "1"}, "action": {"type": "nope"}}]}))),
        ("DELETE", "/dynamic-search-rules/abc", None),
        ("POST", "/render-template", Some(json!({"template": {"kind": "inlineDocumentTemplate", "inline": "x"}}))),
        ("POST", "/render-template", Some(json!({"template": {"kind": "documentTemplate", "documentTemplateMaxBytes": 0}}))),
        ("POST", "/render-template", Some(json!({"template": {"kind": "documentTemplate"}, "input": {"kind": "x"}}))),
        ("GET", "/chats", None),
        ("GET", "/chats?offset=x", None),
        ("GET", "/chats/ws", None),
        ("DELETE", "/chats/ws", None),
        ("GET", "/chats/ws/settings", None),
        ("PATCH", "/chats/ws/settings", Some(json!({"source": "openAi", "prompts": {"system": "s"}}))),
        ("PATCH", "/chats/ws/settings", Some(json!({"prompts": {"system": 5}}))),
        ("DELETE", "/chats/ws/settings", None),
        ("POST", "/chats/ws/chat/completions", Some(json!({"messages": [], "model": "x", "stream": true}))),
        ("POST", "/chats/ws/chat/completions", Some(json!({"messages": []}))),
        // Editions that a node refuses before enqueuing (those it enqueues: document_edition.rs).
        ("POST", "/indexes/movies/documents/edit", Some(json!({"function": "doc.title = "}))),
        ("POST", "/indexes/movies/documents/edit", Some(json!({"function": "fn f( { 1 }"}))),
        ("POST", "/indexes/movies/documents/edit", Some(json!({"function": "doc.a = 1", "context": 5}))),
        ("POST", "/indexes/movies/documents/edit", Some(json!({"function": "doc.a = 1", "filter": ""}))),
        ("POST", "/indexes/movies/documents/edit", Some(json!({"function": "doc.a = 1", "filter": "genre >"}))),
        ("POST", "/indexes/movies/documents/edit", Some(json!({"function": "doc.a = ", "filter": "genre >", "context": 5}))),
        ("POST", "/indexes/movies/documents/edit", Some(json!({}))),
        ("POST", "/indexes/bad%20uid/documents/edit", Some(json!({"function": "x"}))),
        ("POST", "/tasks/compact", None),
        ("GET", "/tasks/0/documents", None),
    ];
    for (method, path, body) in exchanges {
        compare(&client, &mut sides, method, path, body, &mut differences).await;
    }
    // The fields compared above are the whole index's, Miroir's shard field hidden.
    let fields = compare(&client, &mut sides, "POST", "/indexes/movies/fields", Some(json!({"limit": 100})), &mut differences).await;
    let names: Vec<&str> = fields["results"].as_array().unwrap().iter().map(|field| field["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["extra", "genre", "id", "info", "info.tags", "info.year", "only_five", "rating", "title"]);
    assert!(differences.is_empty(), "{} answers differ from one node:\n{}", differences.len(), differences.join("\n"));
}

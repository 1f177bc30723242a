//! Replays the recorded Meilisearch 1.50 transcript against a fresh stand-in and checks that it
//! answers like the real node: same HTTP status; for errors the same `{message, code, type,
//! link}`; for other bodies the same shape (keys recursively, JSON types), ignoring the
//! volatile fields the reference README lists.

use std::path::PathBuf;

use serde_json::Value;

const MASTER_KEY: &str = "masterKey";

/// Fields whose values change from run to run (README), plus `progressTrace`, whose keys are
/// the real engine's internal step names and timings.
const VOLATILE: &[&str] = &[
    "enqueuedAt", "startedAt", "finishedAt", "duration", "processingTimeMs", "createdAt",
    "updatedAt", "lastUpdate", "requestUid", "batchUid", "databaseSize", "usedDatabaseSize",
    "rawDocumentDbSize", "avgDocumentSize", "key", "progressTrace",
];

/// Exchanges not compared, with the reason. Empty: every recorded exchange is checked.
const SKIPPED: &[(&str, &str)] = &[];

fn transcript() -> Vec<Value> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/meilisearch-reference/transcripts-v1.50.jsonl"));
    let text = std::fs::read_to_string(&path).expect("the recorded transcript is present");
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences in shape between the recorded and the stand-in's bodies, as `path: problem`.
fn shape_diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                if VOLATILE.contains(&k.as_str()) {
                    continue;
                }
                match a.get(k) {
                    None => out.push(format!("{path}.{k}: missing")),
                    Some(av) => shape_diff(&format!("{path}.{k}"), ev, av, out),
                }
            }
            for k in a.keys() {
                if !e.contains_key(k) && !VOLATILE.contains(&k.as_str()) {
                    out.push(format!("{path}.{k}: unexpected"));
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.is_empty() != a.is_empty() {
                out.push(format!("{path}: {} recorded elements, {} answered", e.len(), a.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                shape_diff(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        // a task uid or a volatile value may be null in one answer and set in the other
        (e, a) if kind(e) != kind(a) => out.push(format!("{path}: recorded {}, answered {}", kind(e), kind(a))),
        _ => {}
    }
}

async fn start_standin() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(miroir_integration::standin::serve(listener, Some(MASTER_KEY.into())));
    format!("http://{addr}")
}

async fn send(client: &reqwest::Client, base: &str, request: &Value) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(request["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut builder = client.request(method, format!("{base}{}", request["path"].as_str().unwrap()));
    let headers = request["headers"].as_object().cloned().unwrap_or_default();
    if !headers.contains_key("Authorization") {
        builder = builder.header("Authorization", format!("Bearer {MASTER_KEY}"));
    }
    for (name, value) in &headers {
        let value = value.as_str().unwrap();
        if value != "<none>" {
            builder = builder.header(name.as_str(), value);
        }
    }
    match request.get("body") {
        None | Some(Value::Null) => {}
        Some(Value::String(raw)) => builder = builder.body(raw.clone()),
        Some(json) => builder = builder.body(serde_json::to_vec(json).unwrap()),
    }
    let response = builder.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A `… / finished task` exchange reads the task once it has finished: poll until it has.
async fn send_when_finished(client: &reqwest::Client, base: &str, request: &Value) -> (u16, Value) {
    loop {
        let (status, body) = send(client, base, request).await;
        let pending = matches!(body["status"].as_str(), Some("enqueued" | "processing"));
        if !pending {
            return (status, body);
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standin_answers_like_the_recorded_meilisearch() {
    let base = start_standin().await;
    let client = reqwest::Client::new();
    let mut failures = Vec::new();
    let exchanges = transcript();
    assert!(exchanges.len() >= 100);
    for (i, exchange) in exchanges.iter().enumerate() {
        let name = exchange["name"].as_str().unwrap();
        let request = &exchange["request"];
        let (status, body) = if name.ends_with("/ finished task") {
            send_when_finished(&client, &base, request).await
        } else {
            send(&client, &base, request).await
        };
        // the request was sent (state must advance in order) even when it is not compared
        if SKIPPED.iter().any(|(skipped, _)| *skipped == name) {
            continue;
        }
        let expected_status = exchange["status"].as_u64().unwrap() as u16;
        let expected = &exchange["response"];
        if status != expected_status {
            failures.push(format!("#{i} {name}: status {status}, recorded {expected_status}: {body}"));
            continue;
        }
        if expected_status >= 400 {
            for field in ["message", "code", "type", "link"] {
                if body[field] != expected[field] {
                    failures.push(format!("#{i} {name}: {field} {} != recorded {}", body[field], expected[field]));
                }
            }
        } else {
            let mut diffs = Vec::new();
            shape_diff("", expected, &body, &mut diffs);
            for d in diffs {
                failures.push(format!("#{i} {name}: {d}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} differences:\n{}", failures.len(), failures.join("\n"));
}

/// The node launcher starts stand-in processes with Meilisearch's command line, enforces the
/// master key, and can kill and restart one node by handle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launcher_starts_kills_and_restarts_nodes() {
    use miroir_integration::nodes::{meilisearch_or, MeiliNodes};
    let binary = meilisearch_or(env!("CARGO_BIN_EXE_meili-standin"));
    let mut nodes = MeiliNodes::start_temp(&binary, 2, MASTER_KEY).await.unwrap();
    let client = reqwest::Client::new();
    let url = nodes.urls()[1].clone();
    let unauthorized = client.get(format!("{url}/indexes")).send().await.unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);
    let version: Value = client
        .get(format!("{url}/version"))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(version["pkgVersion"].is_string());
    nodes.kill(1).unwrap();
    assert!(!nodes.is_running(1));
    assert!(client.get(format!("{url}/health")).send().await.is_err());
    nodes.restart(1).await.unwrap();
    assert!(nodes.is_running(1));
    assert!(client.get(format!("{url}/health")).send().await.unwrap().status().is_success());
}

//! Talking to a gateway as the recorded Meilisearch exchanges do (the transcript replay and the
//! leak check send them), plus what every gateway test needs: a bounded HTTP client and which
//! task statuses are final.

use std::time::Duration;

use serde_json::Value;

use crate::brokers::LogKind;
use crate::cluster::Cluster;

/// The master key of the recording, which the gateway tests give their gateway.
pub const MASTER_KEY: &str = "masterKey";

/// What the gateway answered, whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub raw: Vec<u8>,
    /// The body as JSON; `Null` when empty or not JSON.
    pub body: Value,
}

/// A client whose every call is bounded (the bound turns a hang into a failure).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("an HTTP client")
}

/// Sends a request in the recording's format: `{method, path, headers?, body?}`. Without an
/// `Authorization` header the master key is sent; a header value `<none>` leaves the header out;
/// a string body is sent raw, any other body as JSON text.
pub async fn send_recorded(client: &reqwest::Client, base: &str, request: &Value, path: &str) -> Reply {
    let method = reqwest::Method::from_bytes(request["method"].as_str().expect("a method").as_bytes()).expect("an HTTP method");
    let mut builder = client.request(method, format!("{base}{path}"));
    let headers = request["headers"].as_object().cloned().unwrap_or_default();
    if !headers.contains_key("Authorization") {
        builder = builder.bearer_auth(MASTER_KEY);
    }
    for (name, value) in &headers {
        let value = value.as_str().expect("header values are strings");
        if value != "<none>" {
            builder = builder.header(name.as_str(), value);
        }
    }
    match request.get("body") {
        None | Some(Value::Null) => {}
        Some(Value::String(raw)) => builder = builder.body(raw.clone()),
        Some(json) => builder = builder.body(json.to_string()),
    }
    let response = builder.send().await.unwrap_or_else(|e| panic!("{path}: the gateway did not answer: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let raw = response.bytes().await.expect("reading the gateway's answer").to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Reply { status, headers, raw, body }
}

/// Whether a task status is final.
pub fn is_finished(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "canceled")
}

/// A NATS cluster of `nodes` nodes in one replica group, `shards` shards and replication factor
/// `rf`, whose gateway takes [`MASTER_KEY`]; returns once the gateway answers `/health`.
pub async fn start_cluster(nodes: usize, shards: u32, rf: u32) -> Cluster {
    let builder = Cluster::builder(LogKind::Nats).nodes(nodes).shards(shards).replication_factor(rf).master_key(MASTER_KEY);
    builder.start().await.expect("starting the cluster")
}

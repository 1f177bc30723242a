//! A whole Miroir cluster as a client sees it, for the transcript replay and the leak check:
//! nats-server, real Meilisearch nodes in one replica group, and the gateway,
//! indexer and reconciler as child processes whose stdout/stderr go to files, plus a raw HTTP
//! exchange helper that keeps status, headers and body.
#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::time::Duration;

use miroir_integration::brokers::NatsServer;
use miroir_integration::cluster::{one_group_nodes, ClusterSpec, LogKind, MiroirBinaries, MiroirProcesses, HEALTH_TIMEOUT};
use miroir_integration::nodes::{find_meilisearch, free_port, MeiliNodes};
use serde_json::Value;

/// The key clients give the gateway (the recording's master key).
pub const MASTER_KEY: &str = "masterKey";

/// Fields drop in declaration order: Miroir's processes, then the nodes, then the broker, then
/// the directory holding the logs.
pub struct GatewayCluster {
    pub miroir: MiroirProcesses,
    pub nodes: MeiliNodes,
    _nats: NatsServer,
    /// The nodes' master key, which only Miroir may know.
    pub node_key: String,
    pub log_dir: PathBuf,
    /// `None` when `MIROIR_KEEP_LOGS` asks to keep the processes' output after the test.
    _dir: Option<tempfile::TempDir>,
}

/// The cargo profile directory of this test executable (`target/<profile>`, parent of `deps`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_owned()
}

/// The gateway, indexer and reconciler belong to other packages: cargo does not build them for
/// this test.
fn binaries() -> MiroirBinaries {
    MiroirBinaries::in_dir(&profile_dir())
        .unwrap_or_else(|e| panic!("{e:#}\nrun cargo build --workspace --bins (same profile and CARGO_TARGET_DIR) first"))
}

impl GatewayCluster {
    /// `node_count` nodes in one replica group, `shards` shards, replication factor `rf`, on
    /// NATS JetStream; returns once the gateway answers `/health`.
    pub async fn start(node_count: usize, shards: u32, rf: u32) -> GatewayCluster {
        let binaries = binaries();
        let dir = tempfile::Builder::new().prefix("miroir-gateway-cluster-").tempdir().expect("a temp dir");
        let log_dir = dir.path().join("logs");
        // A distinctive node key, so any place it shows up can be found.
        let node_key = format!("node-secret-{}", uuid::Uuid::new_v4().simple());
        let meilisearch = find_meilisearch().expect("the Meilisearch binary");
        let nodes = MeiliNodes::start(&meilisearch, node_count, &dir.path().join("nodes"), &node_key).await.expect("starting the nodes");
        let nats = NatsServer::start().expect("starting nats-server");
        let spec = ClusterSpec {
            nodes: one_group_nodes(nodes.urls()),
            node_key: Some(node_key.clone()),
            shards,
            replication_factor: rf,
            log: LogKind::Nats,
            log_url: nats.url().to_owned(),
            topic_prefix: "miroir".into(),
            master_key: Some(MASTER_KEY.into()),
        };
        let port = free_port().expect("a free port");
        let mut miroir = MiroirProcesses::start(&binaries, &spec, port, &log_dir).expect("starting the Miroir processes");
        miroir.wait_healthy(HEALTH_TIMEOUT).await.expect("the gateway becomes healthy");
        let dir = if std::env::var_os("MIROIR_KEEP_LOGS").is_some() {
            eprintln!("process output kept in {}", dir.keep().display());
            None
        } else {
            Some(dir)
        };
        GatewayCluster { miroir, nodes, _nats: nats, node_key, log_dir, _dir: dir }
    }

    pub fn url(&self) -> &str {
        &self.miroir.gateway_url
    }

    /// Everything process `name` (`gateway`, `indexer`, `reconciler`) wrote so far.
    pub fn process_output(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

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

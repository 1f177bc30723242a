//! Builds a gateway router on an in-memory log and sends it requests without a socket.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use miroir_clients::log::{LogConfig, MemoryLog};
use miroir_gateway::app::router;
use miroir_gateway::state::AppState;
use miroir_schemas::topology::{Node, Topology};
use serde_json::Value;
use tower::ServiceExt;

pub const MASTER_KEY: &str = "masterKey";

pub fn topology(shards: u32) -> Topology {
    let nodes = (0..3)
        .map(|i| Node { id: format!("n{i}"), url: format!("http://127.0.0.1:{}", 1 + i), replica_group: "g0".into(), api_key: None })
        .collect();
    Topology::new(1, shards, 2, nodes).unwrap()
}

pub struct TestGateway {
    pub router: Router,
    pub log: Arc<MemoryLog>,
}

impl TestGateway {
    pub fn new() -> Self {
        Self::with_payload_limit(miroir_gateway::config::DEFAULT_PAYLOAD_LIMIT)
    }

    pub fn with_payload_limit(limit: usize) -> Self {
        let log = Arc::new(MemoryLog::new(LogConfig::for_tests("gw")).unwrap());
        let state = AppState::new(topology(3), log.clone(), Some(MASTER_KEY.into()), limit);
        TestGateway { router: router(state), log }
    }

    /// Sends a request with the master key; `body` is sent as JSON when given.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path).header("Authorization", format!("Bearer {MASTER_KEY}"));
        let body = match body {
            Some(json) => {
                request = request.header("Content-Type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    /// Sends any request; an empty response body reads as `Value::Null`.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (status, bytes) = self.send_raw(request).await;
        let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())) };
        (status, json)
    }

    pub async fn send_raw(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        (status, to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec())
    }
}

//! The read path's HTTP transport keeps connections alive: sequential node calls reuse one
//! connection instead of paying a TCP handshake each (TCP_NODELAY is set on the same client so
//! small requests are not held back; latency is measured by benchmarks, not asserted here).

use axum::extract::ConnectInfo;
use axum::routing::post;
use axum::{Json, Router};
use miroir_gateway::read::{HttpTransport, NodeCall, NodeTransport};
use miroir_schemas::topology::{Node, Topology};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn sequential_calls_share_one_connection_and_carry_the_proxy_header() {
    let peers: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    let headers_seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let (p, h) = (peers.clone(), headers_seen.clone());
    let app = Router::new().route(
        "/multi-search",
        post(move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: axum::http::HeaderMap, Json(body): Json<Value>| {
            let (p, h) = (p.clone(), h.clone());
            async move {
                p.lock().unwrap().push(peer);
                h.lock().unwrap().push(headers.get("meili-proxy-search").map(|v| v.to_str().unwrap().to_owned()));
                Json(json!({"echo": body}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });

    let topology = Topology::new(1, 1, 1, vec![Node { id: "n".into(), url, replica_group: "g".into(), api_key: None }]).unwrap();
    let transport = HttpTransport::new(&topology, Duration::from_secs(5)).unwrap();
    for i in 0..20 {
        let answer = transport.call(0, &NodeCall::ProxySearch { body: json!({"i": i}) }).await.unwrap();
        assert_eq!(answer, json!({"echo": {"i": i}}));
    }
    let distinct: BTreeSet<SocketAddr> = peers.lock().unwrap().iter().copied().collect();
    assert_eq!(distinct.len(), 1, "keep-alive: one connection for 20 sequential calls, got {distinct:?}");
    assert!(headers_seen.lock().unwrap().iter().all(|h| h.as_deref() == Some("true")));
}

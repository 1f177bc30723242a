//! With `--tls-cert`/`--tls-key` the API is served over HTTPS (rustls).

use std::time::Duration;

use miroir_gateway::serve::{serve, TlsFiles};

#[tokio::test]
async fn health_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
    std::fs::write(&files.cert, certified.cert.pem()).unwrap();
    std::fs::write(&files.key, certified.key_pair.serialize_pem()).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let gateway = crate::support::TestGateway::new().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(gateway.router.clone(), address, Some(files), async {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let mut answer = None;
    // Polls until the listener is up (the bound only turns a hang into a failure).
    for _ in 0..500 {
        if let Ok(response) = client.get(format!("https://127.0.0.1:{port}/health")).send().await {
            answer = Some(response.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(answer, Some(serde_json::json!({"status": "available"})));
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/health")).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP is not served");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

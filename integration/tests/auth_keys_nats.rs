//! Cluster-wide API keys on NATS JetStream: a key created through one gateway works on
//! another at once, and both still know it after every gateway and the broker restart.

mod auth_keys_support;

use std::sync::Arc;

use auth_keys_support::{a_delete_on_b_is_refused_everywhere, a_key_created_on_a_works_on_b, both_still_know_it, Gateway};
use miroir_clients::log::{LogConfig, NatsLog, WriteLog};
use miroir_integration::brokers::NatsServer;

async fn gateway(broker: &str, config: &LogConfig) -> Gateway {
    let log: Arc<dyn WriteLog> = Arc::new(NatsLog::connect(broker, config.clone()).await.expect("connect to NATS"));
    Gateway::start(log).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_created_on_one_gateway_works_on_another_and_survives_restarting_everything() {
    let mut server = NatsServer::start().expect("start nats-server");
    let config = LogConfig::for_tests(format!("authkeys{}", std::process::id()));
    let a = gateway(server.url(), &config).await;
    let b = gateway(server.url(), &config).await;
    let (key, uid, view) = a_key_created_on_a_works_on_b(&a, &b).await;

    // Every gateway goes away, then the broker restarts on its store (on a new port).
    drop((a, b));
    server.restart().expect("restart nats-server");
    let a = gateway(server.url(), &config).await;
    let b = gateway(server.url(), &config).await;
    both_still_know_it([&a, &b], &key, &view).await;
    a_delete_on_b_is_refused_everywhere(&a, &b, &key, &uid).await;
}

//! Cluster-wide API keys on Kafka (Tansu): a key created through one gateway works on another
//! at once, both still know it after every gateway restarts, and a delete is refused by all.
//! (Tansu keeps its data in memory, so unlike the NATS test the broker is not restarted.)

mod auth_keys_support;

use std::sync::Arc;

use auth_keys_support::{a_delete_on_b_is_refused_everywhere, a_key_created_on_a_works_on_b, both_still_know_it, Gateway};
use miroir_clients::log::{KafkaLog, LogConfig, WriteLog};
use miroir_integration::brokers::Tansu;

async fn gateway(broker: &str, config: &LogConfig) -> Gateway {
    let log: Arc<dyn WriteLog> = Arc::new(KafkaLog::connect(broker, config.clone()).await.expect("connect to Kafka"));
    Gateway::start(log).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_created_on_one_gateway_works_on_another_and_survives_gateway_restarts() {
    let tansu = Tansu::start().expect("start tansu");
    let config = LogConfig::for_tests(format!("authkeys{}", std::process::id()));
    let a = gateway(tansu.bootstrap(), &config).await;
    let b = gateway(tansu.bootstrap(), &config).await;
    let (key, uid, view) = a_key_created_on_a_works_on_b(&a, &b).await;

    drop((a, b));
    let a = gateway(tansu.bootstrap(), &config).await;
    let b = gateway(tansu.bootstrap(), &config).await;
    both_still_know_it([&a, &b], &key, &view).await;
    a_delete_on_b_is_refused_everywhere(&a, &b, &key, &uid).await;
}

//! Document TTL end to end on Kafka: see `ttl_support` for what is checked. Needs
//! `cargo build --workspace --bins` first.

mod ttl_support;

use miroir_integration::brokers::LogKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_documents_are_hidden_at_once_and_swept_through_the_log_on_kafka() {
    ttl_support::expired_documents_are_hidden_at_once_and_swept_through_the_log(LogKind::Kafka).await;
}

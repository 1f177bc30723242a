//! Change-data-capture end to end on Kafka (Tansu), 3 real Meilisearch nodes (S = 7, RF = 2):
//! see `cdc_support` for what is checked. Needs `cargo build --workspace --bins` first.

mod cdc_support;

use miroir_integration::brokers::LogKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_changes_stream_exactly_once_and_rebuild_the_index_on_kafka() {
    cdc_support::applied_changes_stream_exactly_and_rebuild_the_index(LogKind::Kafka).await;
}

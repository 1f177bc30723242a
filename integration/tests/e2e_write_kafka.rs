//! The core write case of `e2e_write_nats.rs` on Kafka (Tansu): gateway → `tasks`/`ops`
//! topics → indexer consumer group → 3 Meilisearch nodes (S = 7, RF = 2), every document on
//! exactly the replicas of its HRW shard.
//!
//! Needs `cargo build --workspace --bins` first (same profile). Tansu runs with memory storage,
//! so the broker-crash case is covered on NATS only.

mod e2e_write_support;

use e2e_write_support::scenarios::ingest_and_check_placement;
use e2e_write_support::Cluster;
use miroir_integration::cluster::LogKind;

#[tokio::test(flavor = "multi_thread")]
async fn ingest_on_kafka_places_every_document_on_exactly_its_replicas() {
    let cluster = Cluster::start(LogKind::Kafka, 2).await;
    ingest_and_check_placement(&cluster, "deb").await;
}

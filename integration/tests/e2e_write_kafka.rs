//! The write-path scenarios of `e2e_write_nats.rs` on Kafka (Tansu): gateway → `tasks`/`ops`
//! topics → indexer consumer group → 3 Meilisearch nodes (S = 7, RF = 2).
//!
//! Needs `cargo build --workspace --bins` first (same profile). Tansu runs with memory storage,
//! so the broker-crash case is covered on NATS only, and the scenarios ingest a 6,000-document
//! slice (see `scenarios::slice`).

mod e2e_write_support;

use e2e_write_support::scenarios::{self, INDEX};
use e2e_write_support::E2eCluster;
use miroir_integration::brokers::LogKind;

#[tokio::test(flavor = "multi_thread")]
async fn ingest_on_kafka_places_every_document_on_exactly_its_replicas() {
    let cluster = E2eCluster::start(LogKind::Kafka, 2).await;
    scenarios::ingest_and_check_placement(&cluster, INDEX).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_and_partial_updates_reach_every_replica_on_kafka() {
    scenarios::deletes_and_partial_updates_reach_every_replica(&E2eCluster::start(LogKind::Kafka, 2).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn indexer_killed_mid_ingest_loses_nothing_on_kafka() {
    scenarios::indexer_killed_mid_ingest_loses_nothing(&mut E2eCluster::start(LogKind::Kafka, 2).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn node_stopped_during_ingest_catches_up_on_kafka() {
    scenarios::node_stopped_during_ingest_catches_up(&E2eCluster::start(LogKind::Kafka, 2).await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_writes_change_nothing_on_any_node_on_kafka() {
    scenarios::bad_writes_change_nothing_on_any_node(&E2eCluster::start(LogKind::Kafka, 2).await).await;
}

//! The write path end to end on NATS JetStream: gateway → `tasks`/`ops` log → indexer → 3
//! Meilisearch nodes (S = 7, RF = 2), all as separate processes, checked by reading every
//! node's `index__shard-k` directly.
//!
//! Needs the gateway, indexer and reconciler binaries of the same profile:
//! `cargo build --workspace --bins` first. Runs on the stand-in, or on real Meilisearch with
//! `MEILISEARCH_BIN`; `MIROIR_E2E_FULL=1` ingests the whole corpus.

mod e2e_write_support;

use e2e_write_support::scenarios::ingest_and_check_placement;
use e2e_write_support::Cluster;
use miroir_integration::cluster::LogKind;

#[tokio::test(flavor = "multi_thread")]
async fn ingest_places_every_document_on_exactly_its_replicas() {
    let cluster = Cluster::start(LogKind::Nats, 2).await;
    ingest_and_check_placement(&cluster, "deb").await;
}

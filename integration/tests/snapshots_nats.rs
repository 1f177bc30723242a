//! Catalog snapshots on real NATS (JetStream object store): see `snapshots_support`.

mod snapshots_support;

use miroir_integration::brokers::LogKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_from_a_snapshot_answers_like_one_that_folded_everything() {
    snapshots_support::a_gateway_started_from_a_snapshot_answers_like_one_that_folded_everything(LogKind::Nats).await;
}

/// Prints the numbers; `--run-ignored ignored-only --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_a_start_from_a_snapshot() {
    snapshots_support::measure_a_start_from_a_snapshot(LogKind::Nats).await;
}

//! Catalog snapshots on Kafka (Tansu; the snapshot topics `<prefix>.snapshots` and
//! `<prefix>.snapshot-chunks`): see `snapshots_support` for the scenario.

mod snapshots_support;

use miroir_integration::brokers::LogKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_started_from_a_snapshot_answers_like_one_that_folded_everything_on_kafka() {
    snapshots_support::a_gateway_started_from_a_snapshot_answers_like_one_that_folded_everything(LogKind::Kafka).await;
}

/// Prints the numbers; `--run-ignored ignored-only --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn measure_a_start_from_a_snapshot_on_kafka() {
    snapshots_support::measure_a_start_from_a_snapshot(LogKind::Kafka).await;
}

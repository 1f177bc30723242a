//! A node unreachable for a while during a stream of writes catches up and ends equal to its
//! peer replicas. "Unreachable for a while" is a SIGSTOP … SIGCONT of the node process: it accepts TCP
//! connections but answers nothing, the worst case for an HTTP client.

use anyhow::Result;
use miroir_clients::log::Topic;
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster};
use miroir_integration::process::Signal;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::envelope::decode;
use miroir_schemas::meta_log::replica_lag::ReplicaLagChange;
use miroir_schemas::meta_log::MetaEnvelope;
use std::collections::BTreeSet;
use std::time::Duration;

async fn paused_node_catches_up(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 4, 2).await?;
    let mut indexer = cluster.spawn_indexer("m1")?;
    cluster.create_index().await?;
    cluster.write_stream(1, 10, 100, 800, 4).await?;
    cluster.wait_for_events(&mut [&mut indexer]).await?;

    let paused = "node-1";
    cluster.cluster.nodes.process(1).signal(Signal::Stop);
    cluster.write_stream(2, 40, 100, 800, 5).await?;
    // Every other replica gets every event while n1 answers nothing.
    let others: BTreeSet<_> = cluster.expected_event_keys().into_iter().filter(|(_, _, r)| r != paused).collect();
    cluster.wait_for_event_keys(others, &mut [&mut indexer]).await?;

    cluster.cluster.nodes.process(1).signal(Signal::Cont);
    let events = cluster.wait_for_events(&mut [&mut indexer]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    assert!(indexer.log_text().contains("marked lagging"), "the pause was never noticed:\n{}", indexer.log_tail());
    assert!(indexer.log_text().contains("replica caught up"), "{}", indexer.log_tail());
    // Gateways were told, so their reads went to the other replicas meanwhile.
    let partition = cluster.partition_of(&cluster.index);
    let announced = wait_until(Deadline::after(Duration::from_secs(30)), "the lag was not announced in meta", async || {
        let changes = replica_lag_announcements(&cluster).await?;
        let ours: Vec<ReplicaLagChange> = changes.into_iter().filter(|c| lag_key(c) == (paused, partition)).collect();
        let caught_up = ours.iter().any(|c| matches!(c, ReplicaLagChange::ReplicaCaughtUp { .. }));
        Ok(if caught_up { Progress::Done(ours) } else { Progress::Waiting(format!("{ours:?}")) })
    })
    .await?;
    assert!(matches!(announced.first(), Some(ReplicaLagChange::ReplicaLagging { .. })), "{announced:?}");
    assert!(matches!(announced.last(), Some(ReplicaLagChange::ReplicaCaughtUp { .. })), "{announced:?}");
    Ok(())
}

fn lag_key(change: &ReplicaLagChange) -> (&str, u32) {
    match change {
        ReplicaLagChange::ReplicaLagging { node, partition, .. } | ReplicaLagChange::ReplicaCaughtUp { node, partition, .. } => {
            (node.as_str(), *partition)
        }
    }
}

/// Every replica lag announcement stored in `meta` so far.
async fn replica_lag_announcements(cluster: &IndexerCluster) -> Result<Vec<ReplicaLagChange>> {
    let end = cluster.log.end_offset(Topic::Meta, 0).await?;
    let mut reader = cluster.log.read_partition(Topic::Meta, 0, 0).await?;
    let mut changes = Vec::new();
    let mut read = 0;
    while read < end {
        for record in reader.next_batch(1000, Duration::from_secs(5)).await? {
            read = record.position.offset + 1;
            changes.extend(decode::<MetaEnvelope>(&record.payload)?.replica_lag_change());
        }
    }
    Ok(changes)
}

/// The indexer dies (kill -9) while a replica lags: the committed positions must not have passed
/// what that replica lacks, so the next indexer still brings it level with its peers.
async fn paused_node_then_indexer_crash(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 4, 2).await?;
    let mut first = cluster.spawn_indexer("m1")?;
    cluster.create_index().await?;
    cluster.write_stream(4, 10, 100, 800, 4).await?;
    cluster.wait_for_events(&mut [&mut first]).await?;

    let paused = "node-2";
    cluster.cluster.nodes.process(2).signal(Signal::Stop);
    cluster.write_stream(5, 30, 100, 800, 5).await?;
    let others: BTreeSet<_> = cluster.expected_event_keys().into_iter().filter(|(_, _, r)| r != paused).collect();
    cluster.wait_for_event_keys(others, &mut [&mut first]).await?;
    first.kill9();
    cluster.cluster.nodes.process(2).signal(Signal::Cont);

    let mut second = cluster.spawn_indexer("m2")?;
    let events = cluster.wait_for_events(&mut [&mut second]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_paused_node_catches_up_to_its_peers() -> Result<()> {
    paused_node_catches_up(LogKind::Nats).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_paused_node_catches_up_to_its_peers() -> Result<()> {
    paused_node_catches_up(LogKind::Kafka).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_lagging_replica_survives_an_indexer_crash() -> Result<()> {
    paused_node_then_indexer_crash(LogKind::Nats).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_lagging_replica_survives_an_indexer_crash() -> Result<()> {
    paused_node_then_indexer_crash(LogKind::Kafka).await
}

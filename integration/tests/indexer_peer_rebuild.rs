//! A replica whose missing operations retention already removed from `ops` is rebuilt from a
//! peer replica, whether its node returns with its stale data or empty, and ends equal to its
//! peers. Tasks whose operations were trimmed before the replica reported them are the known
//! exception (docs/retention.md): no event of that replica is awaited for them.

use anyhow::Result;
use miroir_clients::log::Topic;
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster};
use miroir_integration::process::ManagedProcess;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::topology::ShardId;
use std::collections::BTreeSet;
use std::time::Duration;

const AWAY: &str = "node-1";

fn tasks(cluster: &IndexerCluster) -> BTreeSet<u64> {
    cluster.targets.keys().map(|(task, _)| *task).collect()
}

/// Every expected event but those of `replica` for `tasks`.
fn expected_without(cluster: &IndexerCluster, replica: &str, tasks: &BTreeSet<u64>) -> BTreeSet<(u64, ShardId, String)> {
    cluster.expected_event_keys().into_iter().filter(|(task, _, r)| r != replica || !tasks.contains(task)).collect()
}

/// Trims the index's `ops` partition up to its end.
async fn trim_everything(cluster: &IndexerCluster) -> Result<u64> {
    let partition = cluster.partition_of(&cluster.index);
    let end = cluster.log.end_offset(Topic::Ops, partition).await?;
    let first_kept = cluster.log.trim(Topic::Ops, partition, end).await?;
    assert_eq!(first_kept, end);
    Ok(end)
}

async fn wait_for_rebuild(indexer: &mut ManagedProcess) -> Result<()> {
    wait_until(Deadline::after(Duration::from_secs(120)), "the replica was not rebuilt from a peer", async || {
        indexer.check_alive()?;
        Ok(if indexer.log_text().contains("replica rebuilt from a peer") { Progress::Done(()) } else { Progress::Waiting(String::new()) })
    })
    .await
}

async fn stale_node_behind_the_log_is_rebuilt(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 4, 2).await?;
    let mut indexer = cluster.spawn_indexer("m1")?;
    cluster.create_index().await?;
    cluster.write_stream(1, 10, 100, 800, 4).await?;
    cluster.wait_for_events(&mut [&mut indexer]).await?;

    cluster.cluster.nodes.kill(1);
    let before = tasks(&cluster);
    cluster.write_stream(2, 12, 100, 800, 5).await?;
    let trimmed: BTreeSet<u64> = tasks(&cluster).difference(&before).copied().collect();
    let others: BTreeSet<_> = cluster.expected_event_keys().into_iter().filter(|(_, _, r)| r != AWAY).collect();
    cluster.wait_for_event_keys(others, &mut [&mut indexer]).await?;
    trim_everything(&cluster).await?;
    // Written while the node is away and kept by the log: reported by the rebuilt replica.
    cluster.write_stream(3, 6, 100, 800, 4).await?;

    cluster.cluster.nodes.restart(1).await?;
    wait_for_rebuild(&mut indexer).await?;
    cluster.write_stream(4, 6, 100, 800, 4).await?;
    let events = cluster.wait_for_event_keys(expected_without(&cluster, AWAY, &trimmed), &mut [&mut indexer]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    Ok(())
}

async fn empty_node_behind_the_log_is_rebuilt(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 4, 2).await?;
    let mut indexer = cluster.spawn_indexer("m1")?;
    cluster.create_index().await?;
    cluster.write_stream(1, 10, 100, 800, 4).await?;
    cluster.wait_for_events(&mut [&mut indexer]).await?;
    trim_everything(&cluster).await?;

    cluster.cluster.nodes.restart_empty(1).await?;
    cluster.write_stream(2, 10, 100, 800, 5).await?;
    wait_for_rebuild(&mut indexer).await?;
    let events = cluster.wait_for_events(&mut [&mut indexer]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    Ok(())
}

/// A node down does not hold the indexers' commit back once its lag mark is stored in `meta`:
/// the commit passes it, so `ops` retention keeps only its window. The partition's next owner
/// reads the mark, finds the log trimmed past it, and rebuilds the replica from a peer.
async fn a_down_node_does_not_hold_the_commit_and_a_new_owner_catches_it_up(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 4, 2).await?;
    let mut first = cluster.spawn_indexer("m1")?;
    cluster.create_index().await?;
    cluster.write_stream(1, 8, 100, 800, 4).await?;
    cluster.wait_for_events(&mut [&mut first]).await?;

    cluster.cluster.nodes.kill(1);
    let before = tasks(&cluster);
    cluster.write_stream(2, 10, 100, 800, 5).await?;
    let missed: BTreeSet<u64> = tasks(&cluster).difference(&before).copied().collect();
    let others: BTreeSet<_> = cluster.expected_event_keys().into_iter().filter(|(_, _, r)| r != AWAY).collect();
    cluster.wait_for_event_keys(others, &mut [&mut first]).await?;
    let partition = cluster.partition_of(&cluster.index);
    let end = cluster.log.end_offset(Topic::Ops, partition).await?;
    let log = cluster.log.clone();
    let committed = wait_until(Deadline::after(Duration::from_secs(60)), "the commit waits for the node that is down", async || {
        let committed = log.group_status(Topic::Ops, "indexers").await?.into_iter().find(|s| s.partition == partition);
        let next = committed.map_or(0, |s| s.next_offset);
        Ok(if next >= end { Progress::Done(next) } else { Progress::Waiting(format!("committed {next} of {end}")) })
    })
    .await?;
    // What `ops` retention does with the indexers' commit (and no window).
    cluster.log.trim(Topic::Ops, partition, committed).await?;

    first.kill9();
    cluster.cluster.nodes.restart(1).await?;
    let mut second = cluster.spawn_indexer("m2")?;
    cluster.write_stream(3, 6, 100, 800, 4).await?;
    wait_for_rebuild(&mut second).await?;
    assert!(second.log_text().contains("announced lagging by an earlier owner"), "{}", second.log_tail());
    let events = cluster.wait_for_event_keys(expected_without(&cluster, AWAY, &missed), &mut [&mut second]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_a_down_node_does_not_hold_the_commit_and_a_new_owner_catches_it_up() -> Result<()> {
    a_down_node_does_not_hold_the_commit_and_a_new_owner_catches_it_up(LogKind::Nats).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_stale_node_behind_the_log_is_rebuilt() -> Result<()> {
    stale_node_behind_the_log_is_rebuilt(LogKind::Nats).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_empty_node_behind_the_log_is_rebuilt() -> Result<()> {
    empty_node_behind_the_log_is_rebuilt(LogKind::Nats).await
}

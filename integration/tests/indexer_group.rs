//! Two `miroir-indexer` processes in one consumer group split the `ops` partitions and apply
//! every operation once: on every replica, the checkpoint markers of the node tasks strictly
//! increase per partition (an operation applied twice would repeat or go back), every replica
//! ends equal to the model, and every (task, shard, replica) has its event.

use anyhow::{bail, Context, Result};
use miroir_clients::log::partition_for_key;
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster, CONVERGE_TIMEOUT, INDEX};
use miroir_integration::process::ManagedProcess;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::topology::node_index_uid;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The partitions a member last logged as owned.
fn owned(indexer: &ManagedProcess) -> Option<BTreeSet<u32>> {
    let text = indexer.log_text();
    let plain = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap().replace_all(&text, "");
    let line = plain.lines().rev().find(|l| l.contains("ops partitions owned"))?;
    let list = line.split("partitions=[").nth(1)?.split(']').next()?;
    Some(list.split(',').filter_map(|p| p.trim().parse().ok()).collect())
}

/// Waits until the two members own disjoint, non-empty sets covering every partition.
async fn wait_for_split(a: &mut ManagedProcess, b: &mut ManagedProcess, partitions: u32) -> Result<(BTreeSet<u32>, BTreeSet<u32>)> {
    let deadline = Deadline::after(CONVERGE_TIMEOUT).polling_every(Duration::from_millis(100));
    wait_until(deadline, "the members never split the partitions", async || {
        a.check_alive()?;
        b.check_alive()?;
        if let (Some(x), Some(y)) = (owned(a), owned(b)) {
            let all: BTreeSet<u32> = x.union(&y).copied().collect();
            if !x.is_empty() && !y.is_empty() && x.is_disjoint(&y) && all == (0..partitions).collect() {
                return Ok(Progress::Done((x, y)));
            }
        }
        Ok(Progress::Waiting(format!("{:?} / {:?}", owned(a), owned(b))))
    })
    .await
}

async fn two_members(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 8, 2).await?;
    let mut a = cluster.spawn_indexer("ma")?;
    let mut b = cluster.spawn_indexer("mb")?;
    let (owned_a, owned_b) = wait_for_split(&mut a, &mut b, cluster.ops_partitions).await?;
    let used: BTreeSet<u32> =
        cluster.placement.shards().map(|s| partition_for_key(&format!("{INDEX}/{s}"), cluster.ops_partitions)).collect();
    if owned_a.is_disjoint(&used) || owned_b.is_disjoint(&used) {
        bail!("one member owns no partition with data ({owned_a:?} / {owned_b:?}, data on {used:?}): the test would prove nothing");
    }

    cluster.create_index().await?;
    cluster.write_stream(3, 24, 100, 1000, 5).await?;
    let events = cluster.wait_for_events(&mut [&mut a, &mut b]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;

    for shard in cluster.placement.shards() {
        let node_index = node_index_uid(INDEX, shard);
        for replica in cluster.placement.replicas(shard) {
            let mut last_by_partition: BTreeMap<u32, u64> = BTreeMap::new();
            let markers = cluster.markers(&replica.id, &node_index).await?;
            assert!(!markers.is_empty(), "{} {node_index}: no markers", replica.id);
            for marker in markers {
                let mut parts = marker.strip_prefix("miroir:").context("marker")?.split(':');
                let partition: u32 = parts.next().context("partition")?.parse()?;
                let last: u64 = parts.next().context("last")?.parse()?;
                if let Some(&previous) = last_by_partition.get(&partition) {
                    assert!(last > previous, "{} {node_index}: marker {marker} after position {previous}: applied twice", replica.id);
                }
                last_by_partition.insert(partition, last);
            }
        }
    }
    // Both members did part of the work.
    for member in [&a, &b] {
        assert!(!owned(member).unwrap_or_default().is_empty());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_two_members_split_partitions_without_double_apply() -> Result<()> {
    two_members(LogKind::Nats).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_two_members_split_partitions_without_double_apply() -> Result<()> {
    two_members(LogKind::Kafka).await
}

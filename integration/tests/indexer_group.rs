//! Two `miroir-indexer` processes in one consumer group split the `ops` partitions and apply
//! every operation once: on every replica, the checkpoint markers of the node tasks strictly
//! increase per partition (an operation applied twice would repeat or go back), every replica
//! ends equal to the model, and every (task, shard, replica) has its event.

use anyhow::{bail, Context, Result};
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster, CONVERGE_TIMEOUT, INDEX};
use miroir_integration::process::ManagedProcess;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::node_layout::{node_index_uid, ReplicaRank};
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

/// Index names whose `ops` partitions both members own some of: all of an index's operations
/// share one partition (a node index holds several of its shards), so work splits by index.
fn indexes_for_both(cluster: &IndexerCluster, owned_a: &BTreeSet<u32>, owned_b: &BTreeSet<u32>) -> Result<Vec<String>> {
    let candidates = (0..200).map(|i| format!("{INDEX}{i}"));
    let for_a = candidates.clone().find(|uid| owned_a.contains(&cluster.partition_of(uid))).context("an index for member a")?;
    let for_b = candidates.clone().find(|uid| owned_b.contains(&cluster.partition_of(uid))).context("an index for member b")?;
    let third = candidates.filter(|uid| *uid != for_a && *uid != for_b).nth(3).context("a third index")?;
    Ok(vec![for_a, for_b, third])
}

async fn two_members(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 8, 2).await?;
    let mut a = cluster.spawn_indexer("ma")?;
    let mut b = cluster.spawn_indexer("mb")?;
    let (owned_a, owned_b) = wait_for_split(&mut a, &mut b, cluster.ops_partitions).await?;
    let indexes = indexes_for_both(&cluster, &owned_a, &owned_b)?;
    let used: BTreeSet<u32> = indexes.iter().map(|uid| cluster.partition_of(uid)).collect();
    if owned_a.is_disjoint(&used) || owned_b.is_disjoint(&used) {
        bail!("one member owns no partition with data ({owned_a:?} / {owned_b:?}, data on {used:?}): the test would prove nothing");
    }

    for (seed, index) in indexes.iter().enumerate() {
        cluster.use_index(index);
        cluster.create_index().await?;
        cluster.write_stream(3 + seed as u64, 12, 100, 1000, 5).await?;
    }
    let events = cluster.wait_for_events(&mut [&mut a, &mut b]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;

    for index in &indexes {
        for node in cluster.node_ids() {
            for rank in (0..cluster.placement.topology().replication_factor).map(ReplicaRank) {
                if cluster.placement.shards_of_node_at(&node, rank).is_empty() {
                    continue;
                }
                let node_index = node_index_uid(index, rank);
                let mut last_by_partition: BTreeMap<u32, u64> = BTreeMap::new();
                let markers = cluster.markers(&node, &node_index).await?;
                assert!(!markers.is_empty(), "{node} {node_index}: no markers");
                for marker in markers {
                    let mut parts = marker.strip_prefix("miroir:").context("marker")?.split(':');
                    let partition: u32 = parts.next().context("partition")?.parse()?;
                    let last: u64 = parts.next().context("last")?.parse()?;
                    if let Some(&previous) = last_by_partition.get(&partition) {
                        assert!(last > previous, "{node} {node_index}: marker {marker} after position {previous}: applied twice");
                    }
                    last_by_partition.insert(partition, last);
                }
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

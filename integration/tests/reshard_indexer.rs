//! The indexer's half of a reshard (docs/resharding.md), on real Meilisearch nodes: an index in
//! 3 nodes at S = 4, RF = 2 is resharded to S = 12 while writes routed by the old layout keep
//! coming (the writes a gateway accepts during the build), the process building it is killed
//! -9 and replaced, then written to in the new layout, and resharded back to 4. After each
//! reshard every replica holds exactly the model's documents at the shard HRW gives them in the
//! new layout, the old layout's node indexes are gone, and every (task, shard, replica) the
//! tasks listed has one succeeded event (re-routed operations included).

use anyhow::{bail, Result};
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster, INDEX};
use miroir_integration::wait::{wait_until, Deadline, Progress};
use miroir_schemas::node_layout::{layout_node_index_uid, ReplicaRank};
use std::time::Duration;

/// Asserts no node holds a node index of `layout` any more.
async fn assert_layout_gone(cluster: &IndexerCluster, layout: Option<u32>) -> Result<()> {
    for node in cluster.node_ids() {
        for rank in (0..2).map(ReplicaRank) {
            let uid = layout_node_index_uid(INDEX, layout, rank);
            if cluster.node_documents(&node, &uid).await?.is_some() {
                bail!("{node} still has {uid} after the reshard was released");
            }
        }
    }
    Ok(())
}

async fn reshard_under_writes(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 4, 2).await?;
    let mut first = cluster.spawn_indexer("m1")?;
    cluster.create_index().await?;
    cluster.write_stream(1, 12, 100, 900, 4).await?;

    cluster.propose_reshard(12).await?;
    // Writes after the barrier, routed by the old layout: applied in the new one.
    cluster.write_stream(2, 8, 100, 900, 3).await?;
    // Kill the builder as soon as the new layout appears on a node; a new process resumes.
    let shadow = layout_node_index_uid(INDEX, Some(12), ReplicaRank(0));
    wait_until(Deadline::after(Duration::from_secs(120)), "the new layout never appeared", async || {
        for node in cluster.node_ids() {
            if cluster.node_documents(&node, &shadow).await?.is_some() {
                return Ok(Progress::Done(()));
            }
        }
        first.check_alive()?;
        Ok(Progress::Waiting("no node index of the new layout yet".into()))
    })
    .await?;
    first.kill9();
    let mut second = cluster.spawn_indexer("m2")?;
    assert!(cluster.wait_for_reshard(12).await?, "the reshard to 12 was given up");
    let events = cluster.wait_for_events(&mut [&mut second]).await?;
    event_counts(&events)?;
    cluster.route_by_layout(Some(12));
    cluster.assert_nodes_match_model().await?;
    assert_layout_gone(&cluster, None).await?;

    // Writes routed by the new layout, then back to 4 shards.
    cluster.write_stream(3, 6, 100, 900, 3).await?;
    cluster.propose_reshard(4).await?;
    cluster.write_stream(4, 4, 100, 900, 2).await?;
    assert!(cluster.wait_for_reshard(4).await?, "the reshard back to 4 was given up");
    let events = cluster.wait_for_events(&mut [&mut second]).await?;
    event_counts(&events)?;
    cluster.route_by_layout(Some(4));
    cluster.assert_nodes_match_model().await?;
    assert_layout_gone(&cluster, Some(12)).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_reshard_under_writes_and_a_kill() -> Result<()> {
    reshard_under_writes(LogKind::Nats).await
}

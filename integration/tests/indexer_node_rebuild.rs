//! A node that comes back with none of its data (its disk replaced, or rescheduled without its
//! volume) is noticed and rebuilt: its replicas end equal to their peers, whether writes reached
//! it while it was away or not.

use anyhow::Result;
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster};

async fn node_restarted_empty_is_rebuilt(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 4, 2).await?;
    let mut indexer = cluster.spawn_indexer("m1")?;
    cluster.create_index().await?;
    cluster.write_stream(1, 10, 100, 800, 4).await?;
    cluster.wait_for_events(&mut [&mut indexer]).await?;

    // Back empty before the indexer sent it anything: only the node itself can tell.
    cluster.cluster.nodes.restart_empty(1).await?;
    cluster.write_stream(2, 10, 100, 800, 5).await?;
    let events = cluster.wait_for_events(&mut [&mut indexer]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    assert!(indexer.log_text().contains("rebuilding"), "the empty node was never noticed:\n{}", indexer.log_tail());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_node_restarted_empty_is_rebuilt() -> Result<()> {
    node_restarted_empty_is_rebuilt(LogKind::Nats).await
}

//! `miroir-indexer` as a child process against a real broker and real Meilisearch nodes: operations
//! appended to `ops` reach exactly the HRW replicas of their shard and no other node, and one
//! succeeded `task-events` record arrives for every (task, shard, replica).

use anyhow::Result;
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster, INDEX};
use miroir_schemas::envelope::DocumentMethod;
use miroir_schemas::node_layout::{node_index_uid, ReplicaRank};
use serde_json::{json, Map, Value};

fn doc(id: &str, title: &str) -> Map<String, Value> {
    json!({ "id": id, "title": title }).as_object().unwrap().clone()
}

async fn placement_and_events(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 4, 4, 2).await?;
    let mut indexer = cluster.spawn_indexer("m1")?;
    cluster.create_index().await?;
    for round in 0..4 {
        let docs = (0..40).map(|i| doc(&format!("d{i}"), &format!("round {round}"))).collect();
        cluster.write_docs(DocumentMethod::Replace, docs).await?;
    }
    let partial = (0..40).step_by(3).map(|i| json!({"id": format!("d{i}"), "extra": i}).as_object().unwrap().clone()).collect();
    cluster.write_docs(DocumentMethod::Update, partial).await?;
    cluster.delete_docs(&(0..40).step_by(5).map(|i| format!("d{i}")).collect::<Vec<_>>()).await?;

    let events = cluster.wait_for_events(&mut [&mut indexer]).await?;
    let counts = event_counts(&events)?;
    // Exactly the expected keys, each once: no event for a non-replica, none twice.
    assert_eq!(counts.keys().cloned().collect::<std::collections::BTreeSet<_>>(), cluster.expected_event_keys());
    assert!(counts.values().all(|&n| n == 1), "duplicate events: {:?}", counts.iter().filter(|(_, &n)| n > 1).collect::<Vec<_>>());

    cluster.assert_nodes_match_model().await?;
    // A node holding no shard at a rank never saw a single task for that rank's node index.
    for node in cluster.node_ids() {
        for rank in (0..cluster.placement.topology().replication_factor).map(ReplicaRank) {
            let holds = !cluster.placement.shards_of_node_at(&node, rank).is_empty();
            let tasks = cluster.node_tasks(&node, &node_index_uid(INDEX, rank)).await?;
            assert_eq!(!tasks.is_empty(), holds, "{node} {rank}: {} tasks", tasks.len());
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_ops_reach_exactly_the_hrw_replicas() -> Result<()> {
    placement_and_events(LogKind::Nats).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_ops_reach_exactly_the_hrw_replicas() -> Result<()> {
    placement_and_events(LogKind::Kafka).await
}

//! Online topology changes on real nodes, the indexer's half (docs/topology.md): while writes
//! keep coming, a proposal and its copy barriers move shard replicas to a joining node, away from
//! a leaving one and off a drained one; afterwards every replica holds exactly what was written,
//! in the node index of its rank, nodes that lost a replica hold none of it, and every task
//! finished on the replicas it listed.

use std::time::Duration;

use anyhow::{bail, Result};
use bytes::Bytes;
use miroir_clients::log::{key_for_partition, Topic};
use miroir_integration::brokers::LogKind;
use miroir_integration::indexer_cluster::{event_counts, IndexerCluster};
use miroir_integration::nodes::{find_meilisearch, MeiliNodes};
use miroir_integration::process::ManagedProcess;
use miroir_schemas::envelope::{decode, encode, Op, OpEnvelope};
use miroir_schemas::meta_log::topology_changes::{TopologyBook, TopologyChange};
use miroir_schemas::meta_log::{MetaChange, MetaEnvelope};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::{Node, Topology};

/// Proposes `topology` as the admin API does: the `meta` record, then a copy barrier per `ops`
/// partition.
async fn propose(cluster: &IndexerCluster, topology: Topology) -> Result<()> {
    let version = topology.version;
    let change = TopologyChange::TopologyProposed { topology, at: time::OffsetDateTime::now_utc() };
    let payload = Bytes::from(encode(&MetaEnvelope::new(change)));
    cluster.log.append(Topic::Meta, "topology", &format!("proposed:{version}"), payload).await?;
    for partition in 0..cluster.ops_partitions {
        let envelope = OpEnvelope::topology_barrier(Op::CopyShards { version });
        let key = key_for_partition(partition, cluster.ops_partitions);
        cluster.log.append(Topic::Ops, &key, &format!("copy:{version}:{partition}"), Bytes::from(encode(&envelope))).await?;
    }
    Ok(())
}

/// Folds `meta` until topology `version` has moved on every partition, writing meanwhile unless
/// `seed` is `None`.
async fn wait_moved(cluster: &mut IndexerCluster, version: u64, indexer: &mut ManagedProcess, seed: Option<u64>) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let mut round = 0;
    loop {
        let mut book = TopologyBook::new(cluster.cluster.placement(), cluster.ops_partitions);
        let mut reader = cluster.log.read_partition(Topic::Meta, 0, 0).await?;
        loop {
            let batch = reader.next_batch(10_000, Duration::from_millis(200)).await?;
            if batch.is_empty() {
                break;
            }
            for record in batch {
                if let Ok(MetaEnvelope { change: MetaChange::Topology(change), .. }) = decode::<MetaEnvelope>(&record.payload) {
                    book.apply(&change);
                }
            }
        }
        if book.newest().version() == version && book.moving().is_none() {
            return Ok(());
        }
        indexer.check_alive()?;
        if std::time::Instant::now() > deadline {
            bail!(
                "topology {version} not moved: {:?}\n{}",
                book.moving().map(|(e, p)| (p, e.copied.clone(), e.released.clone())),
                indexer.log_tail()
            );
        }
        // Writes keep coming during the move.
        round += 1;
        if let Some(seed) = seed {
            cluster.write_stream(seed * 100 + round, 2, 30, 800, 3).await?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn node(id: &str, url: &str) -> Node {
    Node { id: id.into(), url: url.into(), replica_group: "group-0".into(), api_key: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_move_to_a_joining_node_and_off_leaving_and_drained_ones_under_writes() -> Result<()> {
    replicas_move_under_writes(LogKind::Nats).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_move_under_writes_on_kafka() -> Result<()> {
    replicas_move_under_writes(LogKind::Kafka).await
}

async fn replicas_move_under_writes(backend: LogKind) -> Result<()> {
    let mut cluster = IndexerCluster::start(backend, 3, 6, 2).await?;
    let spawn = |cluster: &IndexerCluster, member: &str| {
        let env = [
            ("MIROIR_INDEXER_MEMBER", member.to_owned()),
            ("MIROIR_POLL_MAX", "200".to_owned()),
            ("MIROIR_RELEASE_GRACE_MS", "500".to_owned()),
        ];
        cluster.cluster.spawn_indexer(&format!("indexer-{member}"), &env)
    };
    let mut indexer = spawn(&cluster, "m1")?;
    cluster.create_index().await?;
    cluster.write_stream(1, 10, 100, 800, 4).await?;
    cluster.wait_for_events(&mut [&mut indexer]).await?;

    let launch = cluster.placement.topology().clone();
    let key = cluster.cluster.node_key().to_owned();
    let joining = MeiliNodes::start_temp(&find_meilisearch()?, 1, &key).await?;
    let mut nodes = launch.nodes.clone();
    for n in &mut nodes {
        n.api_key = Some(key.clone());
    }
    let mut added = node("node-new", &joining.urls()[0]);
    added.api_key = Some(key.clone());
    nodes.push(added);

    // Join.
    let v2 = Topology::new(2, launch.shard_count, launch.replication_factor, nodes.clone())?;
    propose(&cluster, v2.clone()).await?;
    // The indexer dies while the move runs (a kill -9, mid-copy or just after): the member that
    // takes its partitions over runs the barriers again, and the move completes.
    cluster.write_stream(20, 2, 100, 800, 4).await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    indexer.kill9();
    let mut indexer = spawn(&cluster, "m2")?;
    wait_moved(&mut cluster, 2, &mut indexer, Some(2)).await?;
    cluster.placement = Placement::after(&cluster.placement, v2.clone());
    cluster.write_stream(3, 6, 100, 800, 4).await?;
    let events = cluster.wait_for_events(&mut [&mut indexer]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    assert!(!cluster.placement.shards_of_node("node-new").is_empty());

    // Drain node-1, then remove it (nothing moves), then remove node-0 outright.
    let v3 = Topology::new(3, launch.shard_count, launch.replication_factor, nodes.clone())?.with_draining(["node-1".to_owned()].into())?;
    propose(&cluster, v3.clone()).await?;
    wait_moved(&mut cluster, 3, &mut indexer, Some(4)).await?;
    cluster.placement = Placement::after(&cluster.placement, v3);
    cluster.write_stream(5, 4, 100, 800, 4).await?;
    cluster.wait_for_events(&mut [&mut indexer]).await?;
    cluster.assert_nodes_match_model().await?;
    assert!(cluster.placement.shards_of_node("node-1").is_empty());

    // node-0 dies and is removed (with the drained node-1): its replicas are copied from the others.
    let kept: Vec<Node> = nodes.iter().filter(|n| n.id != "node-1" && n.id != "node-0").cloned().collect();
    let v4 = Topology::new(4, launch.shard_count, launch.replication_factor, kept)?;
    cluster.cluster.nodes.kill(0);
    // Written while node-0 is down: these tasks list it, it never gets them, and its removal
    // retires its replicas: their events come with their peers' outcomes (indexer/src/missed_events.rs).
    cluster.write_stream(6, 2, 100, 800, 4).await?;
    propose(&cluster, v4.clone()).await?;
    wait_moved(&mut cluster, 4, &mut indexer, None).await?;
    cluster.placement = Placement::after(&cluster.placement, v4);
    cluster.write_stream(7, 4, 100, 800, 4).await?;
    let events = cluster.wait_for_events(&mut [&mut indexer]).await?;
    event_counts(&events)?;
    cluster.assert_nodes_match_model().await?;
    drop(joining);
    Ok(())
}

//! Rebuilding a replica from a peer when the log no longer holds what it lacks (retention
//! trimmed `ops` past its lag mark, or its node came back empty after the partition's start was
//! trimmed; docs/retention.md).
//!
//! The partition is held meanwhile (the main loop waits, as at a topology copy barrier), so
//! every replica that is not lagging has applied exactly what the main loop dispatched, `D`,
//! and nothing writes to them during the copy. For every index of the partition and every
//! rank the replica holds, its node index is deleted and filled again from peers with the
//! moves' copy (settings, the shard's documents paged, embeddings), stamped with checkpoint
//! `D`; the catch-up then goes on from `D + 1`.
//!
//! Task events: the replica never applied the operations it missed; each one the log still
//! holds is reported for it with a peer's outcome ([`crate::missed_events`]); the tasks of
//! operations already trimmed before it could report them stay `processing` (docs/retention.md).

use crate::catch_up::Board;
use crate::checkpoint::Marker;
use crate::moves::{client, copy_replica, delete_node_index, indexes_of_partition, MoveError};
use crate::worker::Shared;
use miroir_clients::log::Topic;
use miroir_schemas::meta_log::topology_changes::ShardCopy;
use miroir_schemas::node_layout::{layout_node_index_uid, ReplicaRank};
use miroir_schemas::topology::ShardId;
use std::collections::{BTreeMap, BTreeSet};

/// Copies `replica`'s part of `partition` from its peers; on success its lag mark is just past
/// what the main loop dispatched.
pub async fn rebuild_from_peer(shared: &Shared, partition: u32, replica: &str, board: &Board) -> Result<(), MoveError> {
    let hold = board.lock().expect("lag board lock").peer_copy.clone();
    let _held = hold.write().await;
    let (dispatched, missed_from, lagging) = {
        let b = board.lock().expect("lag board lock");
        let mark = b.lagging.get(replica).copied().unwrap_or(0);
        let missed_from = b.lost_at.get(replica).copied().unwrap_or(mark);
        (b.dispatched, missed_from, b.lagging.keys().cloned().collect::<BTreeSet<String>>())
    };
    let Some(through) = dispatched else {
        // Nothing was dispatched since this member took the partition: nothing to copy.
        let mut b = board.lock().expect("lag board lock");
        b.lost_at.remove(replica);
        return Ok(());
    };
    tracing::warn!(node = %replica, partition, through, "the log no longer holds what a replica lacks; rebuilding it from a peer");
    let book = shared.cancels.topology();
    let launch = book.newest().placement.clone();
    let peers: BTreeSet<String> =
        launch.topology().nodes.iter().map(|n| n.id.clone()).filter(|n| n != replica && !lagging.contains(n)).collect();
    let indexes = indexes_of_partition(&book, &peers, partition).await?;
    let marker = Marker::single(partition, through).encode();
    let target = client(&book, replica)?;
    let mut documents = 0;
    for index in &indexes {
        // Each index in its own layout (a resharded one has its own shards).
        let layout = book.layouts().layout(index);
        let placement = book.newest_placement(layout).clone();
        let mut by_rank: BTreeMap<ReplicaRank, Vec<ShardId>> = BTreeMap::new();
        for shard in placement.shards() {
            if let Some(rank) = placement.rank_of(shard, replica) {
                by_rank.entry(rank).or_default().push(shard);
            }
        }
        for (rank, shards) in &by_rank {
            // What the replica holds of this index at this rank is stale or gone: start empty.
            delete_node_index(&target, &layout_node_index_uid(index, layout, *rank)).await?;
            for &shard in shards {
                let holders = book.apply_targets(partition, through, shard, layout).holders;
                let from = holders.into_iter().filter(|(node, _)| node != replica).collect();
                let copy = ShardCopy { shard, to: (replica.to_owned(), *rank), from };
                documents += copy_replica(&book, index, layout, &copy, &lagging, &marker).await?;
            }
        }
    }
    tracing::info!(node = %replica, partition, through, indexes = indexes.len(), documents, "replica rebuilt from a peer");
    metrics::counter!("miroir_indexer_peer_rebuilds_total").increment(1);
    metrics::counter!("miroir_indexer_moved_documents_total").increment(documents);
    let first_kept = shared.log.first_offset(Topic::Ops, partition).await?;
    let usable = |node: &str| peers.contains(node);
    crate::missed_events::report_missed(shared, partition, replica, missed_from.max(first_kept), through + 1, usable).await?;
    let mut b = board.lock().expect("lag board lock");
    b.lost_at.remove(replica);
    b.lagging.insert(replica.to_owned(), through + 1);
    Ok(())
}

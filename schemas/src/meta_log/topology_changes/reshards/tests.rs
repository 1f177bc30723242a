use super::super::{MovePhase, ProposalError, TopologyBook, TopologyChange};
use super::*;
use crate::topology::{Node, ShardId};

fn node(id: &str) -> Node {
    Node { id: id.into(), url: format!("http://{id}"), replica_group: "g".into(), api_key: None }
}

fn topology(version: u64, ids: &[&str]) -> Topology {
    Topology::new(version, 4, 2, ids.iter().map(|id| node(id)).collect()).unwrap()
}

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn book() -> TopologyBook {
    TopologyBook::new(Placement::new(topology(1, &["a", "b", "c"])), 2)
}

fn proposed(index: &str, shards: u32) -> TopologyChange {
    TopologyChange::ReshardProposed { index: index.into(), shards, at: at() }
}

fn switched(index: &str, shards: u32, position: u64) -> TopologyChange {
    TopologyChange::ReshardSwitched { index: index.into(), shards, position }
}

fn released(index: &str, shards: u32) -> TopologyChange {
    TopologyChange::ReshardReleased { index: index.into(), shards, position: 1 }
}

#[test]
fn a_reshard_switches_operations_after_its_barrier_and_completes_at_its_release() {
    let mut book = book();
    assert_eq!(book.layouts().layout("movies"), None);
    book.apply(&proposed("movies", 12));
    let reshard = book.layouts().reshard().cloned().unwrap();
    assert_eq!((reshard.from, reshard.to, reshard.phase), (None, 12, ReshardPhase::Building));
    assert_eq!(book.layouts().layout("movies"), None, "reads and writes keep the old layout while it builds");
    // A second reshard, of any index, waits.
    assert!(matches!(book.check_reshard("other", 8), Err(ReshardError::InProgress { .. })));
    book.apply(&proposed("other", 8));
    assert_eq!(book.layouts().reshard().unwrap().index, "movies");

    // A switch of another shard count changes nothing.
    book.apply(&switched("movies", 8, 40));
    assert_eq!(book.layouts().layout("movies"), None);
    book.apply(&switched("movies", 12, 40));
    assert_eq!(book.layouts().layout("movies"), Some(12));
    assert_eq!(book.layouts().layout_at("movies", 40), None, "the barrier itself belongs to the old layout");
    assert_eq!(book.layouts().layout_at("movies", 41), Some(12));
    assert_eq!(book.layouts().layout_at("other", 41), None);
    assert_eq!(book.layouts().reshard().unwrap().phase, ReshardPhase::Switched { position: 40 });
    // A second switch report (a restarted owner) keeps the first.
    book.apply(&switched("movies", 12, 45));
    assert_eq!(book.layouts().layout_at("movies", 42), Some(12));

    book.apply(&released("movies", 12));
    assert!(book.layouts().reshard().is_none());
    assert_eq!(book.check_reshard("movies", 12), Err(ReshardError::Unchanged { index: "movies".into(), shards: 12 }));
    // Back to the cluster's count: a layout of its own (the launch layout's node indexes are gone).
    book.apply(&proposed("movies", 4));
    book.apply(&switched("movies", 4, 90));
    assert_eq!(book.layouts().layout_at("movies", 60), Some(12));
    assert_eq!(book.layouts().layout_at("movies", 91), Some(4));
    assert_eq!(book.newest_placement(Some(4)).topology().shard_count, 4);
}

#[test]
fn an_aborted_reshard_leaves_the_layout_as_it_was() {
    let mut book = book();
    book.apply(&proposed("movies", 12));
    book.apply(&TopologyChange::ReshardAborted { index: "movies".into(), shards: 12, position: 1, reason: "digest".into() });
    assert!(book.layouts().reshard().is_none());
    assert_eq!(book.layouts().layout("movies"), None);
    // Released before a switch: ignored (there is nothing to release).
    book.apply(&proposed("movies", 12));
    book.apply(&released("movies", 12));
    assert!(book.layouts().reshard().is_some());
}

#[test]
fn refused_reshards() {
    let book = book();
    assert_eq!(book.check_reshard("movies", 0), Err(ReshardError::BadShardCount(0)));
    assert_eq!(book.check_reshard("movies", MAX_SHARDS + 1), Err(ReshardError::BadShardCount(MAX_SHARDS + 1)));
    assert_eq!(book.check_reshard("movies", 4), Err(ReshardError::Unchanged { index: "movies".into(), shards: 4 }));
    assert_eq!(book.check_reshard("movies", 5), Ok(()));
}

#[test]
fn reshards_and_topology_changes_wait_for_each_other() {
    let mut book = book();
    book.apply(&proposed("movies", 12));
    assert_eq!(book.check_proposal(&topology(2, &["a", "b", "c", "d"])), Err(ProposalError::ReshardInProgress { index: "movies".into() }));
    book.apply(&switched("movies", 12, 3));
    book.apply(&released("movies", 12));

    book.apply(&TopologyChange::TopologyProposed { topology: topology(2, &["a", "b", "c", "d"]), at: at() });
    assert!(matches!(book.moving(), Some((_, MovePhase::Copying))));
    assert_eq!(book.check_reshard("movies", 4), Err(ReshardError::MoveInProgress { current: 2 }));
}

#[test]
fn a_layout_is_placed_along_the_clusters_chain_of_topologies() {
    let mut book = book();
    book.apply(&proposed("movies", 12));
    let launch = Placement::new(Topology { shard_count: 12, ..topology(1, &["a", "b", "c"]) });
    for shard in (0..12).map(ShardId) {
        assert_eq!(book.newest_placement(Some(12)).replicas(shard), launch.replicas(shard));
        let targets = book.apply_targets(0, 100, shard, Some(12));
        assert_eq!(targets.holders.len(), 2);
        assert_eq!(targets.holders[0].0, launch.replicas(shard)[0].id);
    }
    book.apply(&switched("movies", 12, 3));
    book.apply(&released("movies", 12));
    book.apply(&TopologyChange::TopologyProposed { topology: topology(2, &["a", "b", "c", "d"]), at: at() });
    let next = Placement::after(&launch, Topology { shard_count: 12, ..topology(2, &["a", "b", "c", "d"]) });
    assert_eq!(book.newest_placement(Some(12)).shards_of_node("d"), next.shards_of_node("d"));
    // The copies of the move, per layout: the resharded index moves its own shards.
    assert!(book.copies(2, Some(12)).iter().all(|c| c.shard.0 < 12));
    assert_eq!(book.copies(2, Some(12)).iter().filter(|c| c.to.0 == "d").count(), next.shards_of_node("d").len());
}

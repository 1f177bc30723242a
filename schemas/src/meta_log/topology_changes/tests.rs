use super::*;
use proptest::prelude::*;

const PARTITIONS: u32 = 2;

fn node(id: &str) -> Node {
    Node { id: id.into(), url: format!("http://{id}"), replica_group: "g".into(), api_key: None }
}

fn topology(version: u64, ids: &[&str]) -> Topology {
    Topology::new(version, 6, 2, ids.iter().map(|id| node(id)).collect()).unwrap()
}

fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn proposed(topology: Topology) -> TopologyChange {
    TopologyChange::TopologyProposed { topology, at: at() }
}

fn book() -> TopologyBook {
    TopologyBook::new(Placement::new(topology(1, &["a", "b", "c"])), PARTITIONS)
}

/// Moves `book` through a whole change: copy barriers at `copy_at`, releases at `release_at`.
fn move_all(book: &mut TopologyBook, version: u64, copy_at: u64, release_at: u64) {
    for partition in 0..PARTITIONS {
        book.apply(&TopologyChange::ShardsCopied { version, partition, position: copy_at });
    }
    for partition in 0..PARTITIONS {
        book.apply(&TopologyChange::ShardsReleased { version, partition, position: release_at });
    }
}

#[test]
fn an_added_node_gets_operations_after_its_copy_and_alone_after_the_release() {
    let mut book = book();
    let before = Placement::new(topology(1, &["a", "b", "c"]));
    book.apply(&proposed(topology(2, &["a", "b", "c", "d"])));
    let after = Placement::after(&before, topology(2, &["a", "b", "c", "d"]));
    let copies = book.copies(2, None);
    assert!(!copies.is_empty());
    // The joining node takes its share; other copies only change a replica's rank on a node
    // that already held the shard (a rank is a node index).
    assert_eq!(copies.iter().filter(|c| c.to.0 == "d").count(), after.shards_of_node("d").len());
    for copy in copies.iter().filter(|c| c.to.0 != "d") {
        assert!(copy.from.iter().any(|(n, r)| *n == copy.to.0 && *r != copy.to.1), "{copy:?}");
    }

    let shard = copies[0].shard;
    let old = holders(&before, shard);
    let new = holders(&after, shard);
    assert_eq!(book.apply_targets(0, 10, shard, None).holders, old, "no barrier yet");
    assert_eq!(book.read_view(None).0.topology().version, 1);
    assert!(book.read_view(None).1, "a move narrows reads");
    assert_eq!(book.moving().map(|(e, p)| (e.version(), p)), Some((2, MovePhase::Copying)));

    book.apply(&TopologyChange::ShardsCopied { version: 2, partition: 0, position: 10 });
    assert_eq!(book.apply_targets(0, 10, shard, None).holders, old, "the barrier itself is before the copy");
    let union = book.apply_targets(0, 11, shard, None).holders;
    assert!(old.iter().chain(&new).all(|h| union.contains(h)) && union.len() <= old.len() + new.len(), "{union:?}");
    assert_eq!(book.apply_targets(1, 11, shard, None).holders, old, "partition 1 has not copied");
    assert_eq!(book.read_view(None).0.topology().version, 1, "reads wait for every partition");

    book.apply(&TopologyChange::ShardsReleased { version: 2, partition: 0, position: 20 });
    assert_eq!(book.apply_targets(0, 21, shard, None).holders, union, "no release before the switch");
    book.apply(&TopologyChange::ShardsCopied { version: 2, partition: 1, position: 5 });
    assert_eq!(book.moving().map(|(_, p)| p), Some(MovePhase::Switched));
    assert_eq!(book.read_view(None).0.topology().version, 2);
    book.apply(&TopologyChange::ShardsReleased { version: 2, partition: 0, position: 20 });
    book.apply(&TopologyChange::ShardsReleased { version: 2, partition: 1, position: 30 });
    assert!(book.moving().is_none());
    let (read, narrowed) = book.read_view(None);
    assert!(Arc::ptr_eq(&read, &book.newest().placement) && !narrowed);
    let done = book.apply_targets(0, 21, shard, None);
    assert_eq!(done.holders, new);
    let dropped: Vec<String> = old.iter().filter(|(n, _)| !new.iter().any(|(m, _)| m == n)).map(|(n, _)| n.clone()).collect();
    assert_eq!(done.proxied, dropped);
    // A replay of an old position still reaches the holders of its time.
    assert_eq!(book.apply_targets(0, 3, shard, None).holders, old);
}

#[test]
fn proposals_are_judged_by_the_fold() {
    let mut book = book();
    assert_eq!(book.check_proposal(&topology(3, &["a", "b"])), Err(ProposalError::WrongVersion { proposed: 3, next: 2 }));
    let reshaped = Topology::new(2, 7, 2, vec![node("a"), node("b")]).unwrap();
    assert_eq!(book.check_proposal(&reshaped), Err(ProposalError::ShapeChanged));
    book.apply(&proposed(reshaped));
    assert_eq!(book.newest().version(), 1, "refused proposals change nothing");
    book.apply(&proposed(topology(2, &["a", "b", "c", "d"])));
    assert_eq!(book.check_proposal(&topology(3, &["a", "b", "c"])), Err(ProposalError::MoveInProgress { current: 2 }));
    book.apply(&proposed(topology(3, &["a", "b", "c"])));
    assert_eq!(book.newest().version(), 2);
    // Barriers of another version are ignored.
    book.apply(&TopologyChange::ShardsCopied { version: 3, partition: 0, position: 1 });
    assert!(book.newest().copied.is_empty());
    move_all(&mut book, 2, 10, 20);
    assert!(book.check_proposal(&topology(3, &["a", "b", "c"])).is_ok());
}

#[test]
fn a_drained_node_is_emptied_and_a_removed_node_is_not_released() {
    let mut book = book();
    let draining = topology(2, &["a", "b", "c"]).with_draining(["c".to_owned()].into()).unwrap();
    book.apply(&proposed(draining));
    assert!(book.copies(2, None).iter().all(|c| c.to.0 != "c" && c.from.iter().any(|(n, _)| n == "c")), "c's replicas move away");
    assert!(book.releases(2, None).iter().any(|(_, (n, _))| n == "c"), "a drained node is still there: its copies are deleted");
    move_all(&mut book, 2, 10, 20);
    assert!(book.newest().placement.shards_of_node("c").is_empty());
    book.apply(&proposed(topology(3, &["a", "b"])));
    assert!(book.copies(3, None).is_empty(), "removing a drained node moves nothing");
    assert!(book.releases(3, None).is_empty());
    assert_eq!(book.node("c").map(|n| n.url.as_str()), Some("http://c"), "older epochs still name it");

    let mut book = TopologyBook::new(Placement::new(topology(1, &["a", "b", "c"])), PARTITIONS);
    book.apply(&proposed(topology(2, &["a", "b"])));
    assert!(!book.copies(2, None).is_empty());
    assert!(book.releases(2, None).iter().all(|(_, (n, _))| n != "c"), "a removed node may be gone: nothing is asked of it");
}

#[test]
fn records_round_trip_with_their_type_tags() {
    let change = proposed(topology(2, &["a", "b"]).with_draining(["b".to_owned()].into()).unwrap());
    let json = serde_json::to_value(&change).unwrap();
    assert_eq!(json["type"], "topologyProposed");
    assert_eq!(json["topology"]["draining"], serde_json::json!(["b"]));
    assert_eq!(serde_json::from_value::<TopologyChange>(json).unwrap(), change);
    let copied = TopologyChange::ShardsCopied { version: 2, partition: 1, position: 9 };
    assert_eq!(serde_json::to_value(&copied).unwrap()["type"], "shardsCopied");
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

proptest! {
    /// Over a chain of joins and leaves: once a move completes, every shard is held exactly as
    /// `Placement::after` places it; during it, an operation after the copy barrier reaches
    /// every replica of both placements; the copies fill exactly what is new.
    #[test]
    fn every_phase_reaches_the_right_replicas(start in 2usize..5, steps in proptest::collection::vec(any::<bool>(), 1..4)) {
        let mut names = ids(start);
        let make = |version: u64, names: &[String]| {
            Topology::new(version, 6, 2, names.iter().map(|id| node(id)).collect()).unwrap()
        };
        let mut book = TopologyBook::new(Placement::new(make(1, &names)), PARTITIONS);
        let mut expected = Placement::new(make(1, &names));
        let mut position = 0;
        for (step, join) in steps.into_iter().enumerate() {
            let version = step as u64 + 2;
            if join || names.len() <= 2 {
                names.push(format!("n{}", 10 + step));
            } else {
                names.remove(0);
            }
            let previous = expected.clone();
            expected = Placement::after(&previous, make(version, &names));
            book.apply(&proposed(make(version, &names)));
            let copied_at = position + 5;
            move_all(&mut book, version, copied_at, copied_at + 5);
            for shard in expected.shards() {
                let old = holders(&previous, shard);
                let new = holders(&expected, shard);
                prop_assert_eq!(&book.apply_targets(0, copied_at + 6, shard, None).holders, &new);
                prop_assert_eq!(&book.apply_targets(1, copied_at, shard, None).holders, &old);
                let union = book.apply_targets(0, copied_at + 1, shard, None).holders;
                prop_assert!(old.iter().chain(&new).all(|h| union.contains(h)));
                let filled: Vec<Holder> = book.copies(version, None).into_iter().filter(|c| c.shard == shard).map(|c| c.to).collect();
                let fresh: Vec<Holder> = new.iter().filter(|h| !old.contains(h)).cloned().collect();
                prop_assert_eq!(filled, fresh);
            }
            position = copied_at + 10;
        }
    }
}

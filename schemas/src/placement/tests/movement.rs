//! How much one change of the node set moves, over seeded topologies of one replica group: a node
//! joining (N = 2…8 → N + 1) and a node leaving (N + 1 = 3…9 → N, the leaver picked by seed), at
//! RF 1 and 2, with S drawn from three ranges. Each test prints its rows of the table in
//! docs/benchmarks.md ("Placement movement"):
//!
//!     cargo test -p miroir-schemas --lib placement::tests::movement -- --nocapture --test-threads 1

use super::{holders, moved_replicas, single_group};
use crate::node_layout::ReplicaRank;
use crate::placement::{hrw_hash, Placement};
use std::collections::BTreeSet;
use std::ops::Range;

/// Topologies per S range and RF: 20 for each N.
const SEEDS: u32 = 140;

/// What one kind of change moved, summed over the seeded topologies.
#[derive(Debug, Default)]
struct Movement {
    /// Replicas that sit on a node after the change and did not before.
    moved: usize,
    /// The fewest moves any balanced placement allows: the replicas the joining node holds
    /// after, or the leaving node held before.
    ideal: usize,
    /// `(node, rank)` copies that exist after the change and did not before. A replica that
    /// stays on its node but changes rank moves too: its documents go from one node index to
    /// another (`movies__rank-0` → `movies__rank-1`).
    rank_moved: usize,
    /// The most replicas one topology moved beyond its ideal, with that topology.
    worst_extra: usize,
    worst: String,
}

impl Movement {
    fn add(&mut self, before: &Placement, after: &Placement, ideal: usize, topology: String) {
        let moved = moved_replicas(&holders(before), &holders(after));
        // No single topology may be absurd, whatever the averages say.
        assert!(moved <= 2 * ideal + 4, "{topology}: moved {moved} replicas for an ideal {ideal}");
        self.moved += moved;
        self.ideal += ideal;
        self.rank_moved += moved_copies(&copies(before), &copies(after));
        if moved - ideal > self.worst_extra || self.worst.is_empty() {
            self.worst_extra = moved - ideal;
            self.worst = format!("{topology}: {moved} for {ideal}");
        }
    }

    fn ratio(&self) -> f64 {
        self.moved as f64 / self.ideal as f64
    }

    fn rank_ratio(&self) -> f64 {
        self.rank_moved as f64 / self.ideal as f64
    }
}

/// Every shard's `(node, rank)` copies.
fn copies(p: &Placement) -> Vec<BTreeSet<(String, ReplicaRank)>> {
    p.shards()
        .map(|shard| p.replicas(shard).iter().map(|n| (n.id.clone(), p.rank_of(shard, &n.id).expect("a holder has a rank"))).collect())
        .collect()
}

fn moved_copies(before: &[BTreeSet<(String, ReplicaRank)>], after: &[BTreeSet<(String, ReplicaRank)>]) -> usize {
    before.iter().zip(after).map(|(old, new)| new.difference(old).count()).sum()
}

/// One seeded change of a group: `small` joined by `newcomer` makes `large`; `leaver` leaving
/// `large` leaves `rest`.
struct SeededChange {
    shards: u32,
    small: Vec<String>,
    large: Vec<String>,
    newcomer: String,
    leaver: String,
    rest: Vec<String>,
}

/// `SEEDS` changes with S in `shard_counts`: N = 2…8 joined by one, N + 1 left by one.
fn seeded_changes(shard_counts: &Range<u32>) -> Vec<SeededChange> {
    (0..SEEDS)
        .map(|seed| {
            let nodes = 2 + (seed % 7) as usize;
            let shards = shard_counts.start + seed * 7919 % (shard_counts.end - shard_counts.start);
            let small: Vec<String> = (0..nodes).map(|i| format!("n{seed}-{i}")).collect();
            let newcomer = format!("new-{seed}");
            let mut large = small.clone();
            large.push(newcomer.clone());
            let leaver = large[(hrw_hash(&seed.to_string(), "leaver") % large.len() as u64) as usize].clone();
            let rest: Vec<String> = large.iter().filter(|id| **id != leaver).cloned().collect();
            SeededChange { shards, small, large, newcomer, leaver, rest }
        })
        .collect()
}

/// Joins and leaves over `SEEDS` topologies with S in `shard_counts`.
fn measure(shard_counts: &Range<u32>, rf: u32) -> (Movement, Movement) {
    let (mut join, mut leave) = (Movement::default(), Movement::default());
    for c in seeded_changes(shard_counts) {
        let (before, after) = (single_group(c.shards, rf, &c.small), single_group(c.shards, rf, &c.large));
        join.add(&before, &after, after.shards_of_node(&c.newcomer).len(), format!("S={} N={}+1", c.shards, c.small.len()));
        let shrunk = single_group(c.shards, rf, &c.rest);
        leave.add(&after, &shrunk, after.shards_of_node(&c.leaver).len(), format!("S={} N={}-1", c.shards, c.large.len()));
    }
    (join, leave)
}

/// Measures one S range at RF 1 and 2, prints its table rows and checks them against `bounds`:
/// `(RF, join and leave moved/ideal, (node, rank) moves/ideal)`.
fn check_range(shard_counts: Range<u32>, bounds: [(u32, f64, f64); 2]) {
    for (rf, bound, rank_bound) in bounds {
        let (join, leave) = measure(&shard_counts, rf);
        println!(
            "| {}–{} | {rf} | {:.2} | {:.2} | {:.2} | {:.2} | +{} ({}) |",
            shard_counts.start,
            shard_counts.end - 1,
            join.ratio(),
            leave.ratio(),
            join.rank_ratio(),
            leave.rank_ratio(),
            join.worst_extra.max(leave.worst_extra),
            if join.worst_extra >= leave.worst_extra { &join.worst } else { &leave.worst },
        );
        for (what, m) in [("join", &join), ("leave", &leave)] {
            assert!(m.ratio() <= bound, "S in {shard_counts:?}, RF {rf}: a {what} moved {:.3}× the ideal ({m:?})", m.ratio());
            assert!(
                m.rank_ratio() <= rank_bound,
                "S in {shard_counts:?}, RF {rf}: a {what} moved {:.3}× the ideal (node, rank) copies",
                m.rank_ratio()
            );
        }
    }
}

#[test]
fn movement_with_up_to_15_shards() {
    check_range(1..16, [(1, 1.48, 1.48), (2, 1.30, 2.26)]);
}

#[test]
fn movement_with_16_to_63_shards() {
    check_range(16..64, [(1, 1.28, 1.28), (2, 1.15, 1.90)]);
}

#[test]
fn movement_with_64_to_160_shards() {
    check_range(64..161, [(1, 1.19, 1.19), (2, 1.10, 1.76)]);
}

/// The topology `single_group` builds, derived from `previous` ([`Placement::after`]).
fn single_group_after(previous: &Placement, shards: u32, rf: u32, ids: &[String]) -> Placement {
    Placement::after(previous, single_group(shards, rf, ids).topology().clone())
}

/// A placement derived from the previous one moves exactly what the change forces: a joining
/// node's share, or a leaving node's replicas, in every seeded topology, and stays balanced.
/// Printed as the "derived from the previous placement" rows of docs/benchmarks.md.
fn check_range_after(shard_counts: Range<u32>) {
    for rf in [1, 2] {
        let (mut join, mut leave) = (Movement::default(), Movement::default());
        for c in seeded_changes(&shard_counts) {
            let before = single_group(c.shards, rf, &c.small);
            let after = single_group_after(&before, c.shards, rf, &c.large);
            let share = after.shards_of_node(&c.newcomer).len();
            let joined = format!("S={} N={}+1 RF={rf}", c.shards, c.small.len());
            assert_eq!(moved_replicas(&holders(&before), &holders(&after)), share, "{joined}: only the newcomer's share moves");
            join.add(&before, &after, share, joined);
            super::assert_balanced(&after);

            let shrunk = single_group_after(&after, c.shards, rf, &c.rest);
            let given_up = after.shards_of_node(&c.leaver).len();
            let left = format!("S={} N={}-1 RF={rf}", c.shards, c.large.len());
            assert_eq!(moved_replicas(&holders(&after), &holders(&shrunk)), given_up, "{left}: only the leaver's replicas move");
            leave.add(&after, &shrunk, given_up, left);
            super::assert_balanced(&shrunk);
        }
        println!(
            "| {}–{} | {rf} | {:.2} | {:.2} | {:.2} | {:.2} | derived from the previous placement |",
            shard_counts.start,
            shard_counts.end - 1,
            join.ratio(),
            leave.ratio(),
            join.rank_ratio(),
            leave.rank_ratio(),
        );
    }
}

#[test]
fn derived_placements_move_only_what_the_change_forces() {
    for range in [1..16, 16..64, 64..161] {
        check_range_after(range);
    }
}

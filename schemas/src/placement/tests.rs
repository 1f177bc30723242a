use super::*;
use crate::topology::Node;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

mod movement;

fn node(id: &str, group: &str) -> Node {
    Node { id: id.into(), url: format!("http://{id}"), replica_group: group.into(), api_key: None }
}

fn placement(shards: u32, rf: u32, nodes: &[(&str, &str)]) -> Placement {
    let nodes = nodes.iter().map(|(id, g)| node(id, g)).collect();
    Placement::new(Topology::new(1, shards, rf, nodes).unwrap())
}

// ---- Appendix A of anchors.md: computed with twox-hash 2.1.2, as Meilisearch EE hashes ----

#[test]
fn appendix_a_hash_values() {
    assert_eq!(hrw_hash("shard-0", "1"), 0xc4318af2f8d2d460);
    assert_eq!(hrw_hash("shard-0", "1"), 14137233481453982816);
    assert_eq!(hrw_hash("shard-a", "1"), 0x1b75030c5cecb96b);
    assert_eq!(hrw_hash("shard-b", "1"), 0x303e1000034f0b69);
    assert_eq!(hrw_hash("shard-c", "1"), 0x8376c30f21342356);
    assert_eq!(hrw_hash("ms-00", "movie-42"), 0x089be734d5b988b4);
    assert_eq!(hrw_hash("ms-01", "movie-42"), 0xbd688c328b716dec);
}

fn assert_winners(shards: &[&str], expected: &[(&str, &str)]) {
    for (doc_id, winner) in expected {
        let got = hrw_winner(shards, doc_id).map(|i| shards[i]);
        assert_eq!(got, Some(*winner), "doc {doc_id} over {shards:?}");
    }
}

#[test]
fn appendix_a_winners() {
    assert_winners(
        &["shard-0", "shard-1", "shard-2"],
        &[("1", "shard-0"), ("2", "shard-1"), ("3", "shard-2"), ("42", "shard-1"), ("abc", "shard-1"), ("doc-100", "shard-0")],
    );
    let abc = [
        ("1", "c"),
        ("2", "c"),
        ("3", "c"),
        ("4", "a"),
        ("5", "b"),
        ("42", "c"),
        ("abc", "c"),
        ("movie-42", "c"),
        ("0", "c"),
        ("999999", "b"),
    ];
    let abc: Vec<(&str, String)> = abc.iter().map(|(id, s)| (*id, format!("shard-{s}"))).collect();
    let abc: Vec<(&str, &str)> = abc.iter().map(|(id, s)| (*id, s.as_str())).collect();
    assert_winners(&["shard-a", "shard-b", "shard-c"], &abc);
    assert_winners(
        &["ms-00", "ms-01"],
        &[
            ("1", "ms-00"),
            ("2", "ms-00"),
            ("3", "ms-00"),
            ("4", "ms-01"),
            ("5", "ms-00"),
            ("42", "ms-00"),
            ("abc", "ms-01"),
            ("movie-42", "ms-01"),
            ("0", "ms-00"),
            ("999999", "ms-00"),
        ],
    );
    assert_winners(
        &["s0", "s1", "s2", "s3"],
        &[
            ("1", "s1"),
            ("2", "s1"),
            ("3", "s1"),
            ("4", "s1"),
            ("5", "s3"),
            ("42", "s3"),
            ("abc", "s3"),
            ("movie-42", "s3"),
            ("0", "s0"),
            ("999999", "s3"),
        ],
    );
}

#[test]
fn placement_shard_of_agrees_with_appendix_a() {
    let p = placement(3, 1, &[("n", "g")]);
    for (doc_id, shard) in [("1", 0), ("2", 1), ("3", 2), ("42", 1), ("abc", 1), ("doc-100", 0)] {
        assert_eq!(p.shard_of(doc_id), ShardId(shard), "doc {doc_id}");
    }
}

#[test]
fn numeric_ids_spread_over_three_shards() {
    let three = placement(3, 1, &[("n", "g")]);
    let mut counts = [0u32; 3];
    for i in 0..200_000u32 {
        counts[three.shard_of(&i.to_string()).0 as usize] += 1;
    }
    let mut sorted = counts;
    sorted.sort_unstable();
    assert_eq!(sorted.iter().sum::<u32>(), 200_000);
    assert!(sorted.iter().all(|&c| (65_000..68_400).contains(&c)), "{counts:?}");
}

#[test]
fn agrees_with_three_real_enterprise_nodes() {
    // 3,000 documents that three real Meilisearch 1.50 EE nodes split over shard-0..2.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ee-shard-assignment-v1.50.json");
    let fixture: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let p = placement(3, 1, &[("n", "g")]);
    let mut checked = 0;
    for (shard_name, ids) in fixture["document_ids_by_shard"].as_object().unwrap() {
        let shard = ShardId::parse(shard_name).unwrap();
        for id in ids.as_array().unwrap() {
            assert_eq!(p.shard_of(id.as_str().unwrap()), shard, "document {id}");
            checked += 1;
        }
    }
    assert_eq!(checked, 3000);
}

// ---- shard → replicas ----

#[test]
fn replicas_are_balanced_within_each_group_and_ranked() {
    let nodes = [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b")];
    let p = placement(8, 2, &nodes);
    for shard in p.shards() {
        let name = shard.name();
        for group in ["a", "b"] {
            let holders = p.replicas_in_group(shard, group);
            assert_eq!(holders.len(), 2, "{name} in {group}");
            for (rank, holder) in holders.iter().enumerate() {
                assert_eq!(p.rank_of(shard, &holder.id), Some(ReplicaRank(rank as u32)), "{name} in {group}");
            }
        }
        assert_eq!(p.replicas(shard).len(), 4);
    }
    // 8 shards × RF 2 over 3 nodes: 16 replicas, so 5 or 6 each, 2 or 3 at each rank; over 2
    // nodes, everything on both, 4 at each rank.
    for id in ["a1", "a2", "a3"] {
        assert!((5..=6).contains(&p.shards_of_node(id).len()), "{id}");
        for rank in [ReplicaRank(0), ReplicaRank(1)] {
            assert!((2..=3).contains(&p.shards_of_node_at(id, rank).len()), "{id} at {rank}");
        }
    }
    assert_eq!(p.shards_of_node("b1").len(), 8);
    assert_eq!(p.shards_of_node_at("b1", ReplicaRank(0)).len(), 4);
}

#[test]
fn seven_shards_over_three_nodes_leave_no_node_idle() {
    // Plain HRW put 4, 3 and 0 shards on these nodes (the cluster issue 11 measured).
    let p = placement(7, 1, &[("node-0", "g"), ("node-1", "g"), ("node-2", "g")]);
    let mut loads: Vec<usize> = ["node-0", "node-1", "node-2"].iter().map(|id| p.shards_of_node(id).len()).collect();
    loads.sort_unstable();
    assert_eq!(loads, [2, 2, 3]);
}

#[test]
fn rf_larger_than_group_takes_the_whole_group() {
    let p = placement(4, 5, &[("a1", "a"), ("a2", "a"), ("b1", "b")]);
    for shard in p.shards() {
        let ids: BTreeSet<&str> = p.replicas(shard).iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, BTreeSet::from(["a1", "a2", "b1"]));
    }
    assert_eq!(p.shards_of_node("b1"), p.shards().collect::<Vec<_>>());
}

#[test]
fn ties_go_to_the_greater_name() {
    // Real 64-bit collisions are not findable, so the tie rule is checked on crafted scores.
    let scored = || vec![(7, "shard-2", 0), (9, "shard-1", 1), (9, "shard-10", 2), (3, "shard-9", 3)];
    assert_eq!(best_scored(scored().into_iter()), Some(2));
    assert_eq!(best_scored(std::iter::empty()), None);
    assert_eq!(hrw_winner::<&str>(&[], "1"), None);
}

#[test]
fn lookups_for_unknown_things_are_empty() {
    let p = placement(2, 1, &[("a", "g")]);
    assert!(p.shards_of_node("nope").is_empty());
    assert!(p.replicas_in_group(ShardId(0), "nope").is_empty());
    assert!(p.replicas(ShardId(9)).is_empty());
}

#[test]
fn group_by_shard_keeps_every_id_once_in_order() {
    let p = placement(4, 1, &[("a", "g")]);
    let ids: Vec<String> = (0..100).map(|i| format!("doc-{i}")).collect();
    let groups = p.partition_by_shard(ids.iter().map(String::as_str), |id| id);
    let total: usize = groups.values().map(Vec::len).sum();
    assert_eq!(total, 100);
    for (shard, members) in &groups {
        assert!(members.iter().all(|id| p.shard_of(id) == *shard));
        let positions: Vec<usize> = members.iter().map(|id| ids.iter().position(|x| x == id).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]));
    }
}

// ---- properties ----

fn node_ids() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-z0-9-]{1,12}", 2..10).prop_map(|s| s.into_iter().collect())
}

fn single_group(shards: u32, rf: u32, ids: &[String]) -> Placement {
    let nodes = ids.iter().map(|id| node(id, "g")).collect();
    Placement::new(Topology::new(1, shards, rf, nodes).unwrap())
}

/// Every node of each group holds `⌊S·RF/N⌋` or `⌈S·RF/N⌉` replicas, and each shard has
/// `min(RF, N)` replicas per group on distinct nodes.
fn assert_balanced(p: &Placement) {
    let topology = p.topology();
    for group in p.replica_groups() {
        let members: Vec<&str> = topology.nodes.iter().filter(|n| &n.replica_group == group).map(|n| n.id.as_str()).collect();
        let copies = (topology.replication_factor as usize).min(members.len());
        let total = topology.shard_count as usize * copies;
        let (floor, ceil) = (total / members.len(), total.div_ceil(members.len()));
        for shard in p.shards() {
            let holders: BTreeSet<String> = p.replicas_in_group(shard, group).iter().map(|n| n.id.clone()).collect();
            assert_eq!(holders.len(), copies, "{shard} in {group}: {holders:?}");
        }
        for id in members {
            let held = p.shards_of_node(id).len();
            assert!((floor..=ceil).contains(&held), "{id} holds {held}, not within {floor}..={ceil}");
        }
    }
}

fn holders(p: &Placement) -> Vec<BTreeSet<String>> {
    p.shards().map(|s| p.replicas(s).iter().map(|n| n.id.clone()).collect()).collect()
}

/// Replicas that sit on a node after a change and did not before.
fn moved_replicas(before: &[BTreeSet<String>], after: &[BTreeSet<String>]) -> usize {
    before.iter().zip(after).map(|(old, new)| new.difference(old).count()).sum()
}

/// `Σ H(nodeId, shardName)` over every replica placed.
fn placement_score(holders: &[BTreeSet<String>]) -> u128 {
    holders.iter().enumerate().flat_map(|(k, h)| h.iter().map(move |id| u128::from(hrw_hash(id, &ShardId(k as u32).name())))).sum()
}

/// The highest score of any balanced placement, by enumerating every choice of holders.
fn best_balanced_score(ids: &[String], shards: u32, copies: usize) -> u128 {
    let subsets: Vec<BTreeSet<String>> = (0u32..1 << ids.len())
        .filter(|mask| mask.count_ones() as usize == copies)
        .map(|mask| ids.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, id)| id.clone()).collect())
        .collect();
    let total = shards as usize * copies;
    let (floor, ceil) = (total / ids.len(), total.div_ceil(ids.len()));
    let mut best = 0;
    let mut choice = vec![0usize; shards as usize];
    loop {
        let holders: Vec<BTreeSet<String>> = choice.iter().map(|&c| subsets[c].clone()).collect();
        if ids.iter().all(|id| (floor..=ceil).contains(&holders.iter().filter(|h| h.contains(id)).count())) {
            best = best.max(placement_score(&holders));
        }
        // The next choice, odometer style.
        let Some(k) = choice.iter().position(|&c| c + 1 < subsets.len()) else {
            return best;
        };
        choice[k] += 1;
        choice[..k].iter_mut().for_each(|c| *c = 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// 12k random ids: every shard within 15% of the mean (≥ 7 standard deviations at S = 8).
    #[test]
    fn documents_spread_evenly(shards in 2u32..9, seed in any::<u64>()) {
        let p = single_group(shards, 1, &["n".to_owned()]);
        let mut counts: HashMap<ShardId, u32> = HashMap::new();
        let n = 12_000u32;
        for i in 0..n {
            *counts.entry(p.shard_of(&format!("{seed:x}-{i}"))).or_default() += 1;
        }
        let mean = f64::from(n) / f64::from(shards);
        prop_assert_eq!(counts.len() as u32, shards);
        for (shard, count) in counts {
            prop_assert!((f64::from(count) - mean).abs() < 0.15 * mean, "{} got {} (mean {})", shard, count, mean);
        }
    }

    /// Every node holds ⌊S·RF/N⌋ or ⌈S·RF/N⌉ replicas; a shard's replicas are on distinct nodes.
    #[test]
    fn every_node_holds_its_fair_share(ids in node_ids(), shards in 1u32..200, rf in 1u32..4) {
        let p = single_group(shards, rf, &ids);
        let copies = rf.min(ids.len() as u32) as usize;
        let total = shards as usize * copies;
        let (floor, ceil) = (total / ids.len(), total.div_ceil(ids.len()));
        for id in &ids {
            let held = p.shards_of_node(id).len();
            prop_assert!((floor..=ceil).contains(&held), "{} holds {} (fair share {}..={})", id, held, floor, ceil);
        }
        for shard in p.shards() {
            let holders: BTreeSet<&str> = p.replicas(shard).iter().map(|n| n.id.as_str()).collect();
            prop_assert_eq!(holders.len(), copies);
        }
    }

    /// A read of some of a node's shards: one part per rank, covering exactly those shards,
    /// whole exactly when it asks for everything the node index holds.
    #[test]
    fn node_index_parts_cover_what_is_asked(ids in node_ids(), shards in 1u32..40, rf in 1u32..4, pick in any::<u64>()) {
        let p = single_group(shards, rf, &ids);
        for id in &ids {
            let held = p.shards_of_node(id);
            let asked: Vec<ShardId> = held.iter().copied().enumerate().filter(|(i, _)| pick >> (i % 64) & 1 == 1).map(|(_, s)| s).collect();
            let parts = p.node_index_parts(id, &asked);
            let covered: Vec<ShardId> = { let mut c: Vec<ShardId> = parts.iter().flat_map(|part| part.shards.clone()).collect(); c.sort(); c };
            prop_assert_eq!(&covered, &asked);
            for part in &parts {
                prop_assert!(part.shards.iter().all(|&s| p.rank_of(s, id) == Some(part.rank)));
                prop_assert_eq!(part.whole, part.shards == p.shards_of_node_at(id, part.rank));
            }
            let all = p.node_index_parts(id, &held);
            prop_assert!(all.iter().all(|part| part.whole), "asking for everything a node holds needs no filter");
        }
    }

    /// A search asks every node for one rank, so every rank is spread like the shards are: at
    /// each rank a node holds `⌊S/N⌋` to `⌈S/N⌉ + 1` shards, and its ranks differ by at most one.
    #[test]
    fn every_rank_is_spread_evenly(ids in node_ids(), shards in 1u32..120, rf in 1u32..4) {
        let p = single_group(shards, rf, &ids);
        let n = ids.len() as u32;
        let rf = rf.min(n);
        for id in &ids {
            let counts: Vec<u32> = (0..rf).map(|r| p.shards_of_node_at(id, ReplicaRank(r)).len() as u32).collect();
            let (low, high) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
            prop_assert!(high - low <= 1, "{id}: {counts:?}");
            prop_assert!(high <= shards.div_ceil(n) + 1 && low + 1 >= shards / n, "{id}: {counts:?} for S={shards} N={n}");
            prop_assert_eq!(counts.iter().sum::<u32>() as usize, p.shards_of_node(id).len());
        }
    }

    /// The order of nodes in the topology changes neither where a replica goes nor its rank.
    #[test]
    fn placement_depends_on_the_node_set_only(ids in node_ids(), shards in 1u32..40, rf in 1u32..4, shift in any::<usize>()) {
        let by_rank = |p: &Placement| -> Vec<Vec<String>> { p.shards().map(|s| p.replicas(s).iter().map(|n| n.id.clone()).collect()).collect() };
        let mut reordered = ids.clone();
        reordered.rotate_left(shift % ids.len());
        reordered.reverse();
        prop_assert_eq!(by_rank(&single_group(shards, rf, &ids)), by_rank(&single_group(shards, rf, &reordered)));
    }

    /// Any chain of joins and leaves, each placement derived from the one before, stays
    /// balanced and moves exactly the replicas the change forces (a joiner's share, a leaver's
    /// replicas).
    #[test]
    fn derived_placements_stay_balanced_and_move_only_what_is_forced(
        ids in node_ids(), shards in 1u32..60, rf in 1u32..3, steps in prop::collection::vec((any::<bool>(), any::<usize>()), 1..6)
    ) {
        let mut current_ids = ids.clone();
        let mut current = single_group(shards, rf, &current_ids);
        for (step, (join, pick)) in steps.into_iter().enumerate() {
            let (next_ids, forced_node) = if join || current_ids.len() <= 2 {
                let newcomer = format!("joiner-{step}");
                let mut next = current_ids.clone();
                next.push(newcomer.clone());
                (next, newcomer)
            } else {
                let leaver = current_ids[pick % current_ids.len()].clone();
                (current_ids.iter().filter(|id| **id != leaver).cloned().collect(), leaver)
            };
            let next = Placement::after(&current, single_group(shards, rf, &next_ids).topology().clone());
            assert_balanced(&next);
            let forced = if next_ids.contains(&forced_node) { next.shards_of_node(&forced_node).len() } else { current.shards_of_node(&forced_node).len() };
            // At most one replica more than the change forces: keeping every node within the
            // ⌊⌋/⌈⌉ counts and every rank spread can take one more move (seen: 7 nodes, S = 5,
            // RF = 2, a join moved 2 replicas for a share of 1; 3,000 random chains never more).
            let moved = moved_replicas(&holders(&current), &holders(&next));
            prop_assert!(moved >= forced && moved <= forced + 1, "moved {} replicas, forced {}", moved, forced);
            current = next;
            current_ids = next_ids;
        }
    }

    /// On clusters small enough to enumerate, no balanced placement scores higher.
    #[test]
    fn no_balanced_placement_scores_higher(ids in prop::collection::btree_set("[a-z]{1,4}", 2..4), shards in 1u32..5, rf in 1u32..3) {
        let ids: Vec<String> = ids.into_iter().collect();
        let p = single_group(shards, rf, &ids);
        let chosen = placement_score(&holders(&p));
        let best = best_balanced_score(&ids, shards, rf.min(ids.len() as u32) as usize);
        prop_assert_eq!(chosen, best);
    }

    /// The newcomer takes a fair share. (How many other replicas move is not bounded here: the
    /// placement from the topology alone cannot always move only the ideal — a counting argument,
    /// docs/benchmarks.md "Placement movement" — so a topology change derives its placement with
    /// `Placement::after`, whose tests bound the movement exactly.)
    #[test]
    fn adding_a_node_gives_it_a_fair_share(ids in node_ids(), extra in "[A-Z]{1,6}", shards in 1u32..64, rf in 1u32..4) {
        let before = holders(&single_group(shards, rf, &ids));
        let mut grown = ids.clone();
        grown.push(extra.clone());
        let after = holders(&single_group(shards, rf, &grown));
        let taken = after.iter().filter(|h| h.contains(&extra)).count();
        let copies = rf.min(grown.len() as u32) as usize * shards as usize;
        prop_assert!((copies / grown.len()..=copies.div_ceil(grown.len())).contains(&taken));
        let moved = moved_replicas(&before, &after);
        prop_assert!(moved >= taken);
    }

    /// The leaver's replicas all land somewhere (movement: see the test above).
    #[test]
    fn removing_a_node_moves_all_of_its_share(ids in node_ids(), pick in any::<usize>(), shards in 1u32..64, rf in 1u32..3) {
        prop_assume!(ids.len() > rf as usize);
        let leaver = &ids[pick % ids.len()];
        let rest: Vec<String> = ids.iter().filter(|id| *id != leaver).cloned().collect();
        let before = holders(&single_group(shards, rf, &ids));
        let after = holders(&single_group(shards, rf, &rest));
        let share = before.iter().filter(|h| h.contains(leaver)).count();
        let moved = moved_replicas(&before, &after);
        prop_assert!(moved >= share);
        prop_assert!(after.iter().all(|h| !h.contains(leaver)));
    }

    #[test]
    fn adding_a_shard_only_moves_documents_onto_it(shards in 1u32..8, seed in any::<u64>()) {
        let before = single_group(shards, 1, &["n".to_owned()]);
        let after = single_group(shards + 1, 1, &["n".to_owned()]);
        for i in 0..2_000 {
            let id = format!("{seed:x}-{i}");
            let (old, new) = (before.shard_of(&id), after.shard_of(&id));
            prop_assert!(old == new || new == ShardId(shards), "{} moved {} → {}", id, old, new);
        }
    }

    #[test]
    fn groups_are_placed_independently(ids in node_ids(), rf in 1u32..3) {
        // Adding a whole second group leaves the first group's placement as it was.
        let alone = single_group(32, rf, &ids);
        let mut nodes: Vec<Node> = ids.iter().map(|id| node(id, "g")).collect();
        // `_` never occurs in generated ids, so the second group's names cannot collide with the first's.
        nodes.extend(ids.iter().map(|id| node(&format!("{id}_h"), "h")));
        let both = Placement::new(Topology::new(1, 32, rf, nodes).unwrap());
        for shard in alone.shards() {
            let a: Vec<&str> = alone.replicas_in_group(shard, "g").iter().map(|n| n.id.as_str()).collect();
            let b: Vec<&str> = both.replicas_in_group(shard, "g").iter().map(|n| n.id.as_str()).collect();
            prop_assert_eq!(a, b);
            prop_assert_eq!(both.replicas_in_group(shard, "h").len(), rf.min(ids.len() as u32) as usize);
        }
    }
}

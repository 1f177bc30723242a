use super::*;
use crate::topology::Node;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

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
fn replicas_follow_node_hrw_within_each_group() {
    let nodes = [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("b2", "b")];
    let p = placement(8, 2, &nodes);
    for shard in p.shards() {
        let name = shard.name();
        for (group, ids) in [("a", vec!["a1", "a2", "a3"]), ("b", vec!["b1", "b2"])] {
            let mut ranked: Vec<(u64, &str)> = ids.iter().map(|id| (hrw_hash(id, &name), *id)).collect();
            ranked.sort_by(|x, y| y.cmp(x));
            let expected: Vec<&str> = ranked.iter().take(2).map(|(_, id)| *id).collect();
            let got: Vec<&str> = p.replicas_in_group(shard, group).iter().map(|n| n.id.as_str()).collect();
            assert_eq!(got, expected, "{name} in {group}");
        }
        assert_eq!(p.replicas(shard).len(), 4);
    }
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
    assert_eq!(ranked_best_first(scored()), [2, 1, 0, 3]);
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
    let groups = p.group_by_shard(ids.iter().map(String::as_str));
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

fn holders(p: &Placement) -> Vec<BTreeSet<String>> {
    p.shards().map(|s| p.replicas(s).iter().map(|n| n.id.clone()).collect()).collect()
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

    /// 1024 shards: every node holds within 50% of its fair share S·RF/N.
    #[test]
    fn shards_spread_evenly_over_nodes(ids in node_ids(), rf in 1u32..4) {
        let p = single_group(1024, rf, &ids);
        let copies = rf.min(ids.len() as u32);
        let mean = 1024.0 * f64::from(copies) / ids.len() as f64;
        for id in &ids {
            let held = p.shards_of_node(id).len() as f64;
            prop_assert!((held - mean).abs() < 0.5 * mean, "{} holds {} (mean {})", id, held, mean);
        }
        for shard in p.shards() {
            prop_assert_eq!(p.replicas(shard).len() as u32, copies);
        }
    }

    #[test]
    fn adding_a_node_only_moves_shards_onto_it(ids in node_ids(), extra in "[A-Z]{1,6}", rf in 1u32..4) {
        let before = holders(&single_group(64, rf, &ids));
        let mut grown = ids.clone();
        grown.push(extra.clone());
        let after = holders(&single_group(64, rf, &grown));
        for (old, new) in before.iter().zip(&after) {
            if new.contains(&extra) {
                // The newcomer took at most one seat; everyone else kept theirs or gave it up.
                prop_assert!(new.iter().filter(|id| **id != extra).all(|id| old.contains(id)));
                prop_assert!(old.difference(new).count() <= 1);
            } else {
                prop_assert_eq!(old, new);
            }
        }
    }

    #[test]
    fn removing_a_node_only_moves_its_shards(ids in node_ids(), victim in any::<prop::sample::Index>(), rf in 1u32..4) {
        let p = single_group(64, rf, &ids);
        let before = holders(&p);
        let gone = ids[victim.index(ids.len())].clone();
        let held: BTreeSet<ShardId> = p.shards_of_node(&gone).into_iter().collect();
        let rest: Vec<String> = ids.iter().filter(|id| **id != gone).cloned().collect();
        let after = holders(&single_group(64, rf, &rest));
        for (k, (old, new)) in before.iter().zip(&after).enumerate() {
            if held.contains(&ShardId(k as u32)) {
                prop_assert!(old.iter().filter(|id| **id != gone).all(|id| new.contains(id)));
            } else {
                prop_assert_eq!(old, new);
            }
        }
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

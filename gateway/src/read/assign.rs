//! Picking one replica per shard for a read, and grouping the shards by the chosen node so each
//! node gets one request. Pure.

use miroir_schemas::topology::ShardId;
use std::collections::BTreeMap;
use std::time::Instant;

/// The outcome of one assignment round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Node position → the shards it answers for, ascending.
    pub by_node: BTreeMap<usize, Vec<ShardId>>,
    /// Shards none of whose replicas may still be tried.
    pub unservable: Vec<ShardId>,
}

/// For each shard, among its replicas (node positions) that `excluded` does not rule out: the
/// `turn`-th usable one round-robin, else (all benched) the one whose bench ends first.
/// `benched_until[node]` is `Some` for a benched node.
pub fn assign(
    shards: &[ShardId],
    replicas: impl Fn(ShardId) -> Vec<usize>,
    benched_until: &[Option<Instant>],
    excluded: impl Fn(ShardId, usize) -> bool,
    turn: usize,
) -> Assignment {
    let mut assignment = Assignment::default();
    for &shard in shards {
        let candidates: Vec<usize> = replicas(shard).into_iter().filter(|&node| !excluded(shard, node)).collect();
        let benched = |node: usize| benched_until.get(node).copied().flatten();
        let usable: Vec<usize> = candidates.iter().copied().filter(|&node| benched(node).is_none()).collect();
        let chosen = if usable.is_empty() {
            // every replica is benched: trying one beats failing outright
            candidates.iter().copied().min_by_key(|&node| (benched(node), node))
        } else {
            Some(usable[turn % usable.len()])
        };
        match chosen {
            Some(node) => assignment.by_node.entry(node).or_default().push(shard),
            None => assignment.unservable.push(shard),
        }
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::time::Duration;

    fn replicas_strategy() -> impl Strategy<Value = (usize, Vec<Vec<usize>>)> {
        (1usize..6).prop_flat_map(|nodes| {
            (Just(nodes), proptest::collection::vec(proptest::collection::btree_set(0..nodes, 1..=nodes), 1..10))
                .prop_map(|(nodes, sets)| (nodes, sets.into_iter().map(|s| s.into_iter().collect()).collect()))
        })
    }

    proptest! {
        #[test]
        fn every_shard_goes_to_one_allowed_replica(
            (nodes, replicas) in replicas_strategy(),
            benched in proptest::collection::vec(proptest::option::of(1u64..100), 6),
            excluded_bits in proptest::collection::vec(any::<bool>(), 60),
            turn in 0usize..100,
        ) {
            let now = Instant::now();
            let benched: Vec<Option<Instant>> = benched[..nodes].iter().map(|b| b.map(|s| now + Duration::from_secs(s))).collect();
            let shards: Vec<ShardId> = (0..replicas.len() as u32).map(ShardId).collect();
            let excluded = |shard: ShardId, node: usize| excluded_bits[shard.0 as usize * 6 + node];
            let result = assign(&shards, |s| replicas[s.0 as usize].clone(), &benched, excluded, turn);

            let mut seen = BTreeSet::new();
            for (&node, node_shards) in &result.by_node {
                for &shard in node_shards {
                    prop_assert!(seen.insert(shard), "shard assigned twice");
                    prop_assert!(replicas[shard.0 as usize].contains(&node));
                    prop_assert!(!excluded(shard, node));
                    let usable_exists = replicas[shard.0 as usize].iter().any(|&n| !excluded(shard, n) && benched[n].is_none());
                    if usable_exists {
                        prop_assert!(benched[node].is_none(), "a benched node was chosen over a usable one");
                    }
                }
            }
            for &shard in &result.unservable {
                prop_assert!(seen.insert(shard));
                prop_assert!(replicas[shard.0 as usize].iter().all(|&n| excluded(shard, n)));
            }
            prop_assert_eq!(seen.len(), shards.len());
        }
    }

    #[test]
    fn round_robin_spreads_turns_over_usable_replicas() {
        let shards = [ShardId(0)];
        let chosen: Vec<usize> =
            (0..4).map(|turn| *assign(&shards, |_| vec![2, 5], &[None; 6], |_, _| false, turn).by_node.keys().next().unwrap()).collect();
        assert_eq!(chosen, [2, 5, 2, 5]);
    }

    #[test]
    fn all_benched_picks_the_earliest_release() {
        let now = Instant::now();
        let benched = [Some(now + Duration::from_secs(60)), Some(now + Duration::from_secs(30))];
        let result = assign(&[ShardId(3)], |_| vec![0, 1], &benched, |_, _| false, 0);
        assert_eq!(result.by_node.into_iter().collect::<Vec<_>>(), [(1, vec![ShardId(3)])]);
    }
}

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

/// For each shard, among its replicas (node positions, in the caller's order of preference)
/// that `excluded` does not rule out: the first usable one, else (all benched) the one whose
/// bench ends first. `benched_until[node]` is `Some` for a benched node. Preferring the same
/// replicas every time keeps a query on the same node indexes (see `gather_from_group`).
pub fn assign(
    shards: &[ShardId],
    replicas: impl Fn(ShardId) -> Vec<usize>,
    benched_until: &[Option<Instant>],
    excluded: impl Fn(ShardId, usize) -> bool,
) -> Assignment {
    let mut assignment = Assignment::default();
    for &shard in shards {
        let candidates: Vec<usize> = replicas(shard).into_iter().filter(|&node| !excluded(shard, node)).collect();
        let benched = |node: usize| benched_until.get(node).copied().flatten();
        let chosen = match candidates.iter().copied().find(|&node| benched(node).is_none()) {
            Some(usable) => Some(usable),
            // every replica is benched: trying one beats failing outright
            None => candidates.iter().copied().min_by_key(|&node| (benched(node), node)),
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
        ) {
            let now = Instant::now();
            let benched: Vec<Option<Instant>> = benched[..nodes].iter().map(|b| b.map(|s| now + Duration::from_secs(s))).collect();
            let shards: Vec<ShardId> = (0..replicas.len() as u32).map(ShardId).collect();
            let excluded = |shard: ShardId, node: usize| excluded_bits[shard.0 as usize * 6 + node];
            let result = assign(&shards, |s| replicas[s.0 as usize].clone(), &benched, excluded);

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
    fn the_first_usable_replica_in_preference_order_is_chosen() {
        let now = Instant::now();
        let mut benched = [None; 6];
        let first =
            |benched: &[Option<Instant>]| *assign(&[ShardId(0)], |_| vec![2, 5, 1], benched, |_, _| false).by_node.keys().next().unwrap();
        assert_eq!(first(&benched), 2);
        benched[2] = Some(now + Duration::from_secs(30));
        assert_eq!(first(&benched), 5);
    }

    #[test]
    fn all_benched_picks_the_earliest_release() {
        let now = Instant::now();
        let benched = [Some(now + Duration::from_secs(60)), Some(now + Duration::from_secs(30))];
        let result = assign(&[ShardId(3)], |_| vec![0, 1], &benched, |_, _| false);
        assert_eq!(result.by_node.into_iter().collect::<Vec<_>>(), [(1, vec![ShardId(3)])]);
    }
}

use super::*;
use crate::read::assign::assign;
use miroir_schemas::topology::ShardId;
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
    prop::collection::vec((0u32..3, any::<bool>()), 1..5).prop_map(|replicas| {
        replicas
            .into_iter()
            .enumerate()
            .map(|(node, (rank, benched))| Candidate { node_id: format!("node-{node}"), group: "g".into(), rank, benched })
            .collect()
    })
}

proptest! {
    /// The reason told for a replica is the rule `assign` applied: the first replica in
    /// preference order, else the first that is not benched (naming those skipped), else the
    /// benched one released first.
    #[test]
    fn the_reason_matches_the_choice_the_read_makes(candidates in candidates(), release in prop::collection::vec(1u64..100, 5)) {
        let now = Instant::now();
        let benched: Vec<Option<Instant>> = candidates.iter().enumerate().map(|(node, c)| c.benched.then(|| now + Duration::from_secs(release[node]))).collect();
        let assignment = assign(&[ShardId(0)], |_| (0..candidates.len()).collect(), &benched, |_, _| false);
        let chosen = assignment.by_node.keys().next().copied();
        let choice = ShardChoice { shard: 0, candidates: candidates.clone(), chosen };
        let reason = replica_reason(&choice);
        let chosen = chosen.expect("some replica is always tried");
        if candidates.iter().all(|c| c.benched) {
            prop_assert!(reason.starts_with("every replica is benched"), "{}", reason);
        } else if chosen == 0 {
            prop_assert!(reason.starts_with("first in preference order"), "{}", reason);
        } else {
            prop_assert!(candidates[..chosen].iter().all(|c| c.benched));
            let named: Vec<String> = candidates[..chosen].iter().map(|c| format!("`{}`", c.node_id)).collect();
            prop_assert!(reason.ends_with(&format!("{} benched after failing", named.join(", "))), "{}", reason);
        }
    }

    /// In a run, the first call asking a shard in a round is `first`; any later one asking it
    /// again (a hedge, a failover) says so.
    #[test]
    fn repeated_shards_are_told_apart(calls in prop::collection::vec((0usize..2, prop::collection::btree_set(0u32..4, 1..3)), 1..8)) {
        let facts: Vec<CallFacts> = calls.iter().map(|(round, shards)| CallFacts {
            round: *round, node_id: "n".into(), shards: shards.iter().copied().collect(), started_ms: 0.0, took_ms: 1.0, outcome: CallOutcome::Answered,
        }).collect();
        let narrowing = Narrowing { shard_count: 4, asked: vec![0, 1, 2, 3], primary_key: None, pinned_ids: None };
        let view = run_view(&narrowing, &[RoundFacts { hits_per_node: 20 }, RoundFacts { hits_per_node: 80 }], &facts, 3.0);
        for round in 0..2 {
            let mut seen = std::collections::BTreeSet::new();
            let shown = view["rounds"][round]["calls"].as_array().unwrap();
            let expected: Vec<&CallFacts> = facts.iter().filter(|call| call.round == round).collect();
            prop_assert_eq!(shown.len(), expected.len());
            for (shown, call) in shown.iter().zip(expected) {
                let again = call.shards.iter().any(|shard| seen.contains(shard));
                seen.extend(call.shards.iter().copied());
                prop_assert_eq!(shown["kind"].as_str(), Some(if again { "hedge or failover" } else { "first" }));
            }
        }
    }
}

#[test]
fn narrowing_says_why() {
    let all = Narrowing { shard_count: 3, asked: vec![0, 1, 2], primary_key: Some("id".into()), pinned_ids: None };
    assert_eq!(narrowing_view(&all)["narrowedByPrimaryKey"], Value::Null);
    let pinned = Narrowing { asked: vec![2], pinned_ids: Some(vec!["42".into()]), ..all };
    let view = narrowing_view(&pinned);
    assert_eq!(view["narrowedByPrimaryKey"], json!({"primaryKey": "id", "ids": ["42"]}));
    assert_eq!(view["why"], "the filter pins the primary key `id` to 1 value(s): only the shards owning them are asked");
}

//! What a reshard verifies (pure): per shard of the new layout, how many documents and which
//! ids its replicas hold, against what the old layout held for that shard.

use miroir_schemas::topology::ShardId;
use std::collections::BTreeMap;

/// A count of ids and an order-free digest of them (the wrapping sum of each id's hash), so
/// two replicas holding the same ids agree whatever order they were read in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub digest: u64,
}

impl Tally {
    pub fn add(&mut self, id: &str) {
        self.count += 1;
        self.digest = self.digest.wrapping_add(super::id_digest(id));
    }
}

/// Every replica (node, shard, what it holds) that does not hold exactly what the old layout
/// held for its shard, described for the operator.
pub fn mismatches(expected: &BTreeMap<ShardId, Tally>, found: &[(String, ShardId, Tally)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (node, shard, tally) in found {
        let wanted = expected.get(shard).copied().unwrap_or_default();
        if *tally != wanted {
            problems.push(format!(
                "{shard} on {node} holds {} documents (digest {:x}), the old layout {} (digest {:x})",
                tally.count, tally.digest, wanted.count, wanted.digest
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tally(ids: &[&str]) -> Tally {
        let mut tally = Tally::default();
        ids.iter().for_each(|id| tally.add(id));
        tally
    }

    #[test]
    fn a_missing_or_swapped_document_is_a_mismatch() {
        let expected = BTreeMap::from([(ShardId(0), tally(&["a", "b"])), (ShardId(1), tally(&["c"]))]);
        let same = [("n1".to_owned(), ShardId(0), tally(&["b", "a"])), ("n2".to_owned(), ShardId(1), tally(&["c"]))];
        assert!(mismatches(&expected, &same).is_empty());
        let wrong = [("n1".to_owned(), ShardId(0), tally(&["a", "c"])), ("n2".to_owned(), ShardId(1), tally(&[]))];
        let problems = mismatches(&expected, &wrong);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].starts_with("shard-1 on n2 holds 0 documents"), "{problems:?}");
        // A shard the old layout had nothing for must stay empty.
        assert_eq!(mismatches(&expected, &[("n3".to_owned(), ShardId(2), tally(&["z"]))]).len(), 1);
    }

    proptest! {
        #[test]
        fn the_digest_ignores_order_and_sees_any_change(mut ids in prop::collection::btree_set("[a-z0-9]{1,12}", 1..50), extra in "[A-Z]{1,5}") {
            let ids: Vec<String> = std::mem::take(&mut ids).into_iter().collect();
            let forward = ids.iter().fold(Tally::default(), |mut t, id| { t.add(id); t });
            let backward = ids.iter().rev().fold(Tally::default(), |mut t, id| { t.add(id); t });
            prop_assert_eq!(forward, backward);
            let mut changed = ids.clone();
            changed[0] = extra;
            let other = changed.iter().fold(Tally::default(), |mut t, id| { t.add(id); t });
            prop_assert_ne!(forward, other);
        }
    }
}

//! Which group member owns which partition (pure). Used by the memory and NATS backends; Kafka
//! uses its broker-side group protocol instead.

use std::collections::BTreeMap;

/// Splits partitions `0..partitions` over `members` round-robin in name order: every partition
/// gets exactly one owner, counts differ by at most one, and every member computes the same
/// answer from the same member list.
pub fn assign_partitions(partitions: u32, members: &[String]) -> BTreeMap<String, Vec<u32>> {
    let mut sorted: Vec<&String> = members.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out: BTreeMap<String, Vec<u32>> = sorted.iter().map(|m| ((*m).clone(), Vec::new())).collect();
    if sorted.is_empty() {
        return out;
    }
    for partition in 0..partitions {
        let owner = sorted[partition as usize % sorted.len()];
        out.get_mut(owner).expect("owner is a member").push(partition);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_partition_has_one_owner_and_load_is_even(
            partitions in 1u32..40,
            members in proptest::collection::vec("[a-z]{1,6}", 1..8),
        ) {
            let assignment = assign_partitions(partitions, &members);
            let mut seen: Vec<u32> = assignment.values().flatten().copied().collect();
            seen.sort();
            prop_assert_eq!(seen, (0..partitions).collect::<Vec<_>>());
            let sizes: Vec<usize> = assignment.values().map(Vec::len).collect();
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            let mut shuffled = members.clone();
            shuffled.reverse();
            prop_assert_eq!(assign_partitions(partitions, &shuffled), assignment);
        }
    }

    #[test]
    fn no_members_no_owners() {
        assert!(assign_partitions(4, &[]).is_empty());
    }
}

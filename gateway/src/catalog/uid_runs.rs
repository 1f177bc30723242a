//! A set of task uids written compactly into a log record: as runs of consecutive uids, each
//! run given by its distance from the previous run's end and its length. A `taskDeletion` names
//! the tasks it deletes this way, so deleting a million consecutive tasks takes a few bytes and
//! a scattered set about 4 bytes per uid (Meilisearch keeps the same set as a roaring bitmap).
//!
//! JSON form: a flat array `[gap₀, len₀, gap₁, len₁, …]`, the first gap counted from 0, every
//! later gap from the end (exclusive) of the run before it, so every gap after the first is ≥ 1.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Sorted, distinct task uids held as runs `(start, length)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UidRuns {
    runs: Vec<(u64, u64)>,
}

impl UidRuns {
    /// The set of `uids`, given in increasing order (repeats are ignored).
    pub fn from_sorted(uids: impl IntoIterator<Item = u64>) -> Self {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for uid in uids {
            match runs.last_mut() {
                Some((start, length)) if uid < *start + *length => debug_assert!(uid >= *start, "uids must come sorted"),
                Some((start, length)) if uid == *start + *length => *length += 1,
                _ => runs.push((uid, 1)),
            }
        }
        UidRuns { runs }
    }

    /// Every uid, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.runs.iter().flat_map(|&(start, length)| start..start + length)
    }

    pub fn len(&self) -> u64 {
        self.runs.iter().map(|(_, length)| length).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The first `count` uids.
    pub fn first(&self, count: u64) -> UidRuns {
        UidRuns::from_sorted(self.iter().take(count as usize))
    }

    /// Bytes of the JSON form.
    pub fn encoded_len(&self) -> usize {
        serde_json::to_vec(self).expect("uid runs serialize").len()
    }

    /// The longest prefix (oldest uids first) whose JSON form takes at most `budget` bytes.
    pub fn fitting(&self, budget: usize) -> UidRuns {
        if self.encoded_len() <= budget {
            return self.clone();
        }
        // The size grows with the prefix length: search the largest prefix that fits.
        let (mut fits, mut too_big) = (0, self.len());
        while too_big - fits > 1 {
            let middle = fits + (too_big - fits) / 2;
            if self.first(middle).encoded_len() <= budget {
                fits = middle;
            } else {
                too_big = middle;
            }
        }
        self.first(fits)
    }
}

impl Serialize for UidRuns {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut flat = Vec::with_capacity(self.runs.len() * 2);
        let mut end = 0;
        for &(start, length) in &self.runs {
            flat.push(start - end);
            flat.push(length);
            end = start + length;
        }
        flat.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for UidRuns {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let flat = Vec::<u64>::deserialize(deserializer)?;
        if flat.len() % 2 != 0 {
            return Err(D::Error::custom("uid runs come in (gap, length) pairs"));
        }
        let mut runs = Vec::with_capacity(flat.len() / 2);
        let mut end: u64 = 0;
        for (index, pair) in flat.chunks_exact(2).enumerate() {
            let (gap, length) = (pair[0], pair[1]);
            if length == 0 || (index > 0 && gap == 0) {
                return Err(D::Error::custom("uid runs are non-empty and separated"));
            }
            let start = end.checked_add(gap).ok_or_else(|| D::Error::custom("uid out of range"))?;
            end = start.checked_add(length).ok_or_else(|| D::Error::custom("uid out of range"))?;
            runs.push((start, length));
        }
        Ok(UidRuns { runs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn consecutive_uids_take_one_run() {
        let runs = UidRuns::from_sorted([3, 4, 5, 6, 9, 10, 20]);
        assert_eq!(serde_json::to_string(&runs).unwrap(), "[3,4,2,2,9,1]");
        assert_eq!(runs.len(), 7);
        assert_eq!(UidRuns::from_sorted(0..1_000_000).encoded_len(), "[0,1000000]".len());
    }

    #[test]
    fn malformed_runs_are_refused() {
        for text in ["[1]", "[0,0]", "[0,2,0,1]", "[18446744073709551615,2]"] {
            assert!(serde_json::from_str::<UidRuns>(text).is_err(), "{text}");
        }
    }

    proptest! {
        /// The runs hold exactly the uids given, and their JSON reads back the same.
        #[test]
        fn runs_round_trip(uids in prop::collection::btree_set(0u64..500, 0..200)) {
            let runs = UidRuns::from_sorted(uids.iter().copied());
            prop_assert_eq!(runs.iter().collect::<BTreeSet<u64>>(), uids.clone());
            prop_assert_eq!(runs.len(), uids.len() as u64);
            let back: UidRuns = serde_json::from_str(&serde_json::to_string(&runs).unwrap()).unwrap();
            prop_assert_eq!(back, runs);
        }

        /// A prefix cut to a budget fits it, keeps the oldest uids, and is the longest that fits.
        #[test]
        fn fitting_keeps_the_longest_prefix_that_fits(uids in prop::collection::btree_set(0u64..10_000, 0..300), budget in 2usize..400) {
            let runs = UidRuns::from_sorted(uids.iter().copied());
            let kept = runs.fitting(budget);
            let kept_uids: Vec<u64> = kept.iter().collect();
            prop_assert_eq!(&kept_uids[..], &uids.iter().copied().collect::<Vec<_>>()[..kept_uids.len()]);
            prop_assert!(kept.encoded_len() <= budget || kept.is_empty());
            if kept.len() < runs.len() {
                prop_assert!(runs.first(kept.len() + 1).encoded_len() > budget);
            }
        }
    }
}

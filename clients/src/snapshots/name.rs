//! How a stored snapshot is named: the positions it covers and a digest of its bytes (pure).
//!
//! `catalog-<tasks>-<task-events>-<meta>-<digest>`, positions as 20 digits so names sort as
//! numbers. Newer snapshots cover more: ordering compares `tasks`, then the sum of the
//! `task-events` positions, then `meta`. The digest (a prefix of the body's SHA-256) makes the
//! name depend on the bytes, so two writers that snapshot the same positions write the same
//! name with the same bytes, and different bytes never share a name.

use std::fmt;
use std::str::FromStr;

use super::super::log::LogError;

const PREFIX: &str = "catalog";

/// A snapshot's name: what it covers and which bytes it holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotName {
    /// Next `tasks` position the snapshot's state has not folded.
    pub tasks: u64,
    /// Sum over `task-events` partitions of the next position not folded.
    pub task_events: u64,
    /// Next `meta` position not folded.
    pub meta: u64,
    /// Lowercase hex, 1-64 characters (a prefix of the body's SHA-256).
    pub digest: String,
}

impl SnapshotName {
    pub fn new(tasks: u64, task_events: u64, meta: u64, digest: &str) -> Result<Self, LogError> {
        let digest_ok = (1..=64).contains(&digest.len()) && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !digest_ok {
            return Err(LogError::Invalid(format!("snapshot digest `{digest}` must be 1-64 lowercase hex characters")));
        }
        Ok(SnapshotName { tasks, task_events, meta, digest: digest.to_owned() })
    }
}

impl fmt::Display for SnapshotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}-{:020}-{:020}-{:020}-{}", self.tasks, self.task_events, self.meta, self.digest)
    }
}

impl FromStr for SnapshotName {
    type Err = LogError;

    fn from_str(name: &str) -> Result<Self, LogError> {
        let invalid = || LogError::Invalid(format!("`{name}` is not a snapshot name"));
        let mut parts = name.split('-');
        if parts.next() != Some(PREFIX) {
            return Err(invalid());
        }
        let mut position = || -> Result<u64, LogError> {
            let digits = parts.next().filter(|digits| digits.len() == 20).ok_or_else(invalid)?;
            digits.parse().map_err(|_| invalid())
        };
        let (tasks, task_events, meta) = (position()?, position()?, position()?);
        let digest = parts.next().ok_or_else(invalid)?;
        if parts.next().is_some() {
            return Err(invalid());
        }
        SnapshotName::new(tasks, task_events, meta, digest).map_err(|_| invalid())
    }
}

/// The snapshot names among `names`, newest first; other names are ignored.
pub fn newest_first<S: AsRef<str>>(names: &[S]) -> Vec<SnapshotName> {
    let mut parsed: Vec<SnapshotName> = names.iter().filter_map(|name| name.as_ref().parse().ok()).collect();
    parsed.sort_unstable_by(|a, b| b.cmp(a));
    parsed.dedup();
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = SnapshotName> {
        (any::<u64>(), any::<u64>(), any::<u64>(), "[0-9a-f]{1,64}")
            .prop_map(|(tasks, task_events, meta, digest)| SnapshotName::new(tasks, task_events, meta, &digest).unwrap())
    }

    proptest! {
        #[test]
        fn a_name_reads_back(name in name()) {
            prop_assert_eq!(name.to_string().parse::<SnapshotName>().unwrap(), name);
        }

        /// Text order of names is the order of what they cover, so a store's plain listing sorts right.
        #[test]
        fn names_sort_as_their_positions(a in name(), b in name()) {
            let by_text = a.to_string().cmp(&b.to_string());
            let by_positions = (a.tasks, a.task_events, a.meta).cmp(&(b.tasks, b.task_events, b.meta));
            if by_positions != std::cmp::Ordering::Equal {
                prop_assert_eq!(by_text, by_positions);
            }
        }

        #[test]
        fn newest_first_orders_and_skips_foreign_names(names in proptest::collection::vec(name(), 0..8)) {
            let mut listed: Vec<String> = names.iter().map(ToString::to_string).collect();
            listed.push("notes.txt".into());
            let sorted = newest_first(&listed);
            prop_assert!(sorted.windows(2).all(|pair| pair[0] > pair[1]));
            prop_assert!(names.iter().all(|name| sorted.contains(name)));
        }
    }

    #[test]
    fn malformed_names_are_not_snapshots() {
        let good = SnapshotName::new(7, 3, 2, "ab12").unwrap().to_string();
        assert_eq!(good, "catalog-00000000000000000007-00000000000000000003-00000000000000000002-ab12");
        for bad in [
            "catalog-7-3-2-ab12",
            "catalog-00000000000000000007-00000000000000000003-00000000000000000002-",
            "catalog-00000000000000000007-00000000000000000003-00000000000000000002-AB12",
            "catalog-00000000000000000007-00000000000000000003-00000000000000000002-ab12-x",
            "keys-00000000000000000007-00000000000000000003-00000000000000000002-ab12",
        ] {
            assert!(bad.parse::<SnapshotName>().is_err(), "{bad}");
        }
    }
}

//! Which replicas lag behind the log, announced by the indexers in the `meta` log so gateways
//! read the replicas that have every write instead. An indexer that finds a replica behind on
//! an `ops` partition (its node was down, or came back empty) announces it, repeats the
//! announcement every [`REANNOUNCE_EVERY`] while the replica is being caught up, and announces
//! when it has caught up. A mark no one repeated for [`MARK_LIFETIME`] is void: the indexer that
//! made it may have died, or handed the partition to one that found the replica level. Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How often an indexer repeats that a replica still lags.
pub const REANNOUNCE_EVERY: Duration = Duration::from_secs(60);
/// How long a lag mark holds without being repeated.
pub const MARK_LIFETIME: Duration = Duration::from_secs(180);

/// One announcement, as one `meta` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ReplicaLagChange {
    /// `node`'s node indexes of the indexes on `ops` partition `partition` miss writes.
    ReplicaLagging {
        node: String,
        partition: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// The first `ops` position the replica may miss, so the partition's next owner catches
        /// it up from there (absent in announcements written before it existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<u64>,
    },
    /// They have every write the indexer applied to the other replicas.
    ReplicaCaughtUp {
        node: String,
        partition: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

/// The lag marks folded so far: (node, partition) → when it was last announced lagging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaLagBook {
    marks: BTreeMap<(String, u32), OffsetDateTime>,
}

impl ReplicaLagBook {
    /// Folds one announcement. Announcements of one (node, partition) come from one indexer at a
    /// time, but a new owner's may overtake an old one's: the latest time wins.
    pub fn apply(&mut self, change: &ReplicaLagChange) {
        match change {
            ReplicaLagChange::ReplicaLagging { node, partition, at, .. } => {
                let mark = self.marks.entry((node.clone(), *partition)).or_insert(*at);
                *mark = (*mark).max(*at);
            }
            ReplicaLagChange::ReplicaCaughtUp { node, partition, at } => {
                let key = (node.clone(), *partition);
                if self.marks.get(&key).is_some_and(|marked| marked <= at) {
                    self.marks.remove(&key);
                }
            }
        }
    }

    /// Whether `node` lags on `partition` at `now`.
    pub fn lags(&self, node: &str, partition: u32, now: OffsetDateTime) -> bool {
        self.marks.get(&(node.to_owned(), partition)).is_some_and(|at| now - *at < MARK_LIFETIME)
    }

    /// Every (node, partition) lagging at `now`.
    pub fn lagging(&self, now: OffsetDateTime) -> Vec<(&str, u32)> {
        self.marks.iter().filter(|(_, at)| now - **at < MARK_LIFETIME).map(|((node, partition), _)| (node.as_str(), *partition)).collect()
    }
}

/// Where each lagging replica's misses start, as the indexers announced it: what a partition's
/// next owner catches up, since the indexers' committed position may be past it (the commit
/// does not wait for a replica whose mark is announced; `ops` retention then keeps only its
/// window, and a replica behind it is rebuilt from a peer). Unlike [`ReplicaLagBook`], a mark
/// never expires: a replica lags until an indexer says it caught up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicaLagPositions {
    /// (node, partition) → (first position it may miss, when last announced lagging).
    marks: BTreeMap<(String, u32), (u64, OffsetDateTime)>,
}

impl ReplicaLagPositions {
    /// Folds one announcement: the earliest position announced since the replica last caught
    /// up wins; a caught-up announcement older than the latest lagging one is stale (an old
    /// owner's, overtaken by a new owner's).
    pub fn apply(&mut self, change: &ReplicaLagChange) {
        match change {
            ReplicaLagChange::ReplicaLagging { node, partition, at, from: Some(from) } => {
                let mark = self.marks.entry((node.clone(), *partition)).or_insert((*from, *at));
                *mark = (mark.0.min(*from), mark.1.max(*at));
            }
            ReplicaLagChange::ReplicaLagging { from: None, .. } => {}
            ReplicaLagChange::ReplicaCaughtUp { node, partition, at } => {
                let key = (node.clone(), *partition);
                if self.marks.get(&key).is_some_and(|(_, marked)| marked <= at) {
                    self.marks.remove(&key);
                }
            }
        }
    }

    /// The lagging replicas of `partition` and where their misses start.
    pub fn lagging(&self, partition: u32) -> Vec<(String, u64)> {
        self.marks.iter().filter(|((_, p), _)| *p == partition).map(|((node, _), (from, _))| (node.clone(), *from)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + seconds).unwrap()
    }

    fn lagging(node: &str, partition: u32, seconds: i64) -> ReplicaLagChange {
        ReplicaLagChange::ReplicaLagging { node: node.into(), partition, at: at(seconds), from: None }
    }

    fn lagging_from(node: &str, partition: u32, seconds: i64, from: u64) -> ReplicaLagChange {
        ReplicaLagChange::ReplicaLagging { node: node.into(), partition, at: at(seconds), from: Some(from) }
    }

    #[test]
    fn positions_hold_the_earliest_miss_until_a_newer_catch_up() {
        let mut positions = ReplicaLagPositions::default();
        positions.apply(&lagging("n1", 2, 0));
        assert_eq!(positions.lagging(2), vec![], "an announcement without a position says nothing");
        positions.apply(&lagging_from("n1", 2, 10, 40));
        positions.apply(&lagging_from("n1", 2, 70, 55));
        positions.apply(&lagging_from("n2", 3, 70, 9));
        assert_eq!(positions.lagging(2), vec![("n1".to_owned(), 40)]);
        positions.apply(&caught_up("n1", 2, 60));
        assert_eq!(positions.lagging(2), vec![("n1".to_owned(), 40)], "older than the latest lagging announcement");
        positions.apply(&caught_up("n1", 2, 70));
        assert_eq!(positions.lagging(2), vec![]);
        assert_eq!(positions.lagging(3), vec![("n2".to_owned(), 9)]);
        positions.apply(&lagging_from("n1", 2, 80, 90));
        assert_eq!(positions.lagging(2), vec![("n1".to_owned(), 90)], "lagging again, later");
    }

    #[test]
    fn a_position_round_trips_and_old_records_still_read() {
        let change = lagging_from("n1", 4, 0, 17);
        let json = serde_json::to_value(&change).unwrap();
        assert_eq!(json["from"], 17);
        assert_eq!(serde_json::from_value::<ReplicaLagChange>(json).unwrap(), change);
        let old = serde_json::json!({"type": "replicaLagging", "node": "n1", "partition": 4, "at": "2026-12-07T00:00:00Z"});
        assert!(matches!(serde_json::from_value::<ReplicaLagChange>(old).unwrap(), ReplicaLagChange::ReplicaLagging { from: None, .. }));
    }

    fn caught_up(node: &str, partition: u32, seconds: i64) -> ReplicaLagChange {
        ReplicaLagChange::ReplicaCaughtUp { node: node.into(), partition, at: at(seconds) }
    }

    #[test]
    fn a_mark_holds_until_caught_up_or_unrepeated_for_its_lifetime() {
        let mut book = ReplicaLagBook::default();
        book.apply(&lagging("n1", 2, 0));
        assert!(book.lags("n1", 2, at(10)));
        assert!(!book.lags("n1", 3, at(10)) && !book.lags("n2", 2, at(10)));
        assert!(!book.lags("n1", 2, at(180)), "unrepeated for its lifetime");
        book.apply(&lagging("n1", 2, 120));
        assert!(book.lags("n1", 2, at(180)), "repeated");
        book.apply(&caught_up("n1", 2, 130));
        assert!(!book.lags("n1", 2, at(131)));
        assert_eq!(book, ReplicaLagBook::default());
    }

    #[test]
    fn a_catch_up_older_than_the_mark_leaves_it() {
        let mut book = ReplicaLagBook::default();
        book.apply(&lagging("n1", 0, 50));
        book.apply(&caught_up("n1", 0, 40));
        assert!(book.lags("n1", 0, at(60)));
        assert_eq!(book.lagging(at(60)), vec![("n1", 0)]);
    }

    #[test]
    fn records_round_trip_with_their_type_tags() {
        let change = lagging("n1", 4, 0);
        let json = serde_json::to_value(&change).unwrap();
        assert_eq!(json["type"], "replicaLagging");
        assert_eq!(serde_json::from_value::<ReplicaLagChange>(json).unwrap(), change);
    }

    proptest! {
        /// Against a model of one replica's mark: a lagging announcement moves it later (never
        /// earlier), a caught-up one clears it when it is not older than the mark.
        #[test]
        fn folding_matches_the_model(events in proptest::collection::vec((any::<bool>(), 0i64..100), 1..20)) {
            let mut book = ReplicaLagBook::default();
            let mut model: Option<i64> = None;
            for (lag, second) in &events {
                book.apply(&if *lag { lagging("n", 0, *second) } else { caught_up("n", 0, *second) });
                if *lag {
                    model = Some(model.map_or(*second, |m| m.max(*second)));
                } else if model.is_some_and(|m| m <= *second) {
                    model = None;
                }
                prop_assert_eq!(book.lags("n", 0, at(100)), model.is_some());
            }
        }
    }
}

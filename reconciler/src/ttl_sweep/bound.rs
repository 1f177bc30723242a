//! How far one sweep of a shard goes (pure): the latest instant `T ≤ now` such that at most
//! `batch` documents of the shard expired by `T`, found by bisection over instants with a
//! counting probe each (a `documents/fetch` with `limit: 0` gives the exact count). The sweep
//! then deletes `_miroir_until <= T`, so one sweep deletes a bounded number of documents, the
//! earliest expired first, and the next sweep goes on from there. When more than `batch`
//! documents share the earliest expiry instant, they go together (no instant splits them).

use miroir_schemas::node_layout::MAX_EXPIRY_MILLIS;

/// One bisection: `low` is an instant known to have at most `batch` expired documents
/// (`low_count` of them), `high` one known to have more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoundSearch {
    batch: u64,
    low: i64,
    low_count: u64,
    high: i64,
    high_count: u64,
}

/// What a sweep of a shard does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing has expired: no deletion.
    Nothing,
    /// Delete the documents expired by `until` (`expired` of them when counted).
    DeleteUntil { until: i64, expired: u64 },
    /// Count the documents expired by this instant, then [`BoundSearch::record`] it.
    Count(i64),
}

impl BoundSearch {
    /// Starts from the count at `now`: done when it is within `batch` (everything expired goes).
    pub fn start(now: i64, count_at_now: u64, batch: u64) -> (BoundSearch, Step) {
        // Before any expiry Miroir keeps: nothing expired by then.
        let search = BoundSearch { batch: batch.max(1), low: -MAX_EXPIRY_MILLIS - 1, low_count: 0, high: now, high_count: count_at_now };
        let step = match count_at_now {
            0 => Step::Nothing,
            count if count <= search.batch => Step::DeleteUntil { until: now, expired: count },
            _ => search.next(),
        };
        (search, step)
    }

    /// Takes the count of documents expired by `probe` (the instant the last step asked for).
    pub fn record(&mut self, probe: i64, count: u64) -> Step {
        if count <= self.batch {
            self.low = probe;
            self.low_count = count;
        } else {
            self.high = probe;
            self.high_count = count;
        }
        self.next()
    }

    fn next(&self) -> Step {
        if self.high - self.low > 1 {
            return Step::Count(self.low + (self.high - self.low) / 2);
        }
        // `high` = `low` + 1: nothing expired by `low` means every document expired by `high`
        // shares that one instant, and they go together.
        match self.low_count {
            0 => Step::DeleteUntil { until: self.high, expired: self.high_count },
            expired => Step::DeleteUntil { until: self.low, expired },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs the search against a shard holding documents expiring at `expiries`.
    fn sweep_bound(expiries: &[i64], now: i64, batch: u64) -> (Option<i64>, usize) {
        let count = |at: i64| expiries.iter().filter(|&&e| e <= at).count() as u64;
        let (mut search, mut step) = BoundSearch::start(now, count(now), batch);
        let mut probes = 0;
        loop {
            match step {
                Step::Nothing => return (None, probes),
                Step::DeleteUntil { until, expired } => {
                    assert_eq!(expired, count(until), "the count it reports is the count at its bound");
                    return (Some(until), probes);
                }
                Step::Count(at) => {
                    probes += 1;
                    step = search.record(at, count(at));
                }
            }
        }
    }

    #[test]
    fn examples() {
        assert_eq!(sweep_bound(&[], 100, 2), (None, 0));
        assert_eq!(sweep_bound(&[200], 100, 2), (None, 0));
        assert_eq!(sweep_bound(&[10, 20], 100, 2).0, Some(100));
        assert_eq!(sweep_bound(&[10, 20, 30], 100, 2).0, Some(29));
        assert_eq!(sweep_bound(&[10, 10, 10, 30], 100, 2).0, Some(10));
    }

    proptest! {
        /// The bound is the latest instant up to `now` keeping the batch bounded: at most
        /// `batch` documents expired by it (unless they all share its instant), at least one,
        /// and one more millisecond would pass the batch (or reach past `now`). At most 64 probes.
        #[test]
        fn the_bound_is_the_latest_instant_within_the_batch(
            expiries in prop::collection::vec(-1_000_000i64..1_000_000, 0..60),
            now in -1_000_000i64..1_000_000,
            batch in 1u64..10,
        ) {
            let count = |at: i64| expiries.iter().filter(|&&e| e <= at).count() as u64;
            let (bound, probes) = sweep_bound(&expiries, now, batch);
            prop_assert!(probes <= 64);
            match bound {
                None => prop_assert_eq!(count(now), 0),
                Some(until) => {
                    prop_assert!(until <= now);
                    prop_assert!(count(until) >= 1);
                    prop_assert!(count(until) <= batch || count(until - 1) == 0, "{} documents by {}", count(until), until);
                    prop_assert!(until == now || count(until + 1) > batch);
                }
            }
        }
    }
}

//! Where to trim an `ops` partition (pure): below every internal consumer's committed
//! position, keeping the window (the newest records by count and by age) for catch-up.

use std::time::{Duration, Instant};

/// How much of the newest `ops` history is kept whatever the consumers committed. Retention is
/// off when neither bound is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionWindow {
    /// Keep at least the newest this many records of each partition.
    pub records: Option<u64>,
    /// Keep at least the records appended within this long.
    pub age: Option<Duration>,
}

impl RetentionWindow {
    pub fn is_on(&self) -> bool {
        self.records.is_some() || self.age.is_some()
    }
}

/// What is known of one partition when deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionView {
    pub first_kept: u64,
    pub end: u64,
    /// Next offset each consumer group of `ops` will read (its committed position).
    pub committed: Vec<u64>,
    /// The end offset as it was at least `window.age` ago (`None`: not observed that long).
    pub end_age_ago: Option<u64>,
}

/// The offset to trim below, when trimming removes something: no record a consumer still has
/// to read, none of the newest `window.records`, none appended within `window.age`.
pub fn trim_point(view: &PartitionView, window: &RetentionWindow) -> Option<u64> {
    if !window.is_on() {
        return None;
    }
    let mut before = *view.committed.iter().min()?;
    before = before.min(view.end);
    if let Some(records) = window.records {
        before = before.min(view.end.saturating_sub(records));
    }
    if window.age.is_some() {
        before = before.min(view.end_age_ago?);
    }
    (before > view.first_kept).then_some(before)
}

/// End offsets of one partition observed over time, so "the end `age` ago" can be answered
/// without timestamps in the records. Keeps only what a decision can still need.
#[derive(Debug, Default)]
pub struct EndSamples {
    samples: std::collections::VecDeque<(Instant, u64)>,
}

impl EndSamples {
    pub fn observe(&mut self, at: Instant, end: u64) {
        self.samples.push_back((at, end));
    }

    /// The end offset at the newest sample taken at least `age` before `now`; older samples
    /// than that one are dropped.
    pub fn end_before(&mut self, now: Instant, age: Duration) -> Option<u64> {
        let cutoff = now.checked_sub(age)?;
        while self.samples.get(1).is_some_and(|(at, _)| *at <= cutoff) {
            self.samples.pop_front();
        }
        self.samples.front().filter(|(at, _)| *at <= cutoff).map(|(_, end)| *end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn view(first_kept: u64, end: u64, committed: Vec<u64>, end_age_ago: Option<u64>) -> PartitionView {
        PartitionView { first_kept, end, committed, end_age_ago }
    }

    #[test]
    fn off_without_a_window() {
        assert_eq!(trim_point(&view(0, 100, vec![100], Some(100)), &RetentionWindow::default()), None);
    }

    #[test]
    fn the_slowest_consumer_and_the_window_both_bound_it() {
        let records = RetentionWindow { records: Some(10), age: None };
        assert_eq!(trim_point(&view(0, 100, vec![100, 95], None), &records), Some(90), "the window");
        assert_eq!(trim_point(&view(0, 100, vec![100, 40], None), &records), Some(40), "the slowest consumer");
        assert_eq!(trim_point(&view(40, 100, vec![100, 40], None), &records), None, "already there");
        assert_eq!(trim_point(&view(0, 100, vec![], None), &records), None, "no consumer known: keep");
        let age = RetentionWindow { records: None, age: Some(Duration::from_secs(60)) };
        assert_eq!(trim_point(&view(0, 100, vec![100], Some(70)), &age), Some(70));
        assert_eq!(trim_point(&view(0, 100, vec![100], None), &age), None, "not observed for the age yet");
    }

    #[test]
    fn samples_answer_the_end_as_it_was_an_age_ago() {
        let start = Instant::now();
        let mut samples = EndSamples::default();
        for (s, end) in [(0, 0), (30, 10), (60, 25), (90, 40)] {
            samples.observe(start + Duration::from_secs(s), end);
        }
        let age = Duration::from_secs(45);
        assert_eq!(samples.end_before(start + Duration::from_secs(40), age), None);
        assert_eq!(samples.end_before(start + Duration::from_secs(80), age), Some(10));
        assert_eq!(samples.end_before(start + Duration::from_secs(110), age), Some(25));
        assert_eq!(samples.end_before(start + Duration::from_secs(80), age), None, "older samples were dropped");
    }

    proptest! {
        /// Whatever the inputs, a trim never removes a record some consumer has not committed,
        /// one of the newest `records`, one newer than the end an age ago, or moves backwards.
        #[test]
        fn never_removes_what_is_kept(
            first_kept in 0u64..1000,
            extra in 0u64..1000,
            committed in proptest::collection::vec(0u64..3000, 0..4),
            records in proptest::option::of(0u64..1500),
            age_end in proptest::option::of(0u64..3000),
            with_age in any::<bool>(),
        ) {
            let end = first_kept + extra;
            let committed: Vec<u64> = committed.into_iter().map(|c| c.min(end)).collect();
            let end_age_ago = age_end.map(|e| e.min(end));
            let window = RetentionWindow { records, age: with_age.then_some(Duration::from_secs(1)) };
            let view = view(first_kept, end, committed.clone(), end_age_ago);
            if let Some(before) = trim_point(&view, &window) {
                prop_assert!(window.is_on());
                prop_assert!(before > first_kept && before <= end);
                prop_assert!(committed.iter().all(|&c| before <= c));
                if let Some(records) = records {
                    prop_assert!(end - before >= records.min(end));
                }
                if with_age {
                    prop_assert!(end_age_ago.is_some_and(|e| before <= e));
                }
            } else if window.is_on() && !committed.is_empty() {
                // Nothing to trim means the bounds allow nothing past the first kept record.
                let mut bound = *committed.iter().min().unwrap();
                if let Some(records) = records { bound = bound.min(end.saturating_sub(records)); }
                if with_age { bound = end_age_ago.map_or(0, |e| bound.min(e)); }
                prop_assert!(bound <= first_kept);
            }
        }
    }
}

//! Where to trim `tasks` and `task-events` (pure). Those logs are cut at one point in time, a
//! **cut**: each pass reads every `ops` end, then every `task-events` end, then the `tasks` end.
//! A task's events are appended after its `tasks` record, so every event of a task at or past
//! the cut's `tasks` end lies at or past its `task-events` ends: a reader that starts at a cut
//! with nothing folded misses nothing of the tasks it sees.
//!
//! A cut may be trimmed to once nothing still needs what lies before it:
//! * a gateway starting from any kept snapshot folds from that snapshot's positions, so the cut
//!   lies at or before every kept snapshot's positions on every log;
//! * the webhook caller's group has delivered (committed) every task before the cut;
//! * CDC (the reconcilers' group on `ops`) has released every operation of every task before
//!   the cut. A gateway appends a task's operations after its record, retrying for a while
//!   after a log outage, so those operations are all in `ops` by `grace` after the cut: CDC
//!   must have committed past the `ops` ends read `grace` or more after it;
//! * the newest `window_records` `tasks` records are kept whatever the rest says.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The ends of the logs read in one pass, in the order the module describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub at: Instant,
    /// `ops` end offset, per partition.
    pub ops: Vec<u64>,
    /// `task-events` end offset, per partition.
    pub task_events: Vec<u64>,
    /// `tasks` end offset (the next task uid).
    pub tasks: u64,
}

/// What bounds the trim at the moment of deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLogBounds {
    /// Per log, the lowest position any kept snapshot covers (`None`: no snapshot is kept, so
    /// nothing may be trimmed: a gateway would have to fold from the start).
    pub snapshots: Option<SnapshotFloor>,
    /// The webhook caller group's committed position on `tasks` (0 when it never committed).
    pub webhook_commit: u64,
    /// The CDC group's committed position on each `ops` partition (0 when never committed).
    pub cdc_commits: Vec<u64>,
    /// The `tasks` end now.
    pub tasks_end: u64,
}

/// The lowest positions the kept snapshots cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFloor {
    pub tasks: u64,
    /// Per `task-events` partition.
    pub task_events: Vec<u64>,
}

/// How much is kept beyond what the consumers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskLogWindow {
    /// Keep at least the newest this many `tasks` records.
    pub records: u64,
    /// How long after its `tasks` record a task's operations may still reach `ops`.
    pub grace: Duration,
}

/// The cuts read so far, oldest first; only those a decision can still use are kept.
#[derive(Debug, Default)]
pub struct Cuts {
    cuts: VecDeque<Cut>,
}

impl Cuts {
    pub fn observe(&mut self, cut: Cut) {
        self.cuts.push_back(cut);
    }

    /// The newest cut it is safe to trim to, if any. Cuts older than it are dropped (a later
    /// decision never needs them: every bound only grows).
    pub fn choose(&mut self, bounds: &TaskLogBounds, window: &TaskLogWindow) -> Option<Cut> {
        let chosen = (0..self.cuts.len()).rev().find(|&k| self.safe(k, bounds, window))?;
        self.cuts.drain(..chosen);
        self.cuts.front().cloned()
    }

    fn safe(&self, k: usize, bounds: &TaskLogBounds, window: &TaskLogWindow) -> bool {
        let cut = &self.cuts[k];
        let Some(floor) = &bounds.snapshots else { return false };
        let below_snapshots = cut.tasks <= floor.tasks
            && cut.task_events.iter().enumerate().all(|(p, end)| floor.task_events.get(p).is_some_and(|covered| end <= covered));
        // The first cut read `grace` or more after this one: its `ops` ends hold every
        // operation of the tasks before this cut.
        let later = self.cuts.iter().skip(k).find(|later| later.at.duration_since(cut.at) >= window.grace);
        let released = later.is_some_and(|later| {
            later.ops.len() == bounds.cdc_commits.len()
                && later.ops.iter().zip(&bounds.cdc_commits).all(|(end, committed)| committed >= end)
        });
        below_snapshots && released && cut.tasks <= bounds.webhook_commit && cut.tasks <= bounds.tasks_end.saturating_sub(window.records)
    }

    pub fn len(&self) -> usize {
        self.cuts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cuts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cut(start: Instant, seconds: u64, ops: u64, events: u64, tasks: u64) -> Cut {
        Cut { at: start + Duration::from_secs(seconds), ops: vec![ops, ops / 2], task_events: vec![events, events / 3], tasks }
    }

    fn bounds(floor: Option<(u64, u64)>, webhook: u64, cdc: u64, tasks_end: u64) -> TaskLogBounds {
        TaskLogBounds {
            snapshots: floor.map(|(tasks, events)| SnapshotFloor { tasks, task_events: vec![events, events / 3] }),
            webhook_commit: webhook,
            cdc_commits: vec![cdc, cdc / 2],
            tasks_end,
        }
    }

    const WINDOW: TaskLogWindow = TaskLogWindow { records: 10, grace: Duration::from_secs(60) };

    #[test]
    fn nothing_is_trimmed_without_a_snapshot() {
        let start = Instant::now();
        let mut cuts = Cuts::default();
        cuts.observe(cut(start, 0, 100, 100, 50));
        cuts.observe(cut(start, 120, 200, 200, 100));
        assert_eq!(cuts.choose(&bounds(None, 1000, 1000, 1000), &WINDOW), None);
        assert_eq!(cuts.choose(&bounds(Some((1000, 1000)), 1000, 1000, 1000), &WINDOW).map(|cut| cut.tasks), Some(50));
    }

    #[test]
    fn a_cut_waits_for_cdc_to_pass_the_ops_read_a_grace_later() {
        let start = Instant::now();
        let mut cuts = Cuts::default();
        cuts.observe(cut(start, 0, 100, 100, 50));
        cuts.observe(cut(start, 30, 150, 150, 70));
        assert_eq!(cuts.choose(&bounds(Some((1000, 1000)), 1000, 1000, 1000), &WINDOW), None, "no cut a grace later yet");
        cuts.observe(cut(start, 61, 200, 200, 90));
        assert_eq!(cuts.choose(&bounds(Some((1000, 1000)), 1000, 199, 1000), &WINDOW), None, "CDC short of the later ops");
        assert_eq!(cuts.choose(&bounds(Some((1000, 1000)), 1000, 200, 1000), &WINDOW).map(|cut| cut.tasks), Some(50));
        assert_eq!(cuts.len(), 3, "the chosen cut and the newer ones stay");
    }

    #[test]
    fn snapshots_webhooks_and_the_window_each_hold_a_cut_back() {
        let start = Instant::now();
        let mut cuts = Cuts::default();
        cuts.observe(cut(start, 0, 100, 90, 50));
        cuts.observe(cut(start, 100, 200, 180, 100));
        let all_released = bounds(Some((1000, 1000)), 1000, 1000, 1000);
        assert_eq!(
            cuts.choose(
                &TaskLogBounds { snapshots: Some(SnapshotFloor { tasks: 1000, task_events: vec![89, 1000] }), ..all_released.clone() },
                &WINDOW
            ),
            None
        );
        assert_eq!(cuts.choose(&TaskLogBounds { webhook_commit: 49, ..all_released.clone() }, &WINDOW), None);
        assert_eq!(cuts.choose(&TaskLogBounds { tasks_end: 59, ..all_released.clone() }, &WINDOW), None);
        assert_eq!(cuts.choose(&TaskLogBounds { tasks_end: 60, ..all_released }, &WINDOW).map(|cut| cut.tasks), Some(50));
    }

    proptest! {
        /// The chosen cut meets every bound, and no newer cut does.
        #[test]
        fn the_chosen_cut_is_the_newest_safe_one(
            steps in proptest::collection::vec((0u64..90, 0u64..50, 0u64..50, 0u64..50), 1..12),
            floor in proptest::option::of((0u64..600, 0u64..600)),
            webhook in 0u64..600, cdc in 0u64..600, records in 0u64..100,
        ) {
            let start = Instant::now();
            let (mut seconds, mut ops, mut events, mut tasks) = (0, 0, 0, 0);
            let mut all = Vec::new();
            for (dt, dops, devents, dtasks) in steps {
                seconds += dt; ops += dops; events += devents; tasks += dtasks;
                all.push(cut(start, seconds, ops, events, tasks));
            }
            let tasks_end = tasks + 5;
            let bounds = bounds(floor, webhook, cdc, tasks_end);
            let window = TaskLogWindow { records, grace: WINDOW.grace };
            let mut cuts = Cuts::default();
            all.iter().cloned().for_each(|cut| cuts.observe(cut));
            let chosen = cuts.choose(&bounds, &window);
            let ok = |k: usize| {
                let cut = &all[k];
                let floor = bounds.snapshots.as_ref();
                floor.is_some_and(|floor| cut.tasks <= floor.tasks && cut.task_events.iter().zip(&floor.task_events).all(|(e, f)| e <= f))
                    && cut.tasks <= webhook && cut.tasks <= tasks_end.saturating_sub(records)
                    && all[k..].iter().find(|later| later.at.duration_since(cut.at) >= window.grace)
                        .is_some_and(|later| later.ops.iter().zip(&bounds.cdc_commits).all(|(end, c)| c >= end))
            };
            let newest_ok = (0..all.len()).rev().find(|&k| ok(k));
            prop_assert_eq!(chosen, newest_ok.map(|k| all[k].clone()));
        }
    }
}

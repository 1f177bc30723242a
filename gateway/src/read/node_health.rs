//! Which nodes are benched: a node that failed (5xx, timeout, unreachable) is avoided for 30 s,
//! the window doubling with each failure in a row up to 5 min, as Meilisearch Enterprise
//! treats its remotes; one success clears it. Pure: the caller passes the time.

use std::time::{Duration, Instant};

pub const BASE_BENCH: Duration = Duration::from_secs(30);
pub const MAX_BENCH: Duration = Duration::from_secs(300);

/// One node's recent failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeHealth {
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Avoid the node until then.
    pub benched_until: Option<Instant>,
}

impl NodeHealth {
    /// How long the `n`-th failure in a row (1-based) benches a node.
    pub fn bench_duration(n: u32) -> Duration {
        let doublings = n.saturating_sub(1).min(16);
        BASE_BENCH.saturating_mul(1u32 << doublings).min(MAX_BENCH)
    }

    pub fn record_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let until = now + Self::bench_duration(self.consecutive_failures);
        // concurrent requests may report one outage several times: never shorten a bench
        self.benched_until = Some(self.benched_until.map_or(until, |current| current.max(until)));
    }

    pub fn record_success(&mut self) {
        *self = NodeHealth::default();
    }

    pub fn is_benched(&self, now: Instant) -> bool {
        self.benched_until.is_some_and(|until| until > now)
    }
}

/// The health of every node of the topology, by node position.
#[derive(Debug, Clone, Default)]
pub struct Bench {
    nodes: Vec<NodeHealth>,
}

impl Bench {
    pub fn new(node_count: usize) -> Bench {
        Bench { nodes: vec![NodeHealth::default(); node_count] }
    }

    /// Makes room for nodes added since (positions below `node_count`), healthy.
    pub fn grow(&mut self, node_count: usize) {
        if self.nodes.len() < node_count {
            self.nodes.resize(node_count, NodeHealth::default());
        }
    }

    pub fn health(&self, node: usize) -> NodeHealth {
        self.nodes.get(node).copied().unwrap_or_default()
    }

    pub fn record_failure(&mut self, node: usize, now: Instant) {
        if let Some(health) = self.nodes.get_mut(node) {
            health.record_failure(now);
        }
    }

    pub fn record_success(&mut self, node: usize) {
        if let Some(health) = self.nodes.get_mut(node) {
            health.record_success();
        }
    }

    /// Snapshot for the assignment: `None` = usable now, `Some(until)` = benched until then.
    pub fn benched_until(&self, now: Instant) -> Vec<Option<Instant>> {
        self.nodes.iter().map(|health| health.benched_until.filter(|_| health.is_benched(now))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn windows_double_from_30s_to_5min() {
        let secs: Vec<u64> = (1..=7).map(|n| NodeHealth::bench_duration(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(NodeHealth::bench_duration(u32::MAX), MAX_BENCH);
    }

    #[test]
    fn a_success_clears_the_bench() {
        let now = Instant::now();
        let mut bench = Bench::new(2);
        bench.record_failure(1, now);
        bench.record_failure(1, now);
        assert!(bench.health(1).is_benched(now + Duration::from_secs(59)));
        assert!(!bench.health(1).is_benched(now + Duration::from_secs(60)));
        assert!(!bench.health(0).is_benched(now));
        bench.record_success(1);
        assert_eq!(bench.health(1), NodeHealth::default());
        assert_eq!(bench.benched_until(now), vec![None, None]);
    }

    proptest! {
        #[test]
        fn benched_exactly_for_the_window_of_the_streak(failures in 1u32..20, offsets in proptest::collection::vec(0u64..10, 20)) {
            let start = Instant::now();
            let mut health = NodeHealth::default();
            let mut now = start;
            for i in 0..failures {
                now += Duration::from_millis(offsets[i as usize]);
                health.record_failure(now);
            }
            let window = NodeHealth::bench_duration(failures);
            prop_assert!(health.is_benched(now));
            prop_assert!(health.is_benched(now + window - Duration::from_millis(1)));
            prop_assert!(!health.is_benched(now + window.max(MAX_BENCH) + Duration::from_secs(10)));
            prop_assert!(window >= BASE_BENCH && window <= MAX_BENCH);
        }
    }
}

//! Hedged reads: when a node call is still unanswered after a percentile of recent latencies,
//! the same shards are asked of other replicas and the first complete answer wins. How long to
//! wait and how many hedges the gateway may send: pure.
//!
//! The wait is the smaller of the node's own percentile (a node that is usually fast but slow
//! right now) and the percentile of the replicas the hedge would go to (a node that is slow all
//! the time has a high percentile of its own, and waiting that long would be pointless), never
//! below a floor. The budget is a token bucket fed by every node call (as Finagle's retry
//! budget), so hedges stay below a fixed share of the calls even when every node is slow.

use std::time::Duration;

/// What the tail-latency features do; every field comes from a gateway flag.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailLatencyConfig {
    /// Move a node index's shards off a node that is clearly slower than another replica.
    pub adaptive_replicas: bool,
    /// Hedges may be at most this share of node calls (percent); 0 turns hedging off.
    pub hedge_budget_percent: f64,
    /// A call is hedged once it is older than this percentile (0–100) of recent latencies…
    pub hedge_percentile: f64,
    /// … and never sooner than this.
    pub hedge_min_delay: Duration,
}

/// Both off by default: an answer read from another replica rank than the query's own can order
/// hits of equal score differently (each node index numbers its documents in its own order), so
/// the same search could page differently from one request to the next. An operator who prefers
/// tail latency to that turns them on.
impl Default for TailLatencyConfig {
    fn default() -> Self {
        TailLatencyConfig {
            adaptive_replicas: false,
            hedge_budget_percent: 0.0,
            hedge_percentile: 95.0,
            hedge_min_delay: Duration::from_millis(5),
        }
    }
}

impl TailLatencyConfig {
    pub fn hedging(&self) -> bool {
        self.hedge_budget_percent > 0.0
    }
}

/// How long a call waits before it is hedged: `min(own, alternative)` percentile, at least
/// `floor`. `None` (no hedge) while neither the node nor the alternative has answered yet: a
/// guess could double every call of a cold gateway.
pub fn hedge_delay(own: Option<Duration>, alternative: Option<Duration>, floor: Duration) -> Option<Duration> {
    let wait = match (own, alternative) {
        (Some(own), Some(alternative)) => own.min(alternative),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => return None,
    };
    Some(wait.max(floor))
}

/// Most hedges that may be saved up while calls are fast (so a burst of slowness can be hedged).
pub const BUDGET_BURST: f64 = 10.0;

/// Tokens for hedges: each node call adds `percent / 100`, each hedge takes one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeBudget {
    percent: f64,
    tokens: f64,
}

impl HedgeBudget {
    /// Starts empty: the first hedges come after enough calls.
    pub fn new(percent: f64) -> HedgeBudget {
        HedgeBudget { percent: percent.clamp(0.0, 100.0), tokens: 0.0 }
    }

    /// A (non-hedge) node call was sent.
    pub fn record_call(&mut self) {
        self.tokens = (self.tokens + self.percent / 100.0).min(BUDGET_BURST.max(1.0));
    }

    /// Takes a token for one hedge, if there is one. A hedge of a node being tried again after
    /// it was passed over (`retry`: its speed is a guess, and a retry of a slow node would
    /// otherwise wait for it in full whenever the tail's hedges spent the tokens) may borrow up
    /// to [`BUDGET_BURST`] tokens, repaid by later calls: over any stretch, hedges stay within
    /// the share of calls plus that burst.
    pub fn try_spend(&mut self, retry: bool) -> bool {
        let floor = if retry && self.percent > 0.0 { 1.0 - BUDGET_BURST } else { 1.0 };
        if self.tokens >= floor {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_wait_is_the_lower_percentile_above_the_floor() {
        // a node slow all the time: the alternative's percentile decides
        assert_eq!(hedge_delay(Some(55 * MS), Some(8 * MS), 5 * MS), Some(8 * MS));
        // a fast node having a bad moment: its own
        assert_eq!(hedge_delay(Some(7 * MS), Some(30 * MS), 5 * MS), Some(7 * MS));
        assert_eq!(hedge_delay(Some(MS), Some(2 * MS), 5 * MS), Some(5 * MS));
        assert_eq!(hedge_delay(None, Some(9 * MS), 5 * MS), Some(9 * MS));
        assert_eq!(hedge_delay(None, None, 5 * MS), None);
    }

    #[test]
    fn a_budget_of_ten_percent_hedges_one_call_in_ten() {
        let mut budget = HedgeBudget::new(10.0);
        let mut hedges = 0;
        for _ in 0..1000 {
            budget.record_call();
            if budget.try_spend(false) {
                hedges += 1;
            }
        }
        assert!((99..=100).contains(&hedges), "{hedges}");
        let mut off = HedgeBudget::new(0.0);
        off.record_call();
        assert!(!off.try_spend(false) && !off.try_spend(true));
        // a retry borrows, up to the burst
        let mut empty = HedgeBudget::new(10.0);
        assert!(!empty.try_spend(false));
        let borrowed = (0..100).filter(|_| empty.try_spend(true)).count();
        assert_eq!(borrowed as f64, BUDGET_BURST);
    }

    proptest! {
        #[test]
        fn hedges_never_exceed_the_share_of_calls(percent in 0.0f64..100.0, steps in proptest::collection::vec(0u8..3, 0..500)) {
            let mut budget = HedgeBudget::new(percent);
            let (mut calls, mut hedges, mut retries) = (0u32, 0u32, false);
            for step in steps {
                match step {
                    0 => {
                        budget.record_call();
                        calls += 1;
                    }
                    1 => hedges += u32::from(budget.try_spend(false)),
                    _ => {
                        retries = true;
                        hedges += u32::from(budget.try_spend(true));
                    }
                }
                // without retries within the share exactly; with them, plus the burst at most
                let slack = if retries { BUDGET_BURST } else { 0.0 };
                prop_assert!(f64::from(hedges) <= f64::from(calls) * percent / 100.0 + slack + 1e-9);
            }
        }

        #[test]
        fn the_wait_is_never_below_the_floor_nor_above_both_percentiles(
            own in proptest::option::of(0u64..1000), alternative in proptest::option::of(0u64..1000), floor in 0u64..50,
        ) {
            let (own, alternative, floor) = (own.map(Duration::from_millis), alternative.map(Duration::from_millis), Duration::from_millis(floor));
            match hedge_delay(own, alternative, floor) {
                None => prop_assert!(own.is_none() && alternative.is_none()),
                Some(wait) => {
                    prop_assert!(wait >= floor);
                    let lowest = own.into_iter().chain(alternative).min().unwrap();
                    prop_assert_eq!(wait, lowest.max(floor));
                }
            }
        }
    }
}

//! Adaptive replica choice: what the gateway remembers of each node's recent reads (an EWMA of
//! its latency, the calls it is serving now, a bounded window of latencies) and the rule that
//! moves a node index's shards to another replica when that node is clearly slower. Pure: the
//! executor keeps one [`NodeStats`] per node and passes the clock readings in.
//!
//! In the spirit of Elasticsearch's adaptive replica selection and C3 (Suresh et al., NSDI '15):
//! a replica is ranked by its expected wait, the smoothed response time times the requests it
//! would be serving. Meilisearch reports neither its queue nor its service time, so the gateway
//! uses what it observes itself: its own calls in flight and their latencies. The cube C3 puts on
//! the queue term suits hundreds of clients; one gateway with a few calls per node uses it
//! linearly, which keeps a healthy cluster's choice stable.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Weight of the newest latency in the EWMA (Elasticsearch's `ADAPTIVE_REPLICA_SELECTION` α).
pub const EWMA_ALPHA: f64 = 0.3;
/// Latencies kept per node for its percentile (bounded memory: one window per node).
pub const LATENCY_WINDOW: usize = 128;
/// A node's shards move only when its expected wait exceeds the alternative's by this factor:
/// node indexes of other ranks order equal hits differently, so a healthy cluster keeps reading
/// the same ones (see `gather_from_group`); measured on a loaded machine, 1.5 moved shards of
/// healthy nodes under 4 searches in flight (bench_tail).
pub const SWITCH_MARGIN: f64 = 2.0;
/// ... and by at least this much (ms): sub-millisecond differences are noise, not slowness.
pub const MIN_GAIN_MS: f64 = 2.0;
/// How far a node passed over moves its EWMA towards the winner's each time, so a node that was
/// slow once is tried again after a while (Elasticsearch adjusts the losers' statistics alike):
/// a node 50 ms slower than 3 ms replicas is tried again about every 80 searches.
pub const LOSER_DECAY: f64 = 0.02;

/// The part of a node's state the choice reads.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeLoad {
    /// Smoothed latency of its recent answers (ms); `None` before its first answer.
    pub ewma_ms: Option<f64>,
    /// Calls this gateway has sent it that have not ended yet.
    pub in_flight: u32,
}

/// Expected time until the node answers a call when it serves `calls` calls (ours included).
pub fn expected_wait_ms(load: NodeLoad, calls: u32) -> Option<f64> {
    Some(load.ewma_ms? * f64::from(calls.max(1)))
}

/// Whether a call is better sent to `alternatives` (the replicas that would answer for its
/// shards instead, each with the calls it would serve then, ours included) than to its default
/// node (likewise). Nodes without a measured latency give no reason to move.
pub fn prefers_alternative(default: (NodeLoad, u32), alternatives: &[(NodeLoad, u32)]) -> bool {
    let Some(stay) = expected_wait_ms(default.0, default.1) else { return false };
    if alternatives.is_empty() {
        return false;
    }
    let mut moved = 0.0f64;
    for &(load, calls) in alternatives {
        // the alternatives answer concurrently: the slowest of them decides
        let Some(wait) = expected_wait_ms(load, calls) else { return false };
        moved = moved.max(wait);
    }
    stay > moved * SWITCH_MARGIN && stay - moved > MIN_GAIN_MS
}

/// Node position → the shards it is asked for.
pub type ByNode<S> = BTreeMap<usize, Vec<S>>;

/// One round's replica choice: `default` maps each chosen node to its shards (the preference
/// order's choice); `alternative(node, shards)` gives the replicas that would answer for those
/// shards without that node (`None` when some shard has no other replica). Returns the nodes
/// and shards to ask, and the nodes passed over with the alternatives that took their shards.
/// Nodes are visited in ascending order; each decision counts the calls already planned, so
/// one slow node's shards do not all pile onto one other node.
pub fn choose_replicas<S: Clone + Ord>(
    default: &ByNode<S>,
    alternative: impl Fn(usize, &[S]) -> Option<ByNode<S>>,
    loads: &[NodeLoad],
) -> Chosen<S> {
    let load_of = |node: usize| loads.get(node).copied().unwrap_or_default();
    let mut planned: Vec<u32> = vec![0; loads.len().max(default.keys().max().map_or(0, |&n| n + 1))];
    for &node in default.keys() {
        planned[node] += 1;
    }
    let calls = |planned: &[u32], node: usize| load_of(node).in_flight + planned.get(node).copied().unwrap_or(0);
    let mut by_node: ByNode<S> = BTreeMap::new();
    let mut passed_over = Vec::new();
    for (&node, shards) in default {
        let moved = alternative(node, shards).filter(|instead| {
            !instead.is_empty() && !instead.contains_key(&node) && {
                let others: Vec<(NodeLoad, u32)> = instead.keys().map(|&other| (load_of(other), calls(&planned, other) + 1)).collect();
                prefers_alternative((load_of(node), calls(&planned, node)), &others)
            }
        });
        match moved {
            Some(instead) => {
                planned[node] -= 1;
                for (other, other_shards) in instead {
                    if other >= planned.len() {
                        planned.resize(other + 1, 0);
                    }
                    planned[other] += 1;
                    passed_over.push((node, other));
                    by_node.entry(other).or_default().extend(other_shards);
                }
            }
            None => by_node.entry(node).or_default().extend(shards.iter().cloned()),
        }
    }
    for shards in by_node.values_mut() {
        shards.sort();
    }
    Chosen { by_node, passed_over }
}

/// What [`choose_replicas`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen<S> {
    pub by_node: ByNode<S>,
    /// `(passed over, chosen instead)` for every move.
    pub passed_over: Vec<(usize, usize)>,
}

/// One node's recent reads, as this gateway saw them.
#[derive(Debug, Clone, Default)]
pub struct NodeStats {
    ewma_ms: Option<f64>,
    in_flight: u32,
    /// The latest answers' latencies (ms), oldest first, at most [`LATENCY_WINDOW`].
    window: VecDeque<f64>,
    /// The EWMA drifted (passed over) since the last measurement: it is a guess, and the next
    /// measurement replaces it instead of being blended in, so one slow answer to a retry puts
    /// the node back where it was (else it would be retried every few searches).
    drifted: bool,
}

impl NodeStats {
    pub fn load(&self) -> NodeLoad {
        NodeLoad { ewma_ms: self.ewma_ms, in_flight: self.in_flight }
    }

    /// A call was sent.
    pub fn started(&mut self) {
        self.in_flight = self.in_flight.saturating_add(1);
    }

    /// A call was answered after `latency`.
    pub fn answered(&mut self, latency: Duration) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let ms = latency.as_secs_f64() * 1000.0;
        self.blend(ms);
        if self.window.len() == LATENCY_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(ms);
    }

    /// A call ended without an answer that says anything about the node's speed: it failed
    /// (the bench handles failures) or the request gave up.
    pub fn ended(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A call was dropped unanswered after `elapsed` because another replica answered first.
    /// Its true latency is unknown (the window is left alone), but it was at least `elapsed`,
    /// and a node that lost to a hedge is taken to be as slow as its latest answer was: else a
    /// slow node tried again and beaten by a hedge would look no slower than before and be tried
    /// on every search.
    pub fn abandoned(&mut self, elapsed: Duration) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let ms = (elapsed.as_secs_f64() * 1000.0).max(self.window.back().copied().unwrap_or(0.0));
        if self.ewma_ms.is_none_or(|ewma| ewma < ms) {
            self.blend(ms);
        }
    }

    /// The node was passed over for one whose EWMA is `winner_ms`: its own drifts towards it.
    pub fn passed_over(&mut self, winner_ms: Option<f64>) {
        if let (Some(ewma), Some(winner)) = (self.ewma_ms, winner_ms) {
            self.ewma_ms = Some(ewma + (winner - ewma) * LOSER_DECAY);
            self.drifted = true;
        }
    }

    /// Whether the EWMA is a guess: the node was passed over since it last answered, and a call
    /// to it now is a retry.
    pub fn is_retry(&self) -> bool {
        self.drifted
    }

    /// The `p`-th percentile (0–100, nearest rank) of the window; `None` when it is empty.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let mut sorted: Vec<f64> = self.window.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        nearest_rank(&sorted, p).map(|ms| Duration::from_secs_f64(ms / 1000.0))
    }

    fn blend(&mut self, ms: f64) {
        self.ewma_ms = Some(match self.ewma_ms {
            Some(ewma) if !self.drifted => ewma + EWMA_ALPHA * (ms - ewma),
            _ => ms,
        });
        self.drifted = false;
    }
}

/// The nearest-rank `p`-th percentile (0–100) of ascending `sorted`.
fn nearest_rank(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn load(ewma_ms: f64, in_flight: u32) -> NodeLoad {
        NodeLoad { ewma_ms: Some(ewma_ms), in_flight }
    }

    /// Three nodes, each the default for one shard…
    fn ring() -> ByNode<u32> {
        (0..3).map(|n| (n, vec![n as u32])).collect()
    }

    /// … whose alternative is the next node.
    fn next_in_ring(node: usize, shards: &[u32]) -> Option<ByNode<u32>> {
        Some(BTreeMap::from([((node + 1) % 3, shards.to_vec())]))
    }

    #[test]
    fn a_healthy_cluster_keeps_its_default_choice() {
        let default = ring();
        let loads = [load(3.0, 0), load(3.4, 1), load(2.7, 0)];
        let chosen = choose_replicas(&default, next_in_ring, &loads);
        assert_eq!(chosen.by_node, default);
        assert!(chosen.passed_over.is_empty());
    }

    #[test]
    fn a_node_50ms_slower_loses_its_shards() {
        let default = ring();
        let loads = [load(3.0, 0), load(3.0, 0), load(53.0, 0)];
        let chosen = choose_replicas(&default, next_in_ring, &loads);
        assert_eq!(chosen.by_node, BTreeMap::from([(0, vec![0, 2]), (1, vec![1])]));
        assert_eq!(chosen.passed_over, [(2, 0)]);
    }

    #[test]
    fn calls_piling_up_on_a_node_count_against_it() {
        let default = ring();
        // same EWMA, but node 1 is serving 6 calls already
        let loads = [load(4.0, 0), load(4.0, 6), load(4.0, 0)];
        let chosen = choose_replicas(&default, next_in_ring, &loads);
        assert_eq!(chosen.passed_over, [(1, 2)]);
    }

    #[test]
    fn no_measurement_no_move_and_no_alternative_no_move() {
        let default = ring();
        let unknown = [NodeLoad::default(), load(3.0, 0), load(53.0, 0)];
        // node 2's alternative (node 0) has never answered: stay
        assert_eq!(choose_replicas(&default, next_in_ring, &unknown).by_node, default);
        let loads = [load(3.0, 0), load(3.0, 0), load(53.0, 0)];
        assert_eq!(choose_replicas(&default, |_, _| None, &loads).by_node, default);
    }

    #[test]
    fn ewma_window_and_abandoned_calls() {
        let mut stats = NodeStats::default();
        stats.started();
        stats.answered(Duration::from_millis(10));
        assert_eq!(stats.load(), load(10.0, 0));
        stats.started();
        stats.answered(Duration::from_millis(20));
        assert!((stats.load().ewma_ms.unwrap() - 13.0).abs() < 1e-9);
        // dropped after 50 ms: at least that slow
        stats.started();
        stats.abandoned(Duration::from_millis(50));
        assert!((stats.load().ewma_ms.unwrap() - (13.0 + 0.3 * 37.0)).abs() < 1e-9);
        // dropped sooner than its EWMA: says nothing
        let before = stats.load();
        stats.started();
        stats.abandoned(Duration::from_millis(1));
        assert_eq!(stats.load(), before);
        assert_eq!(stats.percentile(50.0), Some(Duration::from_millis(10)));
        // a slow node, passed over until its EWMA drifted down, tried again and beaten by a
        // hedge after 8 ms: as slow as its latest answer (55 ms) again
        let mut slow = NodeStats::default();
        slow.started();
        slow.answered(Duration::from_millis(55));
        (0..100).for_each(|_| slow.passed_over(Some(3.0)));
        let drifted = slow.load().ewma_ms.unwrap();
        assert!(drifted < 15.0, "{drifted}");
        slow.started();
        slow.abandoned(Duration::from_millis(8));
        assert_eq!(slow.load().ewma_ms, Some(55.0), "the drifted guess is replaced, not blended");
        // likewise a retry that answers: what it measured is the node's latency now
        (0..100).for_each(|_| slow.passed_over(Some(3.0)));
        slow.started();
        slow.answered(Duration::from_millis(4));
        assert_eq!(slow.load().ewma_ms, Some(4.0));
        assert_eq!(stats.percentile(95.0), Some(Duration::from_millis(20)));
        stats.ended();
        assert_eq!(stats.load().in_flight, 0, "never below zero");
    }

    #[test]
    fn a_passed_over_node_drifts_back_into_favour() {
        let default = ring();
        let mut stats: Vec<NodeStats> = vec![NodeStats::default(); 3];
        for (node, ms) in [(0, 3), (1, 3), (2, 53)] {
            stats[node].started();
            stats[node].answered(Duration::from_millis(ms));
        }
        let mut rounds_until_retried = 0;
        loop {
            let loads: Vec<NodeLoad> = stats.iter().map(NodeStats::load).collect();
            let chosen = choose_replicas(&default, next_in_ring, &loads);
            if chosen.passed_over.is_empty() {
                break;
            }
            for (loser, winner) in chosen.passed_over {
                let winner_ms = stats[winner].load().ewma_ms;
                stats[loser].passed_over(winner_ms);
            }
            rounds_until_retried += 1;
            assert!(rounds_until_retried < 1_000);
        }
        // tried again now and then, not on every search
        assert!((20..200).contains(&rounds_until_retried), "{rounds_until_retried}");
    }

    fn layout() -> impl Strategy<Value = (ByNode<u32>, Vec<Vec<usize>>, Vec<NodeLoad>)> {
        // up to 6 nodes, up to 12 shards; each shard has a default node and 0–3 other replicas
        (2usize..7, 1usize..13).prop_flat_map(|(nodes, shards)| {
            let replicas = proptest::collection::vec(proptest::collection::btree_set(0..nodes, 1..=nodes.min(4)), shards);
            let loads = proptest::collection::vec(
                (proptest::option::of(0.1f64..200.0), 0u32..8).prop_map(|(ewma_ms, in_flight)| NodeLoad { ewma_ms, in_flight }),
                nodes,
            );
            (replicas, loads).prop_map(|(replicas, loads)| {
                let replicas: Vec<Vec<usize>> = replicas.into_iter().map(|set| set.into_iter().collect()).collect();
                let mut default: ByNode<u32> = BTreeMap::new();
                for (shard, holders) in replicas.iter().enumerate() {
                    default.entry(holders[0]).or_default().push(shard as u32);
                }
                (default, replicas, loads)
            })
        })
    }

    /// The alternative the executor computes: each shard's first other replica, or none when
    /// some shard has no other replica.
    fn first_other(replicas: &[Vec<usize>]) -> impl Fn(usize, &[u32]) -> Option<ByNode<u32>> + '_ {
        move |node, shards| {
            let mut instead: ByNode<u32> = BTreeMap::new();
            for &shard in shards {
                let other = replicas[shard as usize].iter().copied().find(|&n| n != node)?;
                instead.entry(other).or_default().push(shard);
            }
            Some(instead)
        }
    }

    proptest! {
        #[test]
        fn every_shard_is_asked_once_of_a_replica_holding_it((default, replicas, loads) in layout()) {
            let chosen = choose_replicas(&default, first_other(&replicas), &loads);
            let mut seen = BTreeSet::new();
            for (&node, shards) in &chosen.by_node {
                for &shard in shards {
                    prop_assert!(seen.insert(shard), "shard {} asked twice", shard);
                    prop_assert!(replicas[shard as usize].contains(&node));
                }
            }
            prop_assert_eq!(seen.len(), replicas.len());
            // a node index group moves whole: a default node keeps all its shards or none
            for (node, shards) in &default {
                let kept = chosen.by_node.get(node).map_or(0, |mine| shards.iter().filter(|s| mine.contains(s)).count());
                prop_assert!(kept == 0 || kept == shards.len());
            }
        }

        #[test]
        fn equal_loads_never_move((default, replicas, _) in layout(), ewma in 0.1f64..500.0, in_flight in 0u32..8) {
            let loads = vec![load(ewma, in_flight); 7];
            let chosen = choose_replicas(&default, first_other(&replicas), &loads);
            prop_assert_eq!(chosen.by_node, default);
        }

        #[test]
        fn a_move_always_goes_to_a_clearly_faster_replica((default, replicas, loads) in layout()) {
            let chosen = choose_replicas(&default, first_other(&replicas), &loads);
            for (loser, winner) in chosen.passed_over {
                let (slow, fast) = (loads[loser].ewma_ms.unwrap(), loads[winner].ewma_ms.unwrap());
                // the loser served at most one planned call per default node (its own and the
                // shards moved onto it); the winner at least ours
                let loser_wait = slow * (f64::from(loads[loser].in_flight) + default.len() as f64 + 1.0);
                let winner_wait = fast * f64::from(loads[winner].in_flight + 1);
                prop_assert!(loser_wait > winner_wait * SWITCH_MARGIN, "{} → {}: {:?}", loser, winner, loads);
            }
        }

        #[test]
        fn the_window_is_bounded_and_its_percentiles_ordered(latencies in proptest::collection::vec(0u64..10_000, 1..400)) {
            let mut stats = NodeStats::default();
            for &us in &latencies {
                stats.started();
                stats.answered(Duration::from_micros(us));
            }
            prop_assert!(stats.window.len() <= LATENCY_WINDOW);
            prop_assert_eq!(stats.load().in_flight, 0);
            let (p50, p95, p100) = (stats.percentile(50.0).unwrap(), stats.percentile(95.0).unwrap(), stats.percentile(100.0).unwrap());
            prop_assert!(p50 <= p95 && p95 <= p100);
            let recent = &latencies[latencies.len().saturating_sub(LATENCY_WINDOW)..];
            prop_assert_eq!(p100, Duration::from_micros(*recent.iter().max().unwrap()));
            let ewma = stats.load().ewma_ms.unwrap();
            let (lo, hi) = (*latencies.iter().min().unwrap() as f64 / 1000.0, *latencies.iter().max().unwrap() as f64 / 1000.0);
            prop_assert!(ewma >= lo - 1e-9 && ewma <= hi + 1e-9);
        }
    }
}

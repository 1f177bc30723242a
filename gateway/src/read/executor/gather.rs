//! The fan-out of one read round: one replica per shard grouped so each chosen node gets one
//! call, moved off clearly slower nodes (adaptive replica choice), hedged on other replicas when
//! a call is late, and failed over when a node fails.
//!
//! Every call answers for a **unit**: the shards one node was asked for (the shards a node index
//! holds, or those a replica stands in for). A unit is settled by the first of its attempts
//! whose calls all answered: the first call, or a hedge (the unit's shards asked of other
//! replicas, grouped by node like any round). The losers are aborted, so every shard's answer
//! comes from exactly one attempt: a hedge can neither duplicate nor leave out a shard.

use super::super::assign::{assign, Assignment};
use super::super::fanout::{Answered, Failure, Gathered};
use super::super::hedging::{hedge_delay, HedgeBudget};
use super::super::replica_score::{choose_replicas, ByNode, NodeLoad, NodeStats};
use super::{Inner, ReadView};
use crate::read::error::ReadError;
use futures::future::{AbortHandle, Abortable, Either};
use futures::stream::{FuturesUnordered, StreamExt};
use miroir_schemas::error::ResponseError;
use miroir_schemas::topology::ShardId;
use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::Instant;

/// Per-gateway memory of the nodes' recent reads (one entry per node) and the hedge budget.
pub(crate) struct TailState {
    stats: Mutex<Vec<NodeStats>>,
    budget: Mutex<HedgeBudget>,
}

impl TailState {
    pub(crate) fn new(node_count: usize, budget_percent: f64) -> TailState {
        TailState { stats: Mutex::new(vec![NodeStats::default(); node_count]), budget: Mutex::new(HedgeBudget::new(budget_percent)) }
    }

    fn with_stats<R>(&self, f: impl FnOnce(&mut Vec<NodeStats>) -> R) -> R {
        f(&mut self.stats.lock().expect("node stats lock"))
    }

    /// Makes room for nodes added since (positions below `node_count`).
    pub(crate) fn grow(&self, node_count: usize) {
        self.with_stats(|stats| {
            if stats.len() < node_count {
                stats.resize(node_count, NodeStats::default());
            }
        });
    }

    pub(crate) fn loads(&self) -> Vec<NodeLoad> {
        self.with_stats(|stats| stats.iter().map(NodeStats::load).collect())
    }
}

/// Keeps a node's in-flight count and latencies right however its call ends: answered,
/// failed, or dropped (aborted as a hedge's loser, or the read gave up).
struct CallRecord<'a> {
    tail: &'a TailState,
    node: usize,
    node_id: String,
    sent: Instant,
    ended: bool,
}

impl<'a> CallRecord<'a> {
    fn start(tail: &'a TailState, node: usize, node_id: String) -> CallRecord<'a> {
        tail.with_stats(|stats| stats[node].started());
        CallRecord { tail, node, node_id, sent: Instant::now(), ended: false }
    }

    fn end(mut self, answered: bool) {
        self.ended = true;
        let elapsed = self.sent.elapsed();
        let outcome = if answered { "answered" } else { "failed" };
        metrics::histogram!("miroir_read_node_seconds", "node" => self.node_id.clone(), "outcome" => outcome).record(elapsed.as_secs_f64());
        self.tail.with_stats(|stats| if answered { stats[self.node].answered(elapsed) } else { stats[self.node].ended() });
    }
}

impl Drop for CallRecord<'_> {
    fn drop(&mut self) {
        if !self.ended {
            let elapsed = self.sent.elapsed();
            metrics::histogram!("miroir_read_node_seconds", "node" => self.node_id.clone(), "outcome" => "canceled")
                .record(elapsed.as_secs_f64());
            self.tail.with_stats(|stats| stats[self.node].abandoned(elapsed));
        }
    }
}

enum Event<T> {
    /// Call `call` ended.
    Ended { call: usize, outcome: Result<T, Failure> },
    /// Call `call` was aborted (its unit was settled by another attempt).
    Aborted,
    /// Unit `unit`'s first call has waited as long as a hedge allows.
    HedgeDue { unit: usize },
}

struct Call {
    unit: usize,
    attempt: usize,
    node: usize,
    shards: Vec<ShardId>,
    abort: AbortHandle,
}

struct Attempt<T> {
    calls: Vec<usize>,
    outstanding: usize,
    answers: Vec<Answered<T>>,
    failed: bool,
    hedge: bool,
}

struct Unit<T> {
    shards: Vec<ShardId>,
    /// Its node was passed over before and is tried again (see `HedgeBudget::try_spend`).
    retry: bool,
    attempts: Vec<Attempt<T>>,
    settled: bool,
}

impl Inner {
    /// [`Inner::gather`] starting from replica group `turn % groups`, rank 0 first: the same
    /// `turn` always reads the same node indexes while they answer alike. A search passes a
    /// turn derived from its query, so asking again (another page, more details) ranks ties the
    /// same way: node indexes of different ranks or groups hold different mixes of shards, and
    /// Meilisearch orders equal hits by their position in the node index. Only a node clearly
    /// slower than another replica of its shards (`replica_score`), a hedge, or a failure sends
    /// shards elsewhere.
    pub async fn gather_from_group<T, F, Fut>(
        &self,
        view: &ReadView,
        index: &str,
        shards: &[ShardId],
        turn: usize,
        send: F,
    ) -> Result<Gathered<T>, ReadError>
    where
        F: Fn(usize, Vec<ShardId>) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let deadline = Instant::now() + self.config.deadline;
        let tail_config = self.config.tail;
        let mut tried: HashSet<(ShardId, usize)> = HashSet::new();
        let mut missing: BTreeSet<ShardId> = BTreeSet::new();
        let mut answers = Vec::new();
        let mut units: Vec<Unit<T>> = Vec::new();
        let mut calls: Vec<Call> = Vec::new();
        let mut events = FuturesUnordered::new();

        // One call of `attempt` of `unit` to `node` for `node_shards`, counted and abortable.
        let dispatch = |node: usize, node_shards: Vec<ShardId>, unit: usize, attempt: usize, calls: &mut Vec<Call>| {
            let (abort, registration) = AbortHandle::new_pair();
            let id = calls.len();
            calls.push(Call { unit, attempt, node, shards: node_shards.clone(), abort });
            let record = CallRecord::start(&self.tail, node, view.node_id(node).to_owned());
            let call = send(node, node_shards);
            Either::Left(async move {
                let ended = Abortable::new(tokio::time::timeout_at(deadline.into(), call), registration).await;
                match ended {
                    Err(_aborted) => Event::Aborted, // `record` drops here: counted as canceled
                    Ok(timed) => {
                        let outcome = timed.unwrap_or_else(|_| Err(Failure::Node("no answer before the request deadline".into())));
                        record.end(!matches!(outcome, Err(Failure::Node(_))));
                        Event::Ended { call: id, outcome }
                    }
                }
            })
        };
        let hedge_timer = |unit: usize, at: Instant| {
            Either::Right(async move {
                tokio::time::sleep_until(at.into()).await;
                Event::HedgeDue { unit }
            })
        };

        let mut pending: Vec<ShardId> = shards.to_vec();
        // A node that answered it has no such index (the error, should no replica have it).
        let mut index_missing: Option<ResponseError> = None;
        loop {
            if !pending.is_empty() {
                let benched = self.avoided(view, index, Instant::now());
                let tried_before = tried.clone();
                let default =
                    assign(&pending, |shard| view.preference(shard, turn), &benched, |shard, node| tried_before.contains(&(shard, node)));
                pending.clear();
                if !default.unservable.is_empty() {
                    if let Some(error) = index_missing.take() {
                        // Every replica left was asked and lacks the index: it is gone.
                        return Err(ReadError::User(error));
                    }
                    if !self.config.allow_partial {
                        return Err(ReadError::ShardsUnavailable { index: index.to_owned(), shards: default.unservable });
                    }
                    missing.extend(default.unservable);
                }
                let alternative = |node: usize, shards: &[ShardId]| self.stand_ins(view, shards, node, turn, &benched, &tried_before);
                let chosen = if tail_config.adaptive_replicas {
                    let loads = self.tail.loads();
                    let chosen = choose_replicas(&default.by_node, alternative, &loads);
                    for &(passed_over, instead) in &chosen.passed_over {
                        metrics::counter!("miroir_read_replica_moves_total", "node" => view.node_id(passed_over).to_owned()).increment(1);
                        self.tail.with_stats(|stats| {
                            let winner = stats[instead].load().ewma_ms;
                            stats[passed_over].passed_over(winner);
                        });
                    }
                    chosen.by_node
                } else {
                    default.by_node
                };
                for (node, node_shards) in chosen {
                    tried.extend(node_shards.iter().map(|&shard| (shard, node)));
                    let unit = units.len();
                    let hedge_at = if tail_config.hedging() {
                        self.hedge_deadline(node, &node_shards, alternative, tail_config.hedge_percentile, tail_config.hedge_min_delay)
                    } else {
                        None
                    };
                    let retry = self.tail.with_stats(|stats| stats[node].is_retry());
                    units.push(Unit {
                        shards: node_shards.clone(),
                        retry,
                        attempts: vec![Attempt {
                            calls: vec![calls.len()],
                            outstanding: 1,
                            answers: Vec::new(),
                            failed: false,
                            hedge: false,
                        }],
                        settled: false,
                    });
                    self.tail.budget.lock().expect("hedge budget lock").record_call();
                    events.push(dispatch(node, node_shards, unit, 0, &mut calls));
                    if let Some(at) = hedge_at.filter(|&at| at < deadline) {
                        events.push(hedge_timer(unit, at));
                    }
                }
            }
            if units.iter().all(|unit| unit.settled) {
                break; // pending timers and aborted losers are dropped with `events`
            }
            let Some(event) = events.next().await else { break };
            match event {
                Event::Aborted => {}
                Event::HedgeDue { unit } => {
                    let open = &units[unit];
                    if open.settled || open.attempts.len() > 1 || open.attempts[0].failed || Instant::now() >= deadline {
                        continue;
                    }
                    let first_node = calls[open.attempts[0].calls[0]].node;
                    let benched = self.avoided(view, index, Instant::now());
                    let Some(first_choice) = self.stand_ins(view, &open.shards, first_node, turn, &benched, &tried) else { continue };
                    // a hedge avoids nodes clearly slower than others too (not counted as moves)
                    let by_node = if tail_config.adaptive_replicas {
                        let alternative = |node: usize, shards: &[ShardId]| self.stand_ins(view, shards, node, turn, &benched, &tried);
                        choose_replicas(&first_choice, alternative, &self.tail.loads()).by_node
                    } else {
                        first_choice
                    };
                    if !self.tail.budget.lock().expect("hedge budget lock").try_spend(units[unit].retry) {
                        metrics::counter!("miroir_read_hedges_skipped_total").increment(1);
                        continue;
                    }
                    metrics::counter!("miroir_read_hedges_sent_total").increment(1);
                    let attempt = units[unit].attempts.len();
                    let call_ids: Vec<usize> = (calls.len()..calls.len() + by_node.len()).collect();
                    units[unit].attempts.push(Attempt {
                        calls: call_ids,
                        outstanding: by_node.len(),
                        answers: Vec::new(),
                        failed: false,
                        hedge: true,
                    });
                    for (node, node_shards) in by_node {
                        tried.extend(node_shards.iter().map(|&shard| (shard, node)));
                        events.push(dispatch(node, node_shards, unit, attempt, &mut calls));
                    }
                }
                Event::Ended { call, outcome } => {
                    let Call { unit, attempt, node, .. } = calls[call];
                    if units[unit].settled || units[unit].attempts[attempt].failed {
                        continue;
                    }
                    match outcome {
                        Ok(value) => {
                            self.record_node_outcome(node, true);
                            let shards = calls[call].shards.clone();
                            let this = &mut units[unit].attempts[attempt];
                            this.answers.push(Answered { node, shards, value });
                            this.outstanding -= 1;
                            if this.outstanding == 0 {
                                if this.hedge {
                                    metrics::counter!("miroir_read_hedges_won_total").increment(1);
                                }
                                answers.append(&mut this.answers);
                                units[unit].settled = true;
                                abort_unit(&units[unit], &calls);
                            }
                        }
                        Err(failure) => {
                            let node_id = view.node_id(node);
                            match failure {
                                Failure::User(error) => return Err(ReadError::User(error)),
                                Failure::Missing(error) => {
                                    tracing::warn!(node = %node_id, "a node lacks the index; trying other replicas");
                                    index_missing = Some(error);
                                }
                                Failure::Node(reason) => {
                                    tracing::warn!(node = %node_id, %reason, "node failed a read; trying other replicas");
                                    self.record_node_outcome(node, false);
                                }
                            }
                            let this = &mut units[unit].attempts[attempt];
                            this.failed = true;
                            this.calls.iter().for_each(|&other| calls[other].abort.abort());
                            if units[unit].attempts.iter().any(|other| !other.failed) {
                                continue; // another attempt (the first call or a hedge) may still answer
                            }
                            units[unit].settled = true;
                            let unit_shards = units[unit].shards.clone();
                            if Instant::now() >= deadline {
                                if !self.config.allow_partial {
                                    return Err(ReadError::ShardsUnavailable { index: index.to_owned(), shards: unit_shards });
                                }
                                missing.extend(unit_shards);
                            } else {
                                pending = unit_shards;
                            }
                        }
                    }
                }
            }
        }
        answers.sort_by_key(|answered| answered.shards.first().copied());
        Ok(Gathered { answers, missing: missing.into_iter().collect() })
    }

    /// The replicas that would answer for `shards` instead of `without`, skipping those already
    /// asked for a shard (`tried`): `None` when some shard has no other replica or only benched ones.
    fn stand_ins(
        &self,
        view: &ReadView,
        shards: &[ShardId],
        without: usize,
        turn: usize,
        benched: &[Option<Instant>],
        tried: &HashSet<(ShardId, usize)>,
    ) -> Option<ByNode<ShardId>> {
        let excluded = |shard: ShardId, node: usize| node == without || tried.contains(&(shard, node));
        let Assignment { by_node, unservable } = assign(shards, |shard| view.preference(shard, turn), benched, excluded);
        (unservable.is_empty() && by_node.keys().all(|&node| benched[node].is_none())).then_some(by_node)
    }

    /// When a call to `node` for `shards` becomes worth hedging (see `hedging`): `None` when no
    /// other replica could take them all or nothing is known of the latencies yet.
    fn hedge_deadline(
        &self,
        node: usize,
        shards: &[ShardId],
        alternative: impl Fn(usize, &[ShardId]) -> Option<ByNode<ShardId>>,
        percentile: f64,
        floor: std::time::Duration,
    ) -> Option<Instant> {
        let others = alternative(node, shards)?;
        let (own, instead) = self.tail.with_stats(|stats| {
            let instead = others.keys().map(|&other| stats[other].percentile(percentile)).collect::<Option<Vec<_>>>();
            (stats[node].percentile(percentile), instead.and_then(|waits| waits.into_iter().max()))
        });
        Some(Instant::now() + hedge_delay(own, instead, floor)?)
    }
}

/// Aborts every call of a settled unit's attempts (the winner's have all ended already).
fn abort_unit<T>(unit: &Unit<T>, calls: &[Call]) {
    for attempt in &unit.attempts {
        attempt.calls.iter().for_each(|&call| calls[call].abort.abort());
    }
}

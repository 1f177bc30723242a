//! The task events of operations applied as pieces of another layout ([`crate::reroute`]).
//!
//! A task lists, for each shard of the layout that routed it, the replicas the gateway expected
//! ([`TopologyBook::write_targets`]); the pieces of its operation reach other shards and often
//! other nodes. So each listed replica of the source operation is reported with the pieces'
//! outcomes combined: per piece, the first of its holders that has an outcome (rank 0 first,
//! as the gateway counts), summed; failed when a piece failed. A node index applying several
//! pieces of one request books the request's count on the first of them and 0 on the others
//! (`crate::apply`), so the sum counts each node index once. A copy of an operation for
//! every shard other than shard 0 has no piece (the shard-0 copy reaches every new shard) and
//! is reported succeeded with no count.
//!
//! [`TopologyBook::write_targets`]: miroir_schemas::meta_log::topology_changes::TopologyBook::write_targets

use crate::apply::OpOutcome;
use crate::events::EventAssembler;
use crate::job::JobResult;
use crate::request::PositionedOp;
use crate::worker::Shared;
use miroir_schemas::details::DetailCounts;
use miroir_schemas::meta_log::topology_changes::{ApplyTargets, Holder};
use miroir_schemas::task_log::{ReplicaStatus, TaskEvent};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// What the results say of each operation of the segment, by op index, gathered in one pass
/// (a segment of re-routed operations holds thousands of pieces).
struct Words<'a>(HashMap<usize, Vec<(&'a JobResult, Option<&'a OpOutcome>)>>);

impl<'a> Words<'a> {
    fn of(results: &[&'a JobResult]) -> Words<'a> {
        let mut words: HashMap<usize, Vec<(&'a JobResult, Option<&'a OpOutcome>)>> = HashMap::new();
        for &result in results {
            for (i, outcome) in result.applied.iter().chain(&result.skipped) {
                words.entry(*i).or_default().push((result, outcome.as_ref()));
            }
        }
        Words(words)
    }

    /// What a result says of piece `i` on `holder`: `None` when it has no word of it,
    /// `Some(None)` when the replica already had it (no outcome read), `Some(Some(outcome))`
    /// otherwise.
    fn of_holder(&self, routed: &[PositionedOp], i: usize, holder: &Holder) -> Option<Option<&'a OpOutcome>> {
        let index = routed[i].envelope.index_uid.as_deref()?;
        let node_index = routed[i].node_index_uid(index, holder.1);
        let words = self.0.get(&i)?;
        words.iter().find(|(result, _)| result.replica == holder.0 && result.node_index == node_index).map(|(_, outcome)| *outcome)
    }

    /// The first holder's word of piece `i` that has one: `None` when no holder has any.
    fn first(&self, routed: &[PositionedOp], targets: &[ApplyTargets], i: usize) -> Option<Option<&'a OpOutcome>> {
        let mut first_known = None;
        for word in targets[i].holders.iter().filter_map(|holder| self.of_holder(routed, i, holder)) {
            if word.is_some() {
                return Some(word);
            }
            first_known.get_or_insert(word);
        }
        first_known
    }
}

/// The pieces of `routed` no holder applied or had yet.
pub fn missing_pieces(routed: &[PositionedOp], targets: &[ApplyTargets], results: &[&JobResult]) -> Vec<usize> {
    let words = Words::of(results);
    (0..routed.len()).filter(|&i| routed[i].piece && words.first(routed, targets, i).is_none()).collect()
}

/// The pieces' outcomes combined (`None` when every piece was already applied: reported then).
pub fn combined(outcomes: &[Option<&OpOutcome>]) -> Option<OpOutcome> {
    let mut known = outcomes.iter().flatten();
    let first = (*known.next()?).clone();
    Some(known.fold(first, |mut sum, outcome| {
        sum.counts = sum.counts + outcome.counts;
        if sum.error.is_none() && outcome.status == ReplicaStatus::Failed {
            sum.status = ReplicaStatus::Failed;
            sum.error = outcome.error.clone();
        }
        sum.started_at = sum.started_at.min(outcome.started_at);
        sum.finished_at = sum.finished_at.max(outcome.finished_at);
        sum
    }))
}

/// The events that became complete for the re-routed sources of `segment`, whose pieces
/// `routed` holds (every piece with a word from some holder: see [`missing_pieces`]).
pub fn report(
    shared: &Shared,
    segment: &[PositionedOp],
    routed: &[PositionedOp],
    targets: &[ApplyTargets],
    results: &[&JobResult],
    events: &mut EventAssembler,
) -> Vec<TaskEvent> {
    let words = Words::of(results);
    let mut pieces_of: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for i in (0..routed.len()).filter(|&i| routed[i].piece) {
        pieces_of.entry(routed[i].position).or_default().push(i);
    }
    let mut reported = Vec::new();
    for source in segment.iter().filter(|op| !op.is_barrier() && shared.layout_of(op) != op.envelope.layout) {
        let pieces = pieces_of.get(&source.position).map_or(&[][..], Vec::as_slice);
        let outcome = if pieces.is_empty() {
            let now = OffsetDateTime::now_utc();
            Some(OpOutcome {
                status: ReplicaStatus::Succeeded,
                error: None,
                counts: DetailCounts::default(),
                started_at: now,
                finished_at: now,
            })
        } else {
            let outcomes: Vec<Option<&OpOutcome>> = pieces.iter().map(|&i| words.first(routed, targets, i).flatten()).collect();
            combined(&outcomes)
        };
        let listed = shared.apply_targets(source);
        let mut replicas: Vec<String> = Vec::new();
        for node in listed.holders.into_iter().map(|(node, _)| node).chain(listed.proxied) {
            if !replicas.contains(&node) {
                replicas.push(node);
            }
        }
        for replica in &replicas {
            reported.extend(events.record(source, replica, outcome.as_ref()));
        }
    }
    reported
}

#[cfg(test)]
mod tests;

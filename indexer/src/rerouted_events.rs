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
use time::OffsetDateTime;

/// What a result says of piece `i` on `holder`: `None` when it has no word of it, `Some(None)`
/// when the replica already had it (no outcome read), `Some(Some(outcome))` otherwise.
fn result_of<'a>(results: &[&'a JobResult], routed: &[PositionedOp], i: usize, holder: &Holder) -> Option<Option<&'a OpOutcome>> {
    let index = routed[i].envelope.index_uid.as_deref()?;
    let node_index = routed[i].node_index_uid(index, holder.1);
    results
        .iter()
        .filter(|r| r.replica == holder.0 && r.node_index == node_index)
        .flat_map(|r| r.applied.iter().chain(&r.skipped))
        .find(|(j, _)| *j == i)
        .map(|(_, outcome)| outcome.as_ref())
}

/// The first holder's word of piece `i` that has one: `None` when no holder has any.
fn first_word<'a>(results: &[&'a JobResult], routed: &[PositionedOp], targets: &[ApplyTargets], i: usize) -> Option<Option<&'a OpOutcome>> {
    let words = targets[i].holders.iter().filter_map(|holder| result_of(results, routed, i, holder));
    let mut first_known = None;
    for word in words {
        if word.is_some() {
            return Some(word);
        }
        first_known.get_or_insert(word);
    }
    first_known
}

/// The pieces of `routed` no holder applied or had yet.
pub fn missing_pieces(routed: &[PositionedOp], targets: &[ApplyTargets], results: &[&JobResult]) -> Vec<usize> {
    (0..routed.len()).filter(|&i| routed[i].piece && first_word(results, routed, targets, i).is_none()).collect()
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
    let mut reported = Vec::new();
    for source in segment.iter().filter(|op| !op.is_barrier() && shared.layout_of(op) != op.envelope.layout) {
        let pieces: Vec<usize> = (0..routed.len()).filter(|&i| routed[i].piece && routed[i].position == source.position).collect();
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
            let words: Vec<Option<&OpOutcome>> = pieces.iter().map(|&i| first_word(results, routed, targets, i).flatten()).collect();
            combined(&words)
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

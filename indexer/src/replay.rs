//! Reporting again what a replica already has (pure). After a crash, the operations between
//! the committed consumer position and a replica's checkpoint were applied, but their task
//! events may never have been appended. The node's own task list says how each ended: the
//! task whose marker covers the operation (for index, settings and swap requests, which carry
//! no marker, the task right before the checkpoint-only deletion that followed them).

use crate::apply::{outcomes_of_task, OpOutcome};
use crate::checkpoint::Marker;
use crate::request::{build_request, PositionedOp};
use miroir_clients::node::{TaskStatus, TaskView};
use miroir_schemas::node_layout::ReplicaRank;

/// The outcome of each of `ops` (one node index, log order, all at or below the replica's
/// checkpoint) according to `tasks` (that node index's tasks, newest first). `None` where no
/// task covers the operation (history deleted on the node).
pub fn outcomes_from_history(ops: &[PositionedOp], tasks: &[TaskView]) -> Vec<Option<OpOutcome>> {
    let mut covering: Vec<Option<usize>> = ops.iter().map(|op| covering_task(op, tasks)).collect();
    let mut outcomes = vec![None; ops.len()];
    let mut i = 0;
    while i < ops.len() {
        let Some(t) = covering[i] else {
            i += 1;
            continue;
        };
        // Consecutive operations carried by the same node task share its outcome (deletion
        // counts go to the first of them, as when they were applied).
        let mut end = i + 1;
        while end < ops.len() && covering[end] == Some(t) {
            end += 1;
        }
        // Which requests carry a marker depends on the operation alone, not on the rank.
        let carries_metadata = build_request(&ops[i..i + 1], ReplicaRank(0)).carries_metadata();
        let source = if carries_metadata { tasks.get(t) } else { tasks.get(t + 1) };
        if let Some(task) = source {
            for (k, outcome) in outcomes_of_task(&ops[i..end], task).into_iter().enumerate() {
                outcomes[i + k] = Some(outcome);
            }
        }
        covering[i..end].iter_mut().for_each(|c| *c = None);
        i = end;
    }
    outcomes
}

/// Index (into `tasks`) of the finished task that applied `op`: among this partition's markers
/// covering its position, the one with the smallest `last` (a failed merged request was
/// re-sent op by op, so it is never the one), the newest on ties.
fn covering_task(op: &PositionedOp, tasks: &[TaskView]) -> Option<usize> {
    let mut best: Option<(u64, usize)> = None;
    for (i, task) in tasks.iter().enumerate() {
        let Some(marker) = task.custom_metadata.as_deref().and_then(Marker::parse) else { continue };
        if marker.partition != op.partition || marker.last < op.position {
            continue;
        }
        if marker.merged_from.is_some_and(|first| first > op.position) {
            continue;
        }
        if !task.status.is_finished() || task.status == TaskStatus::Canceled {
            continue;
        }
        if task.status == TaskStatus::Failed && marker.merged_from.is_some() {
            continue;
        }
        if best.is_none_or(|(last, _)| marker.last < last) {
            best = Some((marker.last, i));
        }
    }
    best.map(|(_, i)| i)
}

#[cfg(test)]
mod tests;

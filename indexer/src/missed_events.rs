//! Reporting the task events of operations a replica missed but whose effect it now holds
//! through a copy from its peers: a replica rebuilt from a peer (`crate::peer_rebuild`), or one
//! retired because its node was removed while down (its shards were copied to their new holders
//! at the change's copy barrier). The tasks of those operations list the replica (their records
//! name the replicas of their time), so until its events come they stay `processing`.
//!
//! Each event carries the outcome a peer holding the same shard recorded in its node's task
//! history (a peer that already had the operations: nothing is sent again), so failures and
//! document counts read as they did on the peers. Where no peer's history covers an operation
//! any more (Meilisearch deleted old tasks), it is reported succeeded with no counts: the copy
//! brought its effect, and a failure would show in the peers' own events.

use crate::apply::OpOutcome;
use crate::events::EventAssembler;
use crate::job::{decode_ops, plan_jobs, segments};
use crate::replay::outcomes_from_history;
use crate::replica::read_history;
use crate::request::PositionedOp;
use crate::worker::{publish, Shared};
use miroir_clients::log::{LogError, Topic};
use miroir_schemas::task_log::ReplicaStatus;
use time::OffsetDateTime;

/// Reports, for `replica`, the events of the operations of `partition` in `[from, to)` that
/// reached it, with the outcomes of the peers `usable` accepts. Returns how many events were
/// reported and how many operations no peer's history covered (reported succeeded, no counts).
pub async fn report_missed(
    shared: &Shared,
    partition: u32,
    replica: &str,
    from: u64,
    to: u64,
    usable: impl Fn(&str) -> bool,
) -> Result<(usize, usize), LogError> {
    let mut reader = shared.log.read_partition(Topic::Ops, partition, from).await?;
    let mut events = EventAssembler::default();
    let (mut reported, mut assumed) = (0, 0);
    let mut next = from;
    while next < to {
        let batch = reader.next_batch(shared.settings.poll_max, shared.settings.poll_wait).await?;
        let records: Vec<_> = batch.into_iter().filter(|r| r.position.offset < to).collect();
        let Some(last) = records.last().map(|r| r.position.offset) else { continue };
        next = last + 1;
        // Canceled tasks' operations reached no replica; the others are all decided by now.
        let ops = shared.cancels.admit(decode_ops(&records)).await?;
        for segment in segments(&ops).into_iter().filter(|s| !s[0].envelope.is_topology_barrier()) {
            let missed: Vec<usize> =
                (0..segment.len()).filter(|&i| shared.apply_targets(&segment[i]).holders.iter().any(|(node, _)| node == replica)).collect();
            if missed.is_empty() {
                continue;
            }
            let outcomes = peer_outcomes(shared, partition, segment, &missed, |r| r != replica && usable(r)).await;
            let mut found = Vec::new();
            for &i in &missed {
                let outcome = outcomes[i].clone().unwrap_or_else(|| {
                    assumed += 1;
                    let now = OffsetDateTime::now_utc();
                    OpOutcome {
                        status: ReplicaStatus::Succeeded,
                        error: None,
                        counts: Default::default(),
                        started_at: now,
                        finished_at: now,
                    }
                });
                found.extend(events.record(&segment[i], replica, Some(&outcome)));
            }
            publish(shared.log.as_ref(), &found).await?;
            reported += found.len();
        }
    }
    Ok((reported, assumed))
}

/// For each of `missed` (indexes into `segment`), the outcome a usable peer's node task history
/// gives it, from the first peer whose checkpoint covers it.
async fn peer_outcomes(
    shared: &Shared,
    partition: u32,
    segment: &[PositionedOp],
    missed: &[usize],
    usable: impl Fn(&str) -> bool,
) -> Vec<Option<OpOutcome>> {
    let mut outcomes: Vec<Option<OpOutcome>> = vec![None; segment.len()];
    let jobs = plan_jobs(
        segment,
        |i| if missed.contains(&i) { shared.apply_targets(&segment[i]).holders } else { Vec::new() },
        usable,
        |_, _| None,
    );
    for job in jobs {
        if job.idxs.iter().all(|&i| outcomes[i].is_some()) {
            continue;
        }
        let node = shared.node(&job.replica);
        let history = match read_history(node.as_ref(), &job.node_index, partition, segment[job.idxs[0]].position).await {
            Ok(history) => history,
            Err(error) => {
                tracing::debug!(node = %job.replica, %error, "a peer's task history could not be read");
                continue;
            }
        };
        let covered: Vec<usize> = job.idxs.into_iter().filter(|&i| history.checkpoint.is_some_and(|c| segment[i].position <= c)).collect();
        let ops: Vec<PositionedOp> = covered.iter().map(|&i| segment[i].clone()).collect();
        for (i, outcome) in covered.into_iter().zip(outcomes_from_history(&ops, &history.tasks)) {
            if outcomes[i].is_none() {
                outcomes[i] = outcome;
            }
        }
    }
    outcomes
}

//! Catching one lagging replica up, in its own task so the other replicas of the partition
//! keep going. The replica missed every operation from its `from` position on; the task waits
//! until the node answers, replays the partition from there to that replica alone (without
//! trusting its checkpoint: a failed internal task may hide behind a later succeeded one, and
//! re-applying operations in log order is harmless), reports the events, and hands the replica
//! back to the main loop once it has everything the main loop dispatched without it.

use crate::events::EventAssembler;
use crate::job::{decode_ops, plan_jobs, run_job, segments};
use crate::worker::{publish, IndexerError, Shared};
use futures::future::join_all;
use miroir_clients::log::{LogError, Record, Topic};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// How long a catch-up waits between health probes or after a failed replay.
const RETRY: Duration = Duration::from_millis(500);

/// What the main loop and the catch-up tasks of one partition share.
#[derive(Debug, Default)]
pub struct LagBoard {
    /// Highest position the main loop has handed to the healthy replicas.
    pub dispatched: Option<u64>,
    /// Lagging replica → first position it may still miss (also bounds the commits).
    pub lagging: BTreeMap<String, u64>,
    /// Replicas whose node lost its data → the first position it had not reported yet (its lag
    /// mark is then the partition's start: everything is replayed, or copied from a peer).
    pub lost_at: BTreeMap<String, u64>,
    /// Held (written) while a replica is rebuilt from a peer; the main loop reads it around
    /// every segment it applies, so the peers stand still during the copy.
    pub peer_copy: Arc<tokio::sync::RwLock<()>>,
}

pub type Board = Arc<Mutex<LagBoard>>;

/// Marks `replica` lagging from `from` (keeping an earlier mark).
pub fn mark_lagging(board: &Board, replica: &str, from: u64) {
    let mut b = board.lock().expect("lag board lock");
    let entry = b.lagging.entry(replica.to_owned()).or_insert(from);
    *entry = (*entry).min(from);
}

/// Marks `replica` as having lost its data, having reported everything before `missed_from`:
/// it lags from the partition's start.
pub fn mark_lost(board: &Board, replica: &str, missed_from: u64) {
    let mut b = board.lock().expect("lag board lock");
    let earlier = b.lagging.get(replica).copied().unwrap_or(missed_from).min(missed_from);
    let entry = b.lost_at.entry(replica.to_owned()).or_insert(earlier);
    *entry = (*entry).min(earlier);
    b.lagging.insert(replica.to_owned(), 0);
}

/// Runs until `replica` has caught up with the main loop on `partition`.
pub async fn catch_up(shared: Arc<Shared>, partition: u32, replica: String, board: Board) {
    let node = shared.node(&replica);
    loop {
        if !node.healthy().await {
            tokio::time::sleep(RETRY).await;
            continue;
        }
        let span = tracing::info_span!("catch_up", node = %replica, partition);
        match replay(&shared, partition, &replica, &board).instrument(span).await {
            Ok(true) => return,
            Ok(false) => tracing::warn!(node = %replica, partition, "replica failed again during catch-up"),
            Err(e) => tracing::warn!(node = %replica, partition, error = %e, "catch-up failed; retrying"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One replay attempt: `Ok(true)` once the replica rejoined the main loop, `Ok(false)` when it
/// stopped answering again (its lag mark then says where to resume).
async fn replay(shared: &Shared, partition: u32, replica: &str, board: &Board) -> Result<bool, IndexerError> {
    let Some(mut from) = board.lock().expect("lag board lock").lagging.get(replica).copied() else {
        return Ok(true);
    };
    tracing::info!(node = %replica, partition, from, "catching a replica up");
    let node = shared.node(replica);
    let mut reader = match shared.log.read_partition(Topic::Ops, partition, from).await {
        Err(LogError::Trimmed { first_kept }) => {
            tracing::info!(node = %replica, partition, from, first_kept, "retention removed what a replica lacks");
            crate::peer_rebuild::rebuild_from_peer(shared, partition, replica, board).await?;
            // Go on from the copy's checkpoint.
            let Some(after_copy) = board.lock().expect("lag board lock").lagging.get(replica).copied() else {
                return Ok(true);
            };
            from = after_copy;
            shared.log.read_partition(Topic::Ops, partition, from).await?
        }
        reader => reader?,
    };
    let mut buffered: VecDeque<Record> = VecDeque::new();
    let mut next = from;
    let mut checkpoints: HashMap<String, Option<u64>> = HashMap::new();
    let mut events = EventAssembler::default();
    loop {
        let target = {
            let mut b = board.lock().expect("lag board lock");
            match b.dispatched {
                Some(t) if next <= t => t,
                _ => {
                    // Everything the main loop sent without this replica is applied: from the
                    // next segment on, the main loop sends to it again.
                    b.lagging.remove(replica);
                    b.lost_at.remove(replica);
                    tracing::info!(node = %replica, partition, through = next.checked_sub(1), "replica caught up");
                    return Ok(true);
                }
            }
        };
        if buffered.is_empty() {
            buffered.extend(reader.next_batch(shared.settings.poll_max, shared.settings.poll_wait).await?);
        }
        let mut records = Vec::new();
        while buffered.front().is_some_and(|r| r.position.offset <= target) && records.len() < shared.settings.poll_max {
            records.extend(buffered.pop_front());
        }
        let Some(last) = records.last().map(|r| r.position.offset) else { continue };
        let ops = shared.cancels.admit(decode_ops(&records)).await?;
        // Topology barriers are run by the main loop, which waits for the replicas they involve
        // to catch up first.
        for segment in segments(&ops).into_iter().filter(|s| !s[0].envelope.is_topology_barrier()) {
            // Pieces of re-routed operations are applied here too; their sources were reported
            // by the main loop from another holder's outcome.
            let routed = shared.route(segment);
            let segment: &[crate::request::PositionedOp] = &routed;
            let jobs = plan_jobs(
                segment,
                |i| shared.apply_targets(&segment[i]).holders,
                |r| r == replica,
                |_, node_index| Some(checkpoints.get(node_index).copied().unwrap_or(from.checked_sub(1))),
            );
            let results =
                join_all(jobs.into_iter().map(|job| run_job(node.clone(), partition, segment, job, shared.settings.limits))).await;
            let mut reported = Vec::new();
            let mut stopped_at = None;
            for result in results {
                reported.extend(result.record_outcomes(segment, &mut events));
                if let Some(at) = result.lost_at(segment) {
                    mark_lost(board, replica, at);
                    publish(shared.log.as_ref(), &reported).await?;
                    return Ok(false);
                }
                match result.unavailable_position(segment) {
                    Some(position) => stopped_at = Some(stopped_at.map_or(position, |p: u64| p.min(position))),
                    None => {
                        checkpoints.insert(result.node_index, result.checkpoint);
                    }
                }
            }
            publish(shared.log.as_ref(), &reported).await?;
            if let Some(position) = stopped_at {
                let resume = events.oldest_open_position().map_or(position, |o| o.min(position));
                board.lock().expect("lag board lock").lagging.insert(replica.to_owned(), resume);
                return Ok(false);
            }
        }
        next = last + 1;
        let resume = events.oldest_open_position().map_or(next, |o| o.min(next));
        board.lock().expect("lag board lock").lagging.insert(replica.to_owned(), resume);
    }
}

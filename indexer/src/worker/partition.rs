//! One owned `ops` partition, applied by its own task. Partitions share nothing but the nodes
//! and the log, so each goes at its own pace: a partition whose node tasks are slow, or that
//! waits at a topology barrier, never holds up the others (and a partition that changes hands
//! resumes as soon as its new owner's lease is taken, not after the owner's other partitions).

use crate::catch_up::{catch_up, mark_lagging, mark_lost, Board};
use crate::events::EventAssembler;
use crate::job::{decode_ops, plan_jobs, run_job, segments, JobResult};
use crate::request::PositionedOp;
use crate::worker::{publish, IndexerError, Shared};
use futures::future::join_all;
use futures::FutureExt;
use miroir_clients::log::{retry_while_unavailable, FailurePause, LogError, Record, Topic};
use miroir_schemas::envelope::Op;
use miroir_schemas::meta_log::topology_changes::ApplyTargets;
use miroir_schemas::task_log::TaskEvent;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often an idle partition task still checks that every lagging replica has a catch-up.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The main loop's handle on one partition's task. Dropping it stops the task (the partition
/// moved to another member, which catches its replicas up).
pub(super) struct PartitionHandle {
    batches: mpsc::UnboundedSender<Vec<Record>>,
    pub(super) progress: Arc<Progress>,
    task: JoinHandle<()>,
}

/// What a partition's task tells the main loop.
#[derive(Default)]
pub(super) struct Progress {
    /// Bytes of records handed over and not yet applied (the main loop's backpressure).
    pub(super) queued_bytes: AtomicUsize,
    /// Batches handed over and not yet applied.
    pub(super) queued_batches: AtomicUsize,
    /// Replicas of this partition that lag.
    pub(super) lagging: AtomicUsize,
    /// Last offset applied to the healthy replicas, and the oldest position of a task whose
    /// events are not all reported: with the lag board, what may be committed.
    applied: Mutex<(Option<u64>, Option<u64>)>,
    board: Board,
}

impl Progress {
    /// Highest offset every replica and every pending event is past. A lagging replica whose
    /// mark is stored in `meta` (`stored_from(replica)` at or before its mark) does not hold the
    /// commit back: the partition's next owner reads the mark there and catches it up (so `ops`
    /// retention is not held back by a replica that is down; one left behind the window is
    /// rebuilt from a peer).
    pub(super) fn committable(&self, stored_from: impl Fn(&str) -> Option<u64>) -> Option<u64> {
        let (head, oldest_open) = *self.applied.lock().expect("progress lock");
        let lagging: Vec<u64> = {
            let board = self.board.lock().expect("lag board lock");
            let unrecorded = board.lagging.iter().filter(|(replica, mark)| stored_from(replica).is_none_or(|stored| stored > **mark));
            unrecorded.map(|(_, mark)| *mark).collect()
        };
        let mut upto = head?;
        for bound in lagging.into_iter().chain(oldest_open) {
            upto = upto.min(bound.checked_sub(1)?);
        }
        Some(upto)
    }
}

impl PartitionHandle {
    pub(super) fn start(shared: Arc<Shared>, partition: u32) -> PartitionHandle {
        let (batches, receiver) = mpsc::unbounded_channel();
        let progress = Arc::new(Progress::default());
        let state = PartitionState {
            shared,
            partition,
            progress: progress.clone(),
            checkpoints: HashMap::new(),
            events: EventAssembler::default(),
            catch_ups: HashMap::new(),
            meta_caught_up: false,
        };
        let task = tokio::spawn(state.run(receiver));
        PartitionHandle { batches, progress, task }
    }

    /// Re-raises, in the caller, a panic that ended the task: the records handed to it would
    /// otherwise wait forever, whereas a process that dies is restarted and resumes from its
    /// commits (as when the main loop applied every partition itself).
    pub(super) fn propagate_panic(&mut self) {
        if !self.task.is_finished() {
            return;
        }
        if let Some(Err(error)) = (&mut self.task).now_or_never() {
            if error.is_panic() {
                std::panic::resume_unwind(error.into_panic());
            }
        }
    }

    /// Hands `records` (this partition's, in offset order) to the task.
    pub(super) fn send(&self, records: Vec<Record>) {
        let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
        self.progress.queued_bytes.fetch_add(bytes, Ordering::SeqCst);
        self.progress.queued_batches.fetch_add(1, Ordering::SeqCst);
        // The receiver lives as long as the task, which only ends when this handle aborts it.
        let _ = self.batches.send(records);
    }
}

impl Drop for PartitionHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What this member knows about one `ops` partition it owns; owned by the partition's task.
struct PartitionState {
    shared: Arc<Shared>,
    partition: u32,
    progress: Arc<Progress>,
    /// `(node id, node index)` → last position applied there (`None`: nothing yet), and the
    /// node's reset count then (a checkpoint from before the node lost its data is void).
    checkpoints: HashMap<(String, String), (Option<u64>, u64)>,
    events: EventAssembler,
    catch_ups: HashMap<String, JoinHandle<()>>,
    /// Whether this task has folded `meta` as far as it was when it first applied records:
    /// which layout and topology an operation is applied in depends on the reshards and
    /// topology changes recorded before it, so a new owner must know them first.
    meta_caught_up: bool,
}

impl Drop for PartitionState {
    /// A partition this member no longer owns: its new owner catches the replicas up.
    fn drop(&mut self) {
        self.catch_ups.values().for_each(JoinHandle::abort);
    }
}

impl PartitionState {
    async fn run(mut self, mut batches: mpsc::UnboundedReceiver<Vec<Record>>) {
        // At once, not at the first records: the replicas an earlier owner left lagging must be
        // caught up even if nothing more is written.
        self.adopt_announced_lag().await;
        loop {
            let mut records = match tokio::time::timeout(IDLE_CHECK, batches.recv()).await {
                Ok(Some(records)) => records,
                Ok(None) => return,
                Err(_idle) => {
                    self.ensure_catch_ups();
                    continue;
                }
            };
            // Everything that queued up while the last batch was applied goes in one round (up
            // to a poll's worth): merged into as few node requests as the batcher can make,
            // which is what keeps the throughput up when node tasks are slow.
            let mut taken = 1;
            while records.len() < self.shared.settings.poll_max {
                let Ok(more) = batches.try_recv() else { break };
                records.extend(more);
                taken += 1;
            }
            let bytes: usize = records.iter().map(|r| r.payload.len()).sum();
            let mut pause = FailurePause::default();
            // Records handed over are not delivered again by this member's consumer: an
            // error is waited out on the same records rather than skipping them.
            while let Err(error) = self.apply(&records).await {
                let delay = pause.next_delay();
                tracing::warn!(partition = self.partition, %error, ?delay, "applying a batch failed; retrying");
                tokio::time::sleep(delay).await;
            }
            self.ensure_catch_ups();
            self.progress.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
            self.progress.queued_batches.fetch_sub(taken, Ordering::SeqCst);
        }
    }

    /// Admits, applies and reports one batch, then records how far it got.
    async fn apply(&mut self, records: &[Record]) -> Result<(), IndexerError> {
        let head = records.last().map(|r| r.position.offset);
        tracing::debug!(partition = self.partition, records = records.len(), first = records[0].position.offset, ?head, "polled");
        let decoded = decode_ops(records);
        let cancels = &self.shared.cancels;
        if !self.meta_caught_up {
            retry_while_unavailable("folding meta", || cancels.caught_up()).await?;
            self.meta_caught_up = true;
        }
        let ops = retry_while_unavailable("reading task cancelations", || cancels.admit(decoded.clone())).await?;
        let events = self.process(&ops).await;
        let log = self.shared.log.as_ref();
        retry_while_unavailable("publishing task events", || publish(log, &events)).await?;
        let mut applied = self.progress.applied.lock().expect("progress lock");
        applied.0 = head.max(applied.0);
        applied.1 = self.events.oldest_open_position();
        Ok(())
    }

    /// Marks lagging, from where they were announced, the replicas an earlier owner of the
    /// partition announced lagging and never caught up: the committed position this member
    /// starts from may be past what they miss.
    async fn adopt_announced_lag(&mut self) {
        // Nothing may reach a replica before its announced lag is known: wait for `meta`.
        let cancels = &self.shared.cancels;
        let mut pause = FailurePause::default();
        while let Err(error) = retry_while_unavailable("folding meta", || cancels.caught_up()).await {
            let delay = pause.next_delay();
            tracing::warn!(partition = self.partition, %error, ?delay, "folding meta failed; the partition waits");
            tokio::time::sleep(delay).await;
        }
        let adopted: Vec<(String, u64)> =
            cancels.lagging_replicas(self.partition).into_iter().filter(|(replica, _)| self.shared.knows_node(replica)).collect();
        if adopted.is_empty() {
            return;
        }
        // Earlier owners dispatched everything before the group's commit (where this member
        // starts) to the other replicas: the catch-up replays at least that far, and as far as
        // the log's end now (a broker may report its end short; the commit is exact), while
        // the main loop leaves these replicas out.
        let (log, partition, group) = (self.shared.log.clone(), self.partition, self.shared.settings.group.clone());
        let reach = || async {
            let end = log.end_offset(Topic::Ops, partition).await?;
            let committed = log.group_status(Topic::Ops, &group).await?.into_iter().find(|s| s.partition == partition);
            Ok::<u64, LogError>(end.max(committed.map_or(0, |s| s.next_offset)))
        };
        let end = loop {
            match retry_while_unavailable("reading the end of ops", reach).await {
                Ok(end) => break end,
                Err(error) => {
                    let delay = pause.next_delay();
                    tracing::warn!(partition, %error, ?delay, "the end of ops cannot be read; the partition waits");
                    tokio::time::sleep(delay).await;
                }
            }
        };
        {
            let mut board = self.progress.board.lock().expect("lag board lock");
            board.dispatched = board.dispatched.max(end.checked_sub(1));
        }
        for (replica, from) in adopted {
            tracing::info!(node = %replica, partition, from, "replica announced lagging by an earlier owner; catching it up");
            mark_lagging(&self.progress.board, &replica, from);
        }
        self.ensure_catch_ups();
    }

    /// Starts a catch-up task for every lagging replica that has none running.
    fn ensure_catch_ups(&mut self) {
        let lagging: BTreeMap<String, u64> = self.progress.board.lock().expect("lag board lock").lagging.clone();
        self.progress.lagging.store(lagging.len(), Ordering::SeqCst);
        self.shared.lag_announcer.update(self.partition, &lagging);
        for replica in lagging.into_keys() {
            let running = self.catch_ups.get(&replica).is_some_and(|h| !h.is_finished());
            if !running {
                let task = catch_up(self.shared.clone(), self.partition, replica.clone(), self.progress.board.clone());
                self.catch_ups.insert(replica, tokio::spawn(task));
            }
        }
    }

    /// Applies `ops` (log order, canceled tasks already dropped) to every replica of their
    /// shards that is not lagging, and returns the task events that became complete. A
    /// topology barrier holds the partition until it has run ([`crate::moves`]).
    async fn process(&mut self, ops: &[PositionedOp]) -> Vec<TaskEvent> {
        let mut events = Vec::new();
        let shared = self.shared.clone();
        let partition = self.partition;
        for segment in segments(ops) {
            if segment[0].envelope.is_topology_barrier() {
                self.run_barriers(segment).await;
                continue;
            }
            // A replica being rebuilt from a peer needs the peers to stand still.
            let peer_copy = self.progress.board.lock().expect("lag board lock").peer_copy.clone();
            let _peers_steady = peer_copy.read().await;
            // Under the board's lock, so a catch-up that sees this position as dispatched also
            // sees which replicas it was dispatched without.
            let lagging: BTreeSet<String> = {
                let mut board = self.progress.board.lock().expect("lag board lock");
                let last = segment[segment.len() - 1].position;
                board.dispatched = board.dispatched.max(Some(last));
                board.lagging.keys().cloned().collect()
            };
            let source = segment;
            let routed = shared.route(source);
            // Some operation was routed by another layout (its pieces, if any, are in `routed`;
            // a copy for a shard other than 0 of an operation for every shard has none).
            let rerouted = matches!(routed, std::borrow::Cow::Owned(_));
            let segment: &[PositionedOp] = &routed;
            let targets: Vec<_> = segment.iter().map(|op| shared.apply_targets(op)).collect();
            let jobs = plan_jobs(
                segment,
                |i| targets[i].holders.clone(),
                |r| !lagging.contains(r),
                |r, node_index| {
                    let cached = self.checkpoints.get(&(r.to_owned(), node_index.to_owned()));
                    cached.filter(|(_, resets)| *resets == shared.node(r).resets()).map(|(checkpoint, _)| *checkpoint)
                },
            );
            let results = join_all(jobs.into_iter().map(|job| {
                let node = shared.node(&job.replica);
                run_job(node, partition, segment, job, shared.settings.limits)
            }))
            .await;
            for result in &results {
                events.extend(result.record_outcomes(segment, &mut self.events));
            }
            events.extend(report_proxied(segment, &targets, &results, &mut self.events));
            if rerouted {
                let retried = apply_missing_pieces(&shared, partition, segment, &targets, &results).await;
                let words: Vec<&JobResult> = results.iter().chain(&retried).collect();
                events.extend(crate::rerouted_events::report(&shared, source, segment, &targets, &words, &mut self.events));
            }
            for result in results {
                match result.unavailable_position(segment) {
                    Some(position) => {
                        // Tasks of this replica still waiting for parts are replayed whole.
                        let from = self.events.oldest_open_position_of(&result.replica).map_or(position, |o| o.min(position));
                        // Logged as index + rank: node index names stay internal, even in logs.
                        let (index, rank) = miroir_schemas::node_layout::parse_node_index_uid(&result.node_index)
                            .map(|(index, rank)| (index.to_owned(), rank.to_string()))
                            .unwrap_or_default();
                        tracing::warn!(node = %result.replica, index, rank, position, from, "replica unavailable; marked lagging");
                        if let Some(at) = result.lost_at(segment) {
                            let reported_before = self.events.oldest_open_position_of(&result.replica).map_or(at, |o| o.min(at));
                            mark_lost(&self.progress.board, &result.replica, reported_before);
                        }
                        mark_lagging(&self.progress.board, &result.replica, from);
                        self.events.forget_replica(&result.replica);
                        self.checkpoints.retain(|(n, _), _| *n != result.replica);
                    }
                    None => {
                        self.checkpoints.insert((result.replica, result.node_index), (result.checkpoint, result.node_resets));
                    }
                }
            }
        }
        events
    }

    /// Runs topology barriers in order, each until it succeeds: the operations after a barrier
    /// are routed by what it records. Lagging replicas keep being caught up meanwhile.
    async fn run_barriers(&mut self, barriers: &[PositionedOp]) {
        let partition = self.partition;
        let mut pause = FailurePause::default();
        for barrier in barriers {
            if let Op::ReleaseShards { version } = barrier.envelope.op {
                self.retire_removed_replicas(version, barrier.position).await;
            }
            loop {
                let span = tracing::info_span!("topology_barrier", partition, position = barrier.position);
                let run = crate::moves::run_barrier(&self.shared, partition, barrier, &self.progress.board);
                match tracing::Instrument::instrument(run, span).await {
                    Ok(()) => break,
                    Err(error) => {
                        let delay = pause.next_delay();
                        tracing::warn!(partition, position = barrier.position, %error, ?delay, "topology barrier waits");
                        self.ensure_catch_ups();
                        tokio::time::sleep(delay).await;
                    }
                }
            }
            let mut board = self.progress.board.lock().expect("lag board lock");
            board.dispatched = board.dispatched.max(Some(barrier.position));
            drop(board);
            // The checkpoints of the node indexes a barrier filled or released are the node's.
            self.checkpoints.clear();
        }
    }
}

impl PartitionState {
    /// Before a release barrier: the lagging replicas on nodes the change removed will never
    /// catch up (their shards were copied from their peers at the copy barrier). Their catch-ups
    /// stop, the events of what they missed are reported for them ([`crate::missed_events`]), and this
    /// partition's commits stop waiting for them. Retried until the log answers.
    async fn retire_removed_replicas(&mut self, version: u64, release_position: u64) {
        let kept: Option<BTreeSet<String>> = self
            .shared
            .cancels
            .with_topology(|book| book.epoch(version).map(|epoch| epoch.placement.topology().nodes.iter().map(|n| n.id.clone()).collect()));
        let Some(kept) = kept else { return };
        let removed: Vec<(String, u64)> = {
            let board = self.progress.board.lock().expect("lag board lock");
            board.lagging.iter().filter(|(replica, _)| !kept.contains(*replica)).map(|(r, &from)| (r.clone(), from)).collect()
        };
        for (replica, from) in removed {
            if let Some(catch_up) = self.catch_ups.remove(&replica) {
                catch_up.abort();
                // Awaited so it cannot mark the replica lagging again after it is retired.
                let _ = catch_up.await;
            }
            let lagging: BTreeSet<String> = self.progress.board.lock().expect("lag board lock").lagging.keys().cloned().collect();
            let usable = |r: &str| kept.contains(r) && !lagging.contains(r);
            let mut pause = FailurePause::default();
            let (reported, assumed) = loop {
                match crate::missed_events::report_missed(&self.shared, self.partition, &replica, from, release_position, &usable).await {
                    Ok(counts) => break counts,
                    Err(error) => {
                        let delay = pause.next_delay();
                        tracing::warn!(node = %replica, partition = self.partition, %error, ?delay, "reporting for a removed replica failed; retrying");
                        tokio::time::sleep(delay).await;
                    }
                }
            };
            self.progress.board.lock().expect("lag board lock").lagging.remove(&replica);
            self.events.forget_replica(&replica);
            tracing::info!(node = %replica, partition = self.partition, from, reported, assumed, "a removed node's replica retired");
        }
        self.ensure_catch_ups();
    }
}

/// Applies again, until some holder has them, the pieces of re-routed operations none of their
/// holders applied (every holder lagging or unanswering): their sources' events need one
/// outcome per piece. Holds the partition meanwhile, as a barrier waits for its replicas.
async fn apply_missing_pieces(
    shared: &Arc<Shared>,
    partition: u32,
    segment: &[PositionedOp],
    targets: &[ApplyTargets],
    results: &[JobResult],
) -> Vec<JobResult> {
    let mut retried: Vec<JobResult> = Vec::new();
    let mut pause = FailurePause::default();
    loop {
        let words: Vec<&JobResult> = results.iter().chain(&retried).collect();
        let missing = crate::rerouted_events::missing_pieces(segment, targets, &words);
        if missing.is_empty() {
            return retried;
        }
        let delay = pause.next_delay();
        tracing::warn!(partition, pieces = missing.len(), ?delay, "no replica has some pieces of a re-routed operation yet; retrying");
        tokio::time::sleep(delay).await;
        let jobs =
            plan_jobs(segment, |i| if missing.contains(&i) { targets[i].holders.clone() } else { Vec::new() }, |_| true, |_, _| None);
        let runs = jobs.into_iter().map(|job| run_job(shared.node(&job.replica), partition, segment, job, shared.settings.limits));
        retried.extend(join_all(runs).await);
    }
}

/// The events of replicas a task may list that no longer hold its shard (a gateway had not
/// seen a release yet): each reported with the outcome of the shard's first holder that has one.
fn report_proxied(
    segment: &[PositionedOp],
    targets: &[ApplyTargets],
    results: &[JobResult],
    events: &mut EventAssembler,
) -> Vec<TaskEvent> {
    let mut reported = Vec::new();
    for (i, target) in targets.iter().enumerate().filter(|(_, t)| !t.proxied.is_empty()) {
        let outcome = results.iter().find_map(|r| r.applied.iter().find(|(j, o)| *j == i && o.is_some()).and_then(|(_, o)| o.clone()));
        if let Some(outcome) = outcome {
            for replica in &target.proxied {
                reported.extend(events.record(&segment[i], replica, Some(&outcome)));
            }
        }
    }
    reported
}

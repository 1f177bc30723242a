//! The indexer loop: consume `ops` as a group member, apply each partition's operations to
//! every healthy replica of their shard, report `task-events`, and commit. A replica that
//! stops answering is marked lagging and caught up by its own background task
//! ([`crate::catch_up`]), so one slow or dead node never holds up the others.

use crate::batch::BatchLimits;
use crate::cancelation::CancelGate;
use crate::catch_up::{catch_up, mark_lagging, mark_lost, Board};
use crate::events::EventAssembler;
use crate::job::{decode_ops, plan_jobs, run_job, segments, JobResult};
use crate::lag_announce::LagAnnouncer;
use crate::replica::ReplicaNode;
use crate::request::PositionedOp;
use bytes::Bytes;
use futures::future::join_all;
use miroir_clients::log::{retry_while_unavailable, FailurePause, GroupConsumer, LogError, NewRecord, Position, Record, Topic, WriteLog};
use miroir_schemas::envelope::encode;
use miroir_schemas::meta_log::topology_changes::ApplyTargets;
use miroir_schemas::meta_log::topology_changes::{MovePhase, TopologyBook};
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::TaskEvent;
use miroir_schemas::topology::Node;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct IndexerSettings {
    pub group: String,
    pub member: String,
    pub limits: BatchLimits,
    /// Records taken per poll (and so per round of node requests).
    pub poll_max: usize,
    pub poll_wait: Duration,
    /// How long after a topology change switched reads the moved-away replicas are kept (for
    /// gateways that have not seen the switch yet) before their release barrier is appended.
    pub release_grace: Duration,
}

impl IndexerSettings {
    pub fn new(group: impl Into<String>, member: impl Into<String>) -> Self {
        IndexerSettings {
            group: group.into(),
            member: member.into(),
            limits: BatchLimits::default(),
            poll_max: 1000,
            poll_wait: Duration::from_millis(200),
            release_grace: Duration::from_secs(10),
        }
    }
}

/// Makes a client for a node a topology change added.
pub type ConnectNode = Arc<dyn Fn(&Node) -> Option<Arc<dyn ReplicaNode>> + Send + Sync>;

/// What the main loop and the catch-up tasks share (read-only).
pub struct Shared {
    pub log: Arc<dyn WriteLog>,
    /// Drops the operations of canceled tasks (and announces the others before they are sent);
    /// also folds the topology book.
    pub cancels: CancelGate,
    nodes: RwLock<HashMap<String, Arc<dyn ReplicaNode>>>,
    connect: Option<ConnectNode>,
    pub settings: IndexerSettings,
    /// Tells gateways which replicas lag, so they read others.
    pub lag_announcer: LagAnnouncer,
}

impl Shared {
    /// The client of node `id`: one given at start, or made when a topology change named it.
    pub fn node(&self, id: &str) -> Arc<dyn ReplicaNode> {
        if let Some(node) = self.nodes.read().expect("nodes lock").get(id) {
            return node.clone();
        }
        let spec = self.cancels.with_topology(|book| book.node(id).cloned());
        let made = spec.zip(self.connect.as_ref()).and_then(|(spec, connect)| connect(&spec));
        let node = made.unwrap_or_else(|| panic!("no client for node `{id}`, which a topology names"));
        self.nodes.write().expect("nodes lock").entry(id.to_owned()).or_insert(node).clone()
    }

    /// The replicas operation `op` reaches, by the topology at its log position.
    pub fn apply_targets(&self, op: &PositionedOp) -> ApplyTargets {
        self.cancels.with_topology(|book| book.apply_targets(op.partition, op.position, op.shard()))
    }
}

/// What this member knows about one `ops` partition it owns.
#[derive(Default)]
struct PartitionState {
    /// `(node id, node index)` → last position applied there (`None`: nothing yet), and the
    /// node's reset count then (a checkpoint from before the node lost its data is void).
    checkpoints: HashMap<(String, String), (Option<u64>, u64)>,
    events: EventAssembler,
    /// Last offset handled for the healthy replicas.
    head: Option<u64>,
    board: Board,
    catch_ups: HashMap<String, JoinHandle<()>>,
    /// Release barriers this member appended (topology version).
    releases_appended: BTreeSet<u64>,
}

impl PartitionState {
    /// Highest offset every replica and every pending event is past.
    fn committable(&self) -> Option<u64> {
        let mut upto = self.head?;
        let lagging: Vec<u64> = self.board.lock().expect("lag board lock").lagging.values().copied().collect();
        for bound in lagging.into_iter().chain(self.events.oldest_open_position()) {
            upto = upto.min(bound.checked_sub(1)?);
        }
        Some(upto)
    }
}

impl Drop for PartitionState {
    /// A partition this member no longer owns: its new owner catches the replicas up.
    fn drop(&mut self) {
        self.catch_ups.values().for_each(JoinHandle::abort);
    }
}

pub struct Indexer {
    shared: Arc<Shared>,
    partitions: HashMap<u32, PartitionState>,
    /// The assignment seen at the last poll (logged when it changes).
    owned: Vec<u32>,
    /// When this member first saw the newest topology change switched.
    switched_seen: Option<(u64, Instant)>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("the topology names node `{0}` but no client was given for it")]
    MissingNode(String),
    #[error("rebuilding a replica from a peer: {0}")]
    PeerRebuild(#[from] crate::moves::MoveError),
}

/// Appends task events (dedup id `<task>:<shard>:<replica>`, so a replay within the broker's
/// window is stored once).
pub async fn publish(log: &dyn WriteLog, events: &[TaskEvent]) -> Result<(), LogError> {
    if events.is_empty() {
        return Ok(());
    }
    let records = events
        .iter()
        .map(|e| NewRecord::new(e.task_uid.to_string(), format!("{}:{}:{}", e.task_uid, e.shard, e.replica), Bytes::from(encode(e))))
        .collect();
    log.append_many(Topic::TaskEvents, records).await?;
    for event in events {
        // With the gateway's "task enqueued" line (in the request's span), this follows a write
        // from its request id to the replicas that applied it.
        tracing::info!(task_uid = event.task_uid, shard = %event.shard, replica = %event.replica, status = ?event.status, "task applied on a replica");
    }
    Ok(())
}

impl Indexer {
    /// An indexer for the cluster launched with `placement`, with clients for its nodes;
    /// `connect` makes clients for nodes topology changes add (none: no node may be added).
    pub fn new(
        log: Arc<dyn WriteLog>,
        placement: Placement,
        nodes: HashMap<String, Arc<dyn ReplicaNode>>,
        connect: Option<ConnectNode>,
        settings: IndexerSettings,
    ) -> Result<Indexer, IndexerError> {
        if let Some(missing) = placement.topology().nodes.iter().find(|n| !nodes.contains_key(&n.id)) {
            return Err(IndexerError::MissingNode(missing.id.clone()));
        }
        let book = TopologyBook::new(placement, log.config().ops_partitions);
        let cancels = CancelGate::start(log.clone(), book);
        let lag_announcer = LagAnnouncer::start(log.clone());
        let shared = Arc::new(Shared { log, cancels, nodes: RwLock::new(nodes), connect, settings, lag_announcer });
        Ok(Indexer { shared, partitions: HashMap::new(), owned: Vec::new(), switched_seen: None })
    }

    /// Runs until `shutdown` resolves, then leaves the group. An unavailable log is waited out,
    /// never a reason to stop.
    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), IndexerError> {
        let settings = &self.shared.settings;
        let log = self.shared.log.clone();
        tokio::pin!(shutdown);
        let mut consumer = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            joined = retry_while_unavailable("joining the ops consumer group", || log.join_group(Topic::Ops, &settings.group, &settings.member)) => joined?,
        };
        let mut pause = FailurePause::default();
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                step = self.step(consumer.as_mut()) => match step {
                    Ok(()) => pause.reset(),
                    Err(e) => {
                        let delay = pause.next_delay();
                        tracing::warn!(error = %e, ?delay, "indexer step failed; retrying");
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        }
        self.partitions.clear();
        if let Err(error) = consumer.leave().await {
            // The group notices a member that left silently when its session expires.
            tracing::warn!(%error, "leaving the consumer group failed");
        }
        Ok(())
    }

    /// One poll: apply, report, commit, and make sure every lagging replica has a catch-up task.
    pub async fn step(&mut self, consumer: &mut dyn GroupConsumer) -> Result<(), IndexerError> {
        let settings = &self.shared.settings;
        let records = consumer.poll(settings.poll_max, settings.poll_wait).await?;
        let owned = consumer.assignment();
        if owned != self.owned {
            tracing::info!(member = %settings.member, partitions = ?owned, "ops partitions owned");
            metrics::gauge!("miroir_indexer_partitions_owned").set(owned.len() as f64);
            self.owned = owned.clone();
        }
        self.partitions.retain(|p, _| owned.contains(p));
        let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for record in records {
            by_partition.entry(record.position.partition).or_default().push(record);
        }
        for (partition, records) in by_partition {
            // Lost since the poll (rebalance): the new owner delivers these again. Checked per
            // partition to narrow the window in which two members apply the same records.
            if !consumer.assignment().contains(&partition) {
                continue;
            }
            let head = records.last().map(|r| r.position.offset);
            tracing::debug!(partition, records = records.len(), first = records[0].position.offset, ?head, "polled");
            // Records polled here are not delivered again by this consumer, so the log's
            // unavailability is waited out in place rather than returned (which would drop them).
            let decoded = decode_ops(&records);
            let cancels = &self.shared.cancels;
            let ops = retry_while_unavailable("reading task cancelations", || cancels.admit(decoded.clone())).await?;
            let events = self.process(partition, &ops).await;
            let log = self.shared.log.as_ref();
            retry_while_unavailable("publishing task events", || publish(log, &events)).await?;
            let state = self.partitions.entry(partition).or_default();
            state.head = head.max(state.head);
        }
        let commits: Vec<Position> =
            self.partitions.iter().filter_map(|(&partition, s)| s.committable().map(|offset| Position { partition, offset })).collect();
        if !commits.is_empty() {
            consumer.commit(&commits).await?;
        }
        self.ensure_catch_ups();
        self.release_moved_replicas().await?;
        Ok(())
    }

    /// Once the newest topology change has switched reads, and its grace has passed, appends its
    /// release barrier to every partition this member owns that has not released yet.
    async fn release_moved_replicas(&mut self) -> Result<(), IndexerError> {
        let switched = self.shared.cancels.with_topology(|book| match book.moving() {
            Some((epoch, MovePhase::Switched)) => Some((epoch.version(), epoch.released.keys().copied().collect::<BTreeSet<u32>>())),
            _ => None,
        });
        let Some((version, released)) = switched else {
            return Ok(());
        };
        let since = match self.switched_seen {
            Some((seen, at)) if seen == version => at,
            _ => self.switched_seen.insert((version, Instant::now())).1,
        };
        if since.elapsed() < self.shared.settings.release_grace {
            return Ok(());
        }
        // Every partition this member owns, polled or not: a partition with no record since it
        // changed hands has no state yet, and still needs its release barrier.
        for &partition in &self.owned {
            let state = self.partitions.entry(partition).or_default();
            if released.contains(&partition) || state.releases_appended.contains(&version) {
                continue;
            }
            crate::moves::append_release_barrier(&self.shared, partition, version).await?;
            state.releases_appended.insert(version);
        }
        Ok(())
    }

    /// Starts a catch-up task for every lagging replica that has none running.
    fn ensure_catch_ups(&mut self) {
        let lagging: usize = self.partitions.values().map(|state| state.board.lock().expect("lag board lock").lagging.len()).sum();
        metrics::gauge!("miroir_indexer_replicas_lagging").set(lagging as f64);
        for (&partition, state) in &mut self.partitions {
            let lagging: BTreeSet<String> = state.board.lock().expect("lag board lock").lagging.keys().cloned().collect();
            self.shared.lag_announcer.update(partition, &lagging);
            for replica in lagging {
                let running = state.catch_ups.get(&replica).is_some_and(|h| !h.is_finished());
                if !running {
                    let task = catch_up(self.shared.clone(), partition, replica.clone(), state.board.clone());
                    state.catch_ups.insert(replica, tokio::spawn(task));
                }
            }
        }
    }

    /// Applies `ops` (one partition, log order, canceled tasks already dropped) to every replica of their shards that is not
    /// lagging, and returns the task events that became complete. A topology barrier holds the
    /// partition until it has run ([`crate::moves`]).
    async fn process(&mut self, partition: u32, ops: &[PositionedOp]) -> Vec<TaskEvent> {
        let mut events = Vec::new();
        let shared = self.shared.clone();
        for segment in segments(ops) {
            if segment[0].envelope.is_topology_barrier() {
                self.run_barriers(partition, segment).await;
                continue;
            }
            let state = self.partitions.entry(partition).or_default();
            // A replica being rebuilt from a peer needs the peers to stand still.
            let peer_copy = state.board.lock().expect("lag board lock").peer_copy.clone();
            let _peers_steady = peer_copy.read().await;
            // Under the board's lock, so a catch-up that sees this position as dispatched also
            // sees which replicas it was dispatched without.
            let lagging: BTreeSet<String> = {
                let mut board = state.board.lock().expect("lag board lock");
                let last = segment[segment.len() - 1].position;
                board.dispatched = board.dispatched.max(Some(last));
                board.lagging.keys().cloned().collect()
            };
            let targets: Vec<_> = segment.iter().map(|op| shared.apply_targets(op)).collect();
            let jobs = plan_jobs(
                segment,
                |i| targets[i].holders.clone(),
                |r| !lagging.contains(r),
                |r, node_index| {
                    let cached = state.checkpoints.get(&(r.to_owned(), node_index.to_owned()));
                    cached.filter(|(_, resets)| *resets == shared.node(r).resets()).map(|(checkpoint, _)| *checkpoint)
                },
            );
            let results = join_all(jobs.into_iter().map(|job| {
                let node = shared.node(&job.replica);
                run_job(node, partition, segment, job, shared.settings.limits)
            }))
            .await;
            for result in &results {
                events.extend(result.record_outcomes(segment, &mut state.events));
            }
            events.extend(report_proxied(segment, &targets, &results, &mut state.events));
            for result in results {
                match result.unavailable_position(segment) {
                    Some(position) => {
                        // Tasks of this replica still waiting for parts are replayed whole.
                        let from = state.events.oldest_open_position_of(&result.replica).map_or(position, |o| o.min(position));
                        // Logged as index + rank: node index names stay internal, even in logs.
                        let (index, rank) = miroir_schemas::node_layout::parse_node_index_uid(&result.node_index)
                            .map(|(index, rank)| (index.to_owned(), rank.to_string()))
                            .unwrap_or_default();
                        tracing::warn!(node = %result.replica, index, rank, position, from, "replica unavailable; marked lagging");
                        if let Some(at) = result.lost_at(segment) {
                            let reported_before = state.events.oldest_open_position_of(&result.replica).map_or(at, |o| o.min(at));
                            mark_lost(&state.board, &result.replica, reported_before);
                        }
                        mark_lagging(&state.board, &result.replica, from);
                        state.events.forget_replica(&result.replica);
                        state.checkpoints.retain(|(n, _), _| *n != result.replica);
                    }
                    None => {
                        state.checkpoints.insert((result.replica, result.node_index), (result.checkpoint, result.node_resets));
                    }
                }
            }
        }
        events
    }

    /// Runs topology barriers in order, each until it succeeds: the operations after a barrier
    /// are routed by what it records. Lagging replicas keep being caught up meanwhile.
    async fn run_barriers(&mut self, partition: u32, barriers: &[PositionedOp]) {
        let mut pause = FailurePause::default();
        for barrier in barriers {
            loop {
                let board = self.partitions.entry(partition).or_default().board.clone();
                let span = tracing::info_span!("topology_barrier", partition, position = barrier.position);
                match tracing::Instrument::instrument(crate::moves::run_barrier(&self.shared, partition, barrier, &board), span).await {
                    Ok(()) => break,
                    Err(error) => {
                        let delay = pause.next_delay();
                        tracing::warn!(partition, position = barrier.position, %error, ?delay, "topology barrier waits");
                        self.ensure_catch_ups();
                        tokio::time::sleep(delay).await;
                    }
                }
            }
            let state = self.partitions.entry(partition).or_default();
            let mut board = state.board.lock().expect("lag board lock");
            board.dispatched = board.dispatched.max(Some(barrier.position));
            // The checkpoints of the node indexes a barrier filled or released are the node's.
            drop(board);
            state.checkpoints.clear();
        }
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

#[cfg(test)]
mod tests;

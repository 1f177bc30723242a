//! The indexer loop: consume `ops` as a group member, hand each owned partition's records to
//! that partition's task ([`partition`]: applies them to every healthy replica of their shard
//! and reports `task-events`), and commit what the tasks applied. Partitions go at their own
//! pace, and a replica that stops answering is marked lagging and caught up by its own
//! background task ([`crate::catch_up`]), so one slow or dead node never holds up the others.

use crate::batch::BatchLimits;
use crate::cancelation::CancelGate;
use crate::lag_announce::LagAnnouncer;
use crate::replica::ReplicaNode;
use crate::request::PositionedOp;
use crate::reroute::route_ops;
use bytes::Bytes;
use miroir_clients::log::{retry_while_unavailable, FailurePause, GroupConsumer, LogError, NewRecord, Position, Record, Topic, WriteLog};
use miroir_schemas::envelope::encode;
use miroir_schemas::meta_log::topology_changes::ApplyTargets;
use miroir_schemas::meta_log::topology_changes::{MovePhase, TopologyBook};
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::TaskEvent;
use miroir_schemas::topology::Node;
use partition::PartitionHandle;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

mod partition;

/// Records handed to one partition's task and not yet applied, above which the main loop stops
/// polling (every partition's records come through one consumer).
const QUEUED_BYTES_LIMIT: usize = 64 << 20;
/// How often a main loop held by [`QUEUED_BYTES_LIMIT`] looks again (and commits meanwhile).
const BACKPRESSURE_WAIT: Duration = Duration::from_millis(50);

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
    /// Whether `id` is a node this member has a client for or a folded topology names.
    pub fn knows_node(&self, id: &str) -> bool {
        self.nodes.read().expect("nodes lock").contains_key(id) || self.cancels.with_topology(|book| book.node(id).is_some())
    }

    pub fn node(&self, id: &str) -> Arc<dyn ReplicaNode> {
        if let Some(node) = self.nodes.read().expect("nodes lock").get(id) {
            return node.clone();
        }
        let spec = self.cancels.with_topology(|book| book.node(id).cloned());
        let made = spec.zip(self.connect.as_ref()).and_then(|(spec, connect)| connect(&spec));
        let node = made.unwrap_or_else(|| panic!("no client for node `{id}`, which a topology names"));
        self.nodes.write().expect("nodes lock").entry(id.to_owned()).or_insert(node).clone()
    }

    /// The replicas operation `op` reaches, by the topology at its log position and the
    /// layout it is applied in.
    pub fn apply_targets(&self, op: &PositionedOp) -> ApplyTargets {
        self.cancels.with_topology(|book| book.apply_targets(op.partition, op.position, op.shard(), op.envelope.layout))
    }

    /// `ops` in the layouts of their indexes at their positions: an operation a gateway routed
    /// by another layout is replaced by its pieces ([`crate::reroute`]).
    pub fn route<'a>(&self, ops: &'a [PositionedOp]) -> Cow<'a, [PositionedOp]> {
        self.cancels.with_topology(|book| {
            if ops.iter().all(|op| layout_at(book, op) == op.envelope.layout) {
                return Cow::Borrowed(ops);
            }
            Cow::Owned(route_ops(ops, |op| layout_at(book, op), |layout| book.newest_placement(layout).clone()))
        })
    }

    /// The layout `op` is applied in.
    pub fn layout_of(&self, op: &PositionedOp) -> Option<u32> {
        self.cancels.with_topology(|book| layout_at(book, op))
    }
}

/// The layout of `op`'s index at its position (a swap or barrier: the one it names).
fn layout_at(book: &TopologyBook, op: &PositionedOp) -> Option<u32> {
    match &op.envelope.index_uid {
        Some(index) if !op.is_barrier() => book.layouts().layout_at(index, op.position),
        _ => op.envelope.layout,
    }
}

pub struct Indexer {
    shared: Arc<Shared>,
    /// The task applying each partition this member owns.
    partitions: HashMap<u32, PartitionHandle>,
    /// Per owned partition, the topology versions whose release barrier this member appended.
    releases_appended: HashMap<u32, BTreeSet<u64>>,
    /// Per owned partition, the offset last committed (a commit is a broker write: steps no
    /// longer wait for node tasks, so most find nothing new to commit).
    committed: HashMap<u32, u64>,
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
        Ok(Indexer {
            shared,
            partitions: HashMap::new(),
            releases_appended: HashMap::new(),
            committed: HashMap::new(),
            owned: Vec::new(),
            switched_seen: None,
        })
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

    /// One poll: hand each partition's records to its task, commit what the tasks applied,
    /// and append release barriers that are due. Waits first while a partition's task has more
    /// than [`QUEUED_BYTES_LIMIT`] of records to apply, so a stuck partition bounds memory.
    pub async fn step(&mut self, consumer: &mut dyn GroupConsumer) -> Result<(), IndexerError> {
        while self.partitions.values().any(|p| p.progress.queued_bytes.load(Ordering::SeqCst) > QUEUED_BYTES_LIMIT) {
            tokio::time::sleep(BACKPRESSURE_WAIT).await;
            self.commit(consumer).await?;
        }
        self.partitions.values_mut().for_each(PartitionHandle::propagate_panic);
        let settings = &self.shared.settings;
        let records = consumer.poll(settings.poll_max, settings.poll_wait).await?;
        let owned = consumer.assignment();
        if owned != self.owned {
            tracing::info!(member = %settings.member, partitions = ?owned, "ops partitions owned");
            metrics::gauge!("miroir_indexer_partitions_owned").set(owned.len() as f64);
            self.owned = owned.clone();
        }
        self.partitions.retain(|p, _| owned.contains(p));
        // Every owned partition gets its task at once, not with its first records: replicas an
        // earlier owner left lagging are caught up even if nothing more is written.
        for &partition in &owned {
            let shared = &self.shared;
            self.partitions.entry(partition).or_insert_with(|| PartitionHandle::start(shared.clone(), partition));
        }
        self.releases_appended.retain(|p, _| owned.contains(p));
        self.committed.retain(|p, _| owned.contains(p));
        let mut by_partition: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for record in records {
            by_partition.entry(record.position.partition).or_default().push(record);
        }
        for (partition, records) in by_partition {
            // Lost since the poll (rebalance): the new owner delivers these again.
            if !owned.contains(&partition) {
                continue;
            }
            let shared = &self.shared;
            self.partitions.entry(partition).or_insert_with(|| PartitionHandle::start(shared.clone(), partition)).send(records);
        }
        self.commit(consumer).await?;
        self.release_moved_replicas().await?;
        Ok(())
    }

    /// Commits, per partition, what its task has applied to every replica and reported.
    async fn commit(&mut self, consumer: &mut dyn GroupConsumer) -> Result<(), IndexerError> {
        let lagging: usize = self.partitions.values().map(|p| p.progress.lagging.load(Ordering::SeqCst)).sum();
        metrics::gauge!("miroir_indexer_replicas_lagging").set(lagging as f64);
        let commits: Vec<Position> = self
            .partitions
            .iter()
            .filter_map(|(&partition, p)| {
                let stored_from = |replica: &str| self.shared.lag_announcer.stored_from(partition, replica);
                p.progress.committable(stored_from).map(|offset| Position { partition, offset })
            })
            .collect();
        if !commits.is_empty() {
            consumer.commit(&commits).await?;
        }
        Ok(())
    }

    /// Waits until every partition task has applied what it was handed (tests, benchmarks).
    pub async fn settle(&self) {
        while self.partitions.values().any(|p| p.progress.queued_batches.load(Ordering::SeqCst) > 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
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
            let appended = self.releases_appended.entry(partition).or_default();
            if released.contains(&partition) || appended.contains(&version) {
                continue;
            }
            crate::moves::append_release_barrier(&self.shared, partition, version).await?;
            appended.insert(version);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

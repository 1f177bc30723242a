//! The indexer's side of task cancelation (`miroir_schemas::cancelation` has the rule): before
//! a task's operations reach any node for the first time, announce the task in `meta` and wait
//! until this process's fold of `meta` has passed the announcement; then drop the operations of
//! every task the fold says was canceled. The fold is the same for every indexer and every
//! replay, so all replicas of every shard get the same verdict.

use crate::request::PositionedOp;
use bytes::Bytes;
use miroir_clients::log::{tail_partition, LogError, Record, Topic, WriteLog};
use miroir_schemas::cancelation::CancelationBook;
use miroir_schemas::envelope::{decode, encode};
use miroir_schemas::meta_log::replica_lag::ReplicaLagPositions;
use miroir_schemas::meta_log::topology_changes::{TopologyBook, TopologyChange};
use miroir_schemas::meta_log::{MetaChange, MetaEnvelope, TaskChange};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long an announcement may take to come back through the fold before the step fails (and
/// is retried: nothing was sent to a node yet).
const FOLD_TIMEOUT: Duration = Duration::from_secs(30);

pub struct CancelGate {
    log: Arc<dyn WriteLog>,
    folded: Arc<Folded>,
    tailer: JoinHandle<()>,
}

struct Folded {
    book: Mutex<CancelationBook>,
    topology: Mutex<TopologyBook>,
    /// Where the replicas announced lagging miss writes from: a partition's new owner catches
    /// them up from there.
    lag_positions: Mutex<ReplicaLagPositions>,
    /// Offset of the next `meta` record to fold.
    next: watch::Sender<u64>,
}

impl Drop for CancelGate {
    fn drop(&mut self) {
        self.tailer.abort();
    }
}

impl CancelGate {
    /// Starts tailing `meta` from its beginning, with `topology` the cluster's launch topology
    /// book. Call inside a Tokio runtime.
    pub fn start(log: Arc<dyn WriteLog>, topology: TopologyBook) -> CancelGate {
        let folded = Arc::new(Folded {
            book: Mutex::default(),
            topology: Mutex::new(topology),
            lag_positions: Mutex::default(),
            next: watch::Sender::new(0),
        });
        let (folding, from) = (folded.clone(), *folded.next.borrow());
        let tailer = tokio::spawn(tail_partition(log.clone(), Topic::Meta, 0, from, move |records| fold(&folding, &records)));
        CancelGate { log, folded, tailer }
    }

    /// The topology book as folded so far (a copy: it is small).
    pub fn topology(&self) -> TopologyBook {
        self.folded.topology.lock().expect("topology book lock").clone()
    }

    /// Runs `f` on the topology book as folded so far.
    pub fn with_topology<R>(&self, f: impl FnOnce(&TopologyBook) -> R) -> R {
        f(&self.folded.topology.lock().expect("topology book lock"))
    }

    /// The replicas of `partition` announced lagging (by this indexer or an earlier owner) and
    /// not since caught up, with the first position each may miss, as folded so far.
    pub fn lagging_replicas(&self, partition: u32) -> Vec<(String, u64)> {
        self.folded.lag_positions.lock().expect("lag positions lock").lagging(partition)
    }

    /// Appends `change` to `meta` (key `key`) and waits until the fold has passed it.
    pub async fn append_and_fold(&self, change: impl Into<MetaChange>, key: &str, dedup_id: &str) -> Result<(), LogError> {
        let payload = Bytes::from(encode(&MetaEnvelope::new(change)));
        let position = self.log.append(Topic::Meta, key, dedup_id, payload).await?;
        let mut next = self.folded.next.subscribe();
        let reached = tokio::time::timeout(FOLD_TIMEOUT, next.wait_for(|&next| next > position.offset)).await;
        if !matches!(reached, Ok(Ok(_))) {
            return Err(LogError::Unavailable(format!("meta was not folded up to {} in {FOLD_TIMEOUT:?}", position.offset)));
        }
        Ok(())
    }

    /// Waits until the fold has passed every `meta` record stored now.
    pub async fn caught_up(&self) -> Result<(), LogError> {
        let end = self.log.end_offset(Topic::Meta, 0).await?;
        let mut next = self.folded.next.subscribe();
        let reached = tokio::time::timeout(FOLD_TIMEOUT, next.wait_for(|&next| next >= end)).await;
        if !matches!(reached, Ok(Ok(_))) {
            return Err(LogError::Unavailable(format!("meta was not folded up to {end} in {FOLD_TIMEOUT:?}")));
        }
        Ok(())
    }

    /// `ops` without the operations of canceled tasks, once every task among them has a
    /// verdict. Tasks without one are announced first (one `meta` record for all of them).
    /// Topology barriers belong to no task and pass as they are.
    pub async fn admit(&self, ops: Vec<PositionedOp>) -> Result<Vec<PositionedOp>, LogError> {
        let undecided: BTreeSet<u64> = {
            let book = self.folded.book.lock().expect("cancelation book lock");
            let tasks = ops.iter().filter(|op| !op.envelope.is_topology_barrier()).map(|op| op.envelope.task_uid);
            tasks.filter(|&task| !book.decided(task)).collect()
        };
        if !undecided.is_empty() {
            let change = TaskChange::TasksStarted { tasks: undecided.into_iter().collect() };
            let dedup_id = format!("started:{}", uuid::Uuid::new_v4().simple());
            self.append_and_fold(change, "tasks-started", &dedup_id).await?;
        }
        let book = self.folded.book.lock().expect("cancelation book lock");
        let (kept, canceled): (Vec<PositionedOp>, Vec<PositionedOp>) =
            ops.into_iter().partition(|op| op.envelope.is_topology_barrier() || book.canceled(op.envelope.task_uid).is_none());
        for op in &canceled {
            tracing::debug!(task_uid = op.envelope.task_uid, position = op.position, "operation of a canceled task skipped");
        }
        Ok(kept)
    }
}

fn apply_topology(book: &mut TopologyBook, change: &TopologyChange) {
    book.apply(change);
    if let TopologyChange::TopologyProposed { topology, .. } = change {
        tracing::info!(version = topology.version, newest = book.newest().version(), "topology proposal folded");
    }
}

/// Folds `meta` records into the cancelation and topology books, then publishes how far it has folded.
fn fold(folded: &Folded, records: &[Record]) {
    let Some(last) = records.last().map(|r| r.position.offset) else { return };
    {
        let mut book = folded.book.lock().expect("cancelation book lock");
        let mut topology = folded.topology.lock().expect("topology book lock");
        let mut lag_positions = folded.lag_positions.lock().expect("lag positions lock");
        for record in records {
            match decode::<MetaEnvelope>(&record.payload) {
                Ok(MetaEnvelope { change: MetaChange::Task(change), .. }) => book.apply(&change),
                Ok(MetaEnvelope { change: MetaChange::Topology(change), .. }) => apply_topology(&mut topology, &change),
                Ok(MetaEnvelope { change: MetaChange::ReplicaLag(change), .. }) => lag_positions.apply(&change),
                Ok(_) => {}
                Err(error) => tracing::error!(offset = record.position.offset, %error, "unreadable meta record skipped"),
            }
        }
    }
    folded.next.send_replace(last + 1);
}

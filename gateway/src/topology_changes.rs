//! Online topology changes, the gateway's half (docs/topology.md): every gateway folds the
//! `topologyProposed` / `shardsCopied` / `shardsReleased` records of `meta` into one
//! [`TopologyBook`], and reads, task targets and the admin API take the cluster's shape from it
//! instead of the launch configuration. A change asked through the admin API is recorded in
//! `meta`, folded, then a copy barrier is appended to every `ops` partition; the indexers do
//! the rest (copies, switch, releases).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use miroir_clients::log::{key_for_partition, partition_for_key, Topic, WriteLog};
use miroir_schemas::envelope::{encode, ops_key, Op, OpEnvelope};
use miroir_schemas::meta_log::topology_changes::{Reshard, TopologyBook, TopologyChange};
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::{Node, ShardId, Topology};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::error::GatewayError;
use crate::meta_fold::{MetaFollower, MetaState};

pub mod plan;
pub mod reshard;
mod routing;

pub use routing::Routing;

/// Routing key of topology records in `meta` (the topic has one partition).
const META_KEY: &str = "topology";

/// How long a request waits for this gateway's fold of `meta`.
const FOLD_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the node watcher looks for nodes a new topology brought.
const NODE_WATCH_PERIOD: Duration = Duration::from_secs(1);

/// Appending one copy barrier is retried this many times before the rest go to the background.
const BARRIER_ATTEMPTS: usize = 3;

impl MetaState for TopologyBook {
    type Change = TopologyChange;
    /// Whether the record made a new topology the newest (an accepted proposal).
    type Outcome = bool;

    fn change_of(envelope: MetaEnvelope) -> Option<TopologyChange> {
        envelope.topology_change()
    }

    fn apply(&mut self, change: &TopologyChange) -> bool {
        let before = self.newest().version();
        TopologyBook::apply(self, change);
        self.newest().version() != before
    }
}

/// The dedup id of the copy barrier of `version` in `ops` partition `partition`: every gateway
/// (and every retry) appending it names it alike, so the broker keeps one.
pub fn copy_barrier_dedup_id(version: u64, partition: u32) -> String {
    format!("copy:{version}:{partition}")
}

/// This gateway's topology book, kept current from `meta`.
pub struct TopologyService {
    meta: MetaFollower<TopologyBook>,
    ops_partitions: u32,
    /// Writes catch up with `meta` once, at the first write, so a gateway restarted during a
    /// move lists the replicas the move reaches; later writes read the fold as it stands.
    first_catch_up: OnceCell<()>,
    node_watcher: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for TopologyService {
    fn drop(&mut self) {
        if let Some(watcher) = self.node_watcher.lock().expect("node watcher lock").take() {
            watcher.abort();
        }
    }
}

impl TopologyService {
    /// Starts folding `meta` over the cluster launched with `launch` (call inside a Tokio
    /// runtime).
    pub fn start(log: Arc<dyn WriteLog>, launch: Topology) -> TopologyService {
        let ops_partitions = log.config().partitions(Topic::Ops);
        let book = TopologyBook::new(Placement::new(launch), ops_partitions);
        TopologyService {
            meta: MetaFollower::start(log, book, FOLD_TIMEOUT),
            ops_partitions,
            first_catch_up: OnceCell::new(),
            node_watcher: Mutex::new(None),
        }
    }

    /// Runs `read` on the book as this gateway has folded it.
    pub fn read<R>(&self, read: impl FnOnce(&TopologyBook) -> R) -> R {
        self.meta.ring().read(read)
    }

    /// A copy of the book (a dry run folds a proposal into it).
    pub fn book(&self) -> TopologyBook {
        self.read(TopologyBook::clone)
    }

    /// Waits until every record appended to `meta` before this call is folded.
    pub async fn catch_up(&self) -> Result<(), GatewayError> {
        self.meta.catch_up().await
    }

    /// The placement reads of an index in `layout` use now, and whether every read must be
    /// narrowed to the shards it asks (a move in progress).
    pub fn read_view(&self, layout: Option<u32>) -> (Arc<Placement>, bool) {
        self.read(|book| book.read_view(layout))
    }

    /// The current layout of `index_uid` (docs/resharding.md): what its reads use.
    pub fn layout(&self, index_uid: &str) -> Option<u32> {
        self.read(|book| book.layouts().layout(index_uid))
    }

    /// How the writes of `index_uid` are routed now (after catching up with `meta` once, at
    /// the first write, like [`TopologyService::write_targets`]).
    pub async fn routing(&self, index_uid: &str) -> Result<Routing, GatewayError> {
        self.first_catch_up.get_or_try_init(|| self.meta.catch_up()).await?;
        Ok(self.read(|book| Routing::of(book, index_uid)))
    }

    /// The nodes a task lists for each shard of `shards` of layout `layout` of the index whose
    /// operations are keyed `index_uid`.
    pub async fn write_targets(&self, index_uid: &str, layout: Option<u32>, shards: &[ShardId]) -> Result<Vec<Vec<String>>, GatewayError> {
        self.first_catch_up.get_or_try_init(|| self.meta.catch_up()).await?;
        let partition = partition_for_key(&ops_key(index_uid), self.ops_partitions);
        Ok(self.read(|book| shards.iter().map(|&shard| book.write_targets(partition, shard, layout)).collect()))
    }

    /// Records `topology` as proposed; `Ok(true)` when this gateway's fold took it as the next
    /// topology, `Ok(false)` when another record came first (another proposal, a move started).
    pub async fn propose(&self, topology: Topology) -> Result<bool, GatewayError> {
        let change = TopologyChange::TopologyProposed { topology, at: OffsetDateTime::now_utc() };
        self.meta.append_and_fold(META_KEY, change).await
    }

    /// Appends the copy barrier of `version` to every `ops` partition. A partition whose append
    /// keeps failing is retried in the background (same dedup ids) and the error returned: the
    /// proposal is recorded, so the move must still start.
    pub async fn append_copy_barriers(&self, log: Arc<dyn WriteLog>, version: u64) -> Result<(), GatewayError> {
        let partitions = self.ops_partitions;
        for partition in 0..partitions {
            if let Err(error) = append_copy_barrier(log.as_ref(), version, partition, partitions, BARRIER_ATTEMPTS).await {
                tracing::error!(version, partition, %error, "copy barrier not appended yet; retrying in the background");
                tokio::spawn(async move {
                    for partition in partition..partitions {
                        while let Err(error) = append_copy_barrier(log.as_ref(), version, partition, partitions, 1).await {
                            tracing::warn!(version, partition, %error, "copy barrier still not appended");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                    tracing::info!(version, "copy barriers appended after a log outage");
                });
                return Err(error);
            }
        }
        tracing::info!(version, partitions, "copy barriers appended");
        Ok(())
    }

    /// Records a reshard of `index` to `shards` as proposed; `Ok(Some(reshard))` when this
    /// gateway's fold took it as the reshard in progress, `Ok(None)` when another record came
    /// first (another reshard, a topology move).
    pub async fn propose_reshard(&self, index: &str, shards: u32) -> Result<Option<Reshard>, GatewayError> {
        let at = OffsetDateTime::now_utc();
        let change = TopologyChange::ReshardProposed { index: index.to_owned(), shards, at };
        self.meta.append_and_fold(META_KEY, change).await?;
        let ours = |reshard: &&Reshard| reshard.index == index && reshard.to == shards && reshard.proposed_at == at;
        Ok(self.read(|book| book.layouts().reshard().filter(ours).cloned()))
    }

    /// Appends the barrier of `reshard` to its index's `ops` partition. When the append keeps
    /// failing it is retried in the background (same dedup id) and the error returned: the
    /// proposal is recorded, so the reshard must still start.
    pub async fn append_reshard_barrier(&self, log: Arc<dyn WriteLog>, reshard: &Reshard) -> Result<(), GatewayError> {
        let barrier = OpEnvelope::reshard_barrier(&reshard.index, reshard.to);
        let key = ops_key(&reshard.index);
        let dedup_id = reshard::barrier_dedup_id(&reshard.index, reshard.to, reshard.proposed_at);
        if let Err(error) = append_barrier(log.as_ref(), &barrier, &key, &dedup_id, BARRIER_ATTEMPTS).await {
            tracing::error!(index = %reshard.index, shards = reshard.to, %error, "reshard barrier not appended yet; retrying in the background");
            tokio::spawn(async move {
                while let Err(error) = append_barrier(log.as_ref(), &barrier, &key, &dedup_id, 1).await {
                    tracing::warn!(%dedup_id, %error, "reshard barrier still not appended");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                tracing::info!(%dedup_id, "reshard barrier appended after a log outage");
            });
            return Err(error);
        }
        tracing::info!(index = %reshard.index, shards = reshard.to, "reshard barrier appended");
        Ok(())
    }

    /// Calls `appeared` once for every node some topology names that this gateway has not
    /// seen yet (the launch nodes included), as long as the service runs.
    pub fn watch_nodes(service: &Arc<TopologyService>, appeared: impl Fn(Node) + Send + Sync + 'static) {
        let weak = Arc::downgrade(service);
        let watcher = tokio::spawn(async move {
            let mut seen: BTreeSet<String> = BTreeSet::new();
            loop {
                let Some(service) = weak.upgrade() else { return };
                let new: Vec<Node> = service.read(|book| {
                    book.all_nodes().into_iter().filter(|id| !seen.contains(id)).filter_map(|id| book.node(&id).cloned()).collect()
                });
                drop(service);
                for node in new {
                    seen.insert(node.id.clone());
                    appeared(node);
                }
                tokio::time::sleep(NODE_WATCH_PERIOD).await;
            }
        });
        *service.node_watcher.lock().expect("node watcher lock") = Some(watcher);
    }
}

async fn append_copy_barrier(
    log: &dyn WriteLog,
    version: u64,
    partition: u32,
    partitions: u32,
    attempts: usize,
) -> Result<(), GatewayError> {
    let barrier = OpEnvelope::topology_barrier(Op::CopyShards { version });
    let key = key_for_partition(partition, partitions);
    append_barrier(log, &barrier, &key, &copy_barrier_dedup_id(version, partition), attempts).await
}

/// Appends `barrier` to `ops` under `key`, tried `attempts` times (same dedup id each time).
async fn append_barrier(log: &dyn WriteLog, barrier: &OpEnvelope, key: &str, dedup_id: &str, attempts: usize) -> Result<(), GatewayError> {
    let payload = encode(barrier);
    let mut last = None;
    for attempt in 0..attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt.min(4))).await;
        }
        match log.append(Topic::Ops, key, dedup_id, payload.clone().into()).await {
            Ok(_) => return Ok(()),
            Err(error) => last = Some(error),
        }
    }
    Err(last.expect("at least one attempt").into())
}

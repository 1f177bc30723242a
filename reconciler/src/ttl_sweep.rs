//! The TTL sweeper (docs/ttl.md): every `interval`, for each index with a TTL field (folded from
//! `meta` as gateways fold it), counts each shard's expired documents on one replica, bounds the
//! sweep to `batch` documents per shard ([`bound`]), and registers one task deleting them through
//! the log like any write: a `documentDeletion` task record, then one operation per shard,
//! `_miroir_until <= T` narrowed to the shard, marked [`WriteOrigin::Ttl`] so CDC consumers can
//! tell it apart. Every replica applies it at the same log position, and the node evaluates the
//! condition then: a document whose expiry was moved later meanwhile no longer matches and
//! stays. One reconciler at a time sweeps ([`SWEEP_GROUP`]).

pub mod bound;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use miroir_clients::log::{retry_while_unavailable, tail_partition, GroupConsumer, LogError, NewRecord, Record, Topic, WriteLog};
use miroir_clients::node::{NodeClient, NodeClientConfig, NodeError};
use miroir_clients::topology_follower::TopologyFollower;
use miroir_schemas::details::TaskDetails;
use miroir_schemas::envelope::{decode, encode, ops_key, Op, OpEnvelope, WriteOrigin};
use miroir_schemas::meta_log::ttl::TtlFields;
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::node_layout::{expired_condition, layout_node_index_uid, narrowed_to_shards, now_millis};
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::{ShardTarget, TaskRecord, TaskType};
use miroir_schemas::topology::ShardId;
use serde_json::{json, Value};
use time::OffsetDateTime;

use bound::{BoundSearch, Step};

/// The `customMetadata` of a sweep's task, so `GET /tasks` tells sweeps from clients' deletions.
pub const SWEEP_TASK_METADATA: &str = "miroir:ttl-sweep";

/// How often and how much the sweeper deletes.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// Time between the end of one sweep and the start of the next.
    pub interval: Duration,
    /// Most documents one sweep deletes per shard (more only when they share one expiry instant).
    pub batch: u64,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions { interval: Duration::from_secs(60), batch: 1000 }
    }
}

/// Why a shard could not be swept this time (it is tried again at the next sweep).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("no replica of shard {0} answered")]
    NoReplica(ShardId),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("a node answered a count without `total`: {0}")]
    BadAnswer(Value),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Sweeps every `options.interval` until `stop` resolves.
pub async fn run_ttl_sweep(
    placement: Placement,
    log: Arc<dyn WriteLog>,
    options: SweepOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError> {
    let topology = TopologyFollower::start(log.clone(), placement);
    let fields = Arc::new(Mutex::new(TtlFields::default()));
    let folding = fields.clone();
    let follower = tokio::spawn(tail_partition(log.clone(), Topic::Meta, 0, 0, move |records| fold_ttl(&folding, &records)));
    let mut turn = SweepTurn { log: log.clone(), member: format!("ttl-sweeper-{}", uuid::Uuid::new_v4().simple()), consumer: None };
    tokio::pin!(stop);
    'sweeps: loop {
        let due = Instant::now() + options.interval;
        let mut owner = false;
        while let Some(left) = due.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()) {
            tokio::select! {
                () = &mut stop => break 'sweeps,
                owns = turn.wait(left.min(MEMBERSHIP_POLL)) => owner = owns,
            }
        }
        if !owner {
            continue;
        }
        // A sweep counts expired documents on each shard's replicas, which a topology change
        // in progress may have copied to more node indexes than the placement says.
        let Some(book) = topology.settled_book() else {
            tracing::info!("TTL sweep postponed: a topology change is moving replicas");
            continue;
        };
        let placement = book.newest().placement.clone();
        let mut nodes = BTreeMap::new();
        for node in &placement.topology().nodes {
            nodes.insert(node.id.clone(), NodeClient::new(NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone()))?);
        }
        let indexes: Vec<String> = fields.lock().expect("ttl fields lock").iter().map(|(index, _)| index.to_owned()).collect();
        for index in indexes {
            // Both layouts of an index being resharded exist; it is swept once it is done.
            if book.layouts().reshard().is_some_and(|reshard| reshard.index == index) {
                continue;
            }
            let layout = book.layouts().layout(&index);
            let in_layout = Layout { placement: book.newest_placement(layout), layout };
            // Not raced against `stop`: a sweep registers its task and operations whole.
            if let Err(error) = sweep_index(&in_layout, &nodes, log.as_ref(), &index, options.batch).await {
                tracing::warn!(index, %error, "TTL sweep of an index failed; retried at the next sweep");
            }
        }
        metrics::counter!("miroir_ttl_sweeps_total").increment(1);
    }
    follower.abort();
    turn.leave().await;
    Ok(())
}

/// The consumer group whose one partition (of `meta`) names the reconciler that sweeps.
pub const SWEEP_GROUP: &str = "miroir-ttl-sweep";

/// How often a reconciler waiting between sweeps polls its group, to stay a member.
const MEMBERSHIP_POLL: Duration = Duration::from_secs(1);

/// One sweeper at a time: every reconciler with the sweeper on joins [`SWEEP_GROUP`] on `meta`
/// (one partition), and only the member owning that partition sweeps; another takes over when it
/// leaves or its membership lapses. (Two sweeping at once would be harmless, the second
/// deletion matching nothing, but would register twice the tasks.)
struct SweepTurn {
    log: Arc<dyn WriteLog>,
    member: String,
    consumer: Option<Box<dyn GroupConsumer>>,
}

impl SweepTurn {
    /// Polls the group for up to `wait` (which keeps this member in it); whether this member
    /// owns the sweep now. The records polled are not needed: they are committed at once.
    async fn wait(&mut self, wait: Duration) -> bool {
        if self.consumer.is_none() {
            match self.log.join_group(Topic::Meta, SWEEP_GROUP, &self.member).await {
                Ok(consumer) => self.consumer = Some(consumer),
                Err(error) => {
                    tracing::warn!(%error, "joining the TTL sweepers' group failed; retrying");
                    tokio::time::sleep(wait).await;
                    return false;
                }
            }
        }
        let consumer = self.consumer.as_mut().expect("joined above");
        match consumer.poll(MEMBERSHIP_POLL_RECORDS, wait).await {
            Ok(records) => {
                if let Some(last) = records.last() {
                    if let Err(error) = consumer.commit(&[last.position]).await {
                        tracing::debug!(%error, "committing the TTL sweepers' group position failed");
                    }
                }
                !consumer.assignment().is_empty()
            }
            Err(error) => {
                tracing::warn!(%error, "polling the TTL sweepers' group failed; joining again");
                self.consumer = None;
                false
            }
        }
    }

    async fn leave(self) {
        if let Some(consumer) = self.consumer {
            if let Err(error) = consumer.leave().await {
                tracing::warn!(%error, "leaving the TTL sweepers' group failed");
            }
        }
    }
}

/// Records of `meta` read per membership poll (read and dropped).
const MEMBERSHIP_POLL_RECORDS: usize = 1000;

fn fold_ttl(fields: &Mutex<TtlFields>, records: &[Record]) {
    let mut fields = fields.lock().expect("ttl fields lock");
    for record in records {
        match decode::<MetaEnvelope>(&record.payload) {
            Ok(envelope) => {
                if let Some(change) = envelope.ttl_change() {
                    fields.apply(&change);
                }
            }
            Err(error) => tracing::error!(position = ?record.position, %error, "unreadable meta record"),
        }
    }
}

/// An index's layout (docs/resharding.md) and its placement: what a sweep reads and routes by.
struct Layout<'a> {
    placement: &'a Placement,
    layout: Option<u32>,
}

/// One sweep of one index: the bound of every shard with expired documents, then one task.
async fn sweep_index(
    layout: &Layout<'_>,
    nodes: &BTreeMap<String, NodeClient>,
    log: &dyn WriteLog,
    index: &str,
    batch: u64,
) -> Result<(), SweepError> {
    let now = now_millis();
    let mut ops = Vec::new();
    for shard in layout.placement.shards() {
        match shard_bound(layout, nodes, index, shard, now, batch).await {
            Ok(Some((until, expired))) => {
                // The node deletes those still expired when it applies the operation.
                metrics::counter!("miroir_ttl_expired_documents_total").increment(expired);
                ops.push((shard, Op::DeleteByFilter { filter: Value::String(expired_condition(until)) }));
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(index, shard = shard.0, %error, "TTL sweep skipped a shard"),
        }
    }
    if ops.is_empty() {
        return Ok(());
    }
    let task_uid = register(layout, log, index, now, ops).await?;
    tracing::info!(index, task_uid, "TTL sweep registered");
    Ok(())
}

/// How far this sweep deletes in `shard` ([`bound`]) and how many documents expired by then,
/// counted on the first replica that answers.
async fn shard_bound(
    layout: &Layout<'_>,
    nodes: &BTreeMap<String, NodeClient>,
    index: &str,
    shard: ShardId,
    now: i64,
    batch: u64,
) -> Result<Option<(i64, u64)>, SweepError> {
    let placement = layout.placement;
    for replica in placement.replicas(shard) {
        let (Some(client), Some(rank)) = (nodes.get(&replica.id), placement.rank_of(shard, &replica.id)) else { continue };
        let node_index = layout_node_index_uid(index, layout.layout, rank);
        let count = |at: i64| expired_count(client, &node_index, shard, at);
        let first = match count(now).await {
            Ok(count) => count,
            Err(SweepError::Node(error)) if error.is_unavailable() => {
                tracing::debug!(%error, "a replica did not answer a TTL count; asking the next");
                continue;
            }
            Err(error) => return Err(error),
        };
        let (mut search, mut step) = BoundSearch::start(now, first, batch);
        loop {
            match step {
                Step::Nothing => return Ok(None),
                Step::DeleteUntil { until, expired } => return Ok(Some((until, expired))),
                Step::Count(at) => step = search.record(at, count(at).await?),
            }
        }
    }
    Err(SweepError::NoReplica(shard))
}

/// How many documents of `shard` in `node_index` expired by `at`.
async fn expired_count(client: &NodeClient, node_index: &str, shard: ShardId, at: i64) -> Result<u64, SweepError> {
    let filter = narrowed_to_shards(&Value::String(expired_condition(at)), &[shard]);
    let page = client.fetch_documents(node_index, &json!({"filter": filter, "limit": 0})).await?;
    page.get("total").and_then(Value::as_u64).ok_or(SweepError::BadAnswer(page))
}

/// Appends the sweep's task record, then its operations (retried with the same dedup ids while
/// the log is unavailable, so the task completes once the log answers); returns its uid.
async fn register(layout: &Layout<'_>, log: &dyn WriteLog, index: &str, now: i64, ops: Vec<(ShardId, Op)>) -> Result<u64, SweepError> {
    let placement = layout.placement;
    let details = TaskDetails::DocumentDeletionByFilter {
        original_filter: Value::String(expired_condition(now)).to_string(),
        deleted_documents: None,
    };
    let enqueued_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now) * 1_000_000).unwrap_or_else(|_| OffsetDateTime::now_utc());
    let mut record = TaskRecord::new(TaskType::DocumentDeletion, Some(index.to_owned()), Some(details), enqueued_at);
    record.custom_metadata = Some(SWEEP_TASK_METADATA.to_owned());
    record.targets = ops
        .iter()
        .map(|(shard, _)| ShardTarget {
            shard: *shard,
            replicas: placement.replicas(*shard).into_iter().map(|node| node.id.clone()).collect(),
        })
        .collect();
    let task_dedup = format!("ttl-sweep:{index}:{now}:{}", uuid::Uuid::new_v4().simple());
    let payload = Bytes::from(encode(&record));
    let position =
        retry_while_unavailable("registering a TTL sweep", || log.append(Topic::Tasks, "tasks", &task_dedup, payload.clone())).await?;
    let task_uid = position.offset;
    let records: Vec<NewRecord> = ops
        .into_iter()
        .map(|(shard, op)| {
            let mut envelope = OpEnvelope::new(task_uid, Some(index.to_owned()), shard, op);
            envelope.origin = WriteOrigin::Ttl;
            envelope.layout = layout.layout;
            NewRecord::new(ops_key(index), envelope.dedup_id(), encode(&envelope))
        })
        .collect();
    retry_while_unavailable("appending a TTL sweep's operations", || log.append_many(Topic::Ops, records.clone())).await?;
    metrics::counter!("miroir_ttl_sweep_tasks_total").increment(1);
    Ok(task_uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_clients::log::{LogConfig, MemoryLog};

    /// Which of `turns` own the sweep after each has polled a few times.
    async fn owners(turns: &mut [SweepTurn]) -> Vec<String> {
        let wait = Duration::from_millis(20);
        for _ in 0..3 {
            for turn in turns.iter_mut() {
                turn.wait(wait).await;
            }
        }
        let mut owners = Vec::new();
        for turn in turns.iter_mut() {
            if turn.wait(wait).await {
                owners.push(turn.member.clone());
            }
        }
        owners
    }

    /// Of several reconcilers with the sweeper on, exactly one sweeps; when it leaves, another does.
    #[tokio::test]
    async fn one_reconciler_at_a_time_sweeps_and_another_takes_over() {
        let log: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(LogConfig::for_tests("ttl-turn")).unwrap());
        let mut turns: Vec<SweepTurn> =
            ["a", "b", "c"].iter().map(|member| SweepTurn { log: log.clone(), member: (*member).to_owned(), consumer: None }).collect();
        let first = owners(&mut turns).await;
        assert_eq!(first.len(), 1, "exactly one sweeper: {first:?}");
        let owner = turns.iter().position(|turn| turn.member == first[0]).unwrap();
        turns.remove(owner).leave().await;
        let next = owners(&mut turns).await;
        assert_eq!(next.len(), 1, "another one took over: {next:?}");
        assert_ne!(next, first);
    }
}

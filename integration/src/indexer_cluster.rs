//! What the `indexer_*` tests share: a [`Cluster`] without Miroir processes (the tests start
//! their own `miroir-indexer`s), a writer that appends `TaskRecord`s and `OpEnvelope`s straight
//! to the log as a gateway would, a model of what every shard must hold, and readers of
//! `task-events` and of node contents.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use miroir_clients::log::{KafkaLog, LogConfig, NatsLog, PartitionReader, Topic, WriteLog};
use miroir_schemas::envelope::{decode, encode, DocumentMethod, Op, OpEnvelope};
use miroir_schemas::node_layout::{layout_node_index_uid, ReplicaRank, SHARD_FIELD};
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::{ShardTarget, TaskEvent, TaskRecord, TaskType};
use miroir_schemas::topology::{ShardId, Topology};
use serde_json::{json, Map, Value};

use crate::brokers::LogKind;
use crate::cluster::Cluster;
use crate::process::ManagedProcess;
use crate::wait::{wait_until, Deadline, Progress};

pub const INDEX: &str = "movies";
/// Upper bound on waiting for the cluster to converge: only turns a hang into a failure. Generous:
/// with every partition sending at once, three nodes sharing the CI machine's two cores queue
/// node tasks for seconds each (docs/benchmarks.md "Indexer scaling"), and these tests ran up to
/// 180 s under load.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(300);
/// Partitions of `ops`: more than one, so two indexers can split them.
const OPS_PARTITIONS: u32 = 4;
const TASK_EVENTS_PARTITIONS: u32 = 2;

/// What a shard must hold: id → document.
pub type Docs = BTreeMap<String, Map<String, Value>>;

/// Fields drop in declaration order: the log client before the broker it talks to.
pub struct IndexerCluster {
    pub log: Arc<dyn WriteLog>,
    pub cluster: Cluster,
    pub placement: Placement,
    pub ops_partitions: u32,
    /// The index the next tasks write (see [`IndexerCluster::use_index`]).
    pub index: String,
    /// What every (index, shard) must hold.
    pub expected: BTreeMap<(String, ShardId), Docs>,
    /// Every (task, shard) an op was appended for, with the replicas each (task, shard) listed when it was appended (the placement then).
    pub targets: BTreeMap<(u64, ShardId), Vec<String>>,
    /// The layout of the index the writes are routed by (`placement` is its placement), as a
    /// gateway that has seen its reshards would (docs/resharding.md).
    pub layout: Option<u32>,
    http: reqwest::Client,
}

impl IndexerCluster {
    /// A broker, `node_count` nodes in one replica group, `shards` shards with `rf` replicas.
    pub async fn start(log: LogKind, node_count: usize, shards: u32, rf: u32) -> Result<IndexerCluster> {
        let cluster = Cluster::builder(log)
            .nodes(node_count)
            .shards(shards)
            .replication_factor(rf)
            .env("MIROIR_OPS_PARTITIONS", OPS_PARTITIONS)
            .env("MIROIR_TASK_EVENTS_PARTITIONS", TASK_EVENTS_PARTITIONS)
            .env("MIROIR_INDEXER_GROUP", "indexers")
            .env("MIROIR_GROUP_SESSION_MS", 2000)
            .env("MIROIR_NODE_REQUEST_TIMEOUT_MS", 1500)
            // A reshard keeps the old layout this long after its switch.
            .env("MIROIR_RELEASE_GRACE_MS", 1000)
            .without_miroir()
            .start()
            .await?;
        let mut config = LogConfig::for_tests(cluster.spec.topic_prefix.clone());
        config.ops_partitions = OPS_PARTITIONS;
        config.task_events_partitions = TASK_EVENTS_PARTITIONS;
        let log: Arc<dyn WriteLog> = match log {
            LogKind::Nats => Arc::new(NatsLog::connect(cluster.broker.url(), config).await?),
            LogKind::Kafka => Arc::new(KafkaLog::connect(cluster.broker.url(), config).await?),
        };
        Ok(IndexerCluster {
            log,
            placement: cluster.placement(),
            cluster,
            ops_partitions: OPS_PARTITIONS,
            index: INDEX.to_owned(),
            expected: BTreeMap::new(),
            targets: BTreeMap::new(),
            layout: None,
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build()?,
        })
    }

    /// Makes the next tasks write index `index` (all of an index's operations share one `ops`
    /// partition, so indexers split the work by index).
    pub fn use_index(&mut self, index: &str) {
        self.index = index.to_owned();
    }

    /// The `ops` partition the operations of `index` go to.
    pub fn partition_of(&self, index: &str) -> u32 {
        miroir_clients::log::partition_for_key(&miroir_schemas::envelope::ops_key(index), self.ops_partitions)
    }

    /// Starts `miroir-indexer` as member `member` of the group `indexers`.
    pub fn spawn_indexer(&self, member: &str) -> Result<ManagedProcess> {
        self.spawn_indexer_polling(member, 200)
    }

    /// An indexer taking at most `poll_max` records per step (small: many steps, so a kill
    /// lands between them).
    pub fn spawn_indexer_polling(&self, member: &str, poll_max: usize) -> Result<ManagedProcess> {
        let env = [("MIROIR_INDEXER_MEMBER", member.to_owned()), ("MIROIR_POLL_MAX", poll_max.to_string())];
        self.cluster.spawn_indexer(&format!("indexer-{member}"), &env)
    }

    /// The ids of the nodes of the current topology, in node order.
    pub fn node_ids(&self) -> Vec<String> {
        self.placement.topology().nodes.iter().map(|node| node.id.clone()).collect()
    }

    /// Appends a task record and its per-shard operations as a gateway would; returns the uid.
    pub async fn append_task(&mut self, task_type: TaskType, ops: Vec<(ShardId, Op)>) -> Result<u64> {
        let index = self.index.clone();
        let mut record = TaskRecord::new(task_type, Some(index.clone()), None, time::OffsetDateTime::now_utc());
        record.targets = ops
            .iter()
            .map(|(shard, _)| ShardTarget {
                shard: *shard,
                replicas: self.placement.replicas(*shard).iter().map(|n| n.id.clone()).collect(),
            })
            .collect();
        let dedup = format!("task:{}", uuid::Uuid::new_v4().simple());
        let task_uid = self.log.append(Topic::Tasks, "tasks", &dedup, Bytes::from(encode(&record))).await?.offset;
        let records = ops
            .into_iter()
            .map(|(shard, op)| {
                self.targets.insert((task_uid, shard), self.placement.replicas(shard).iter().map(|n| n.id.clone()).collect());
                let mut envelope = OpEnvelope::new(task_uid, Some(index.clone()), shard, op);
                envelope.layout = self.layout;
                miroir_clients::log::NewRecord::new(miroir_schemas::envelope::ops_key(&index), envelope.dedup_id(), encode(&envelope))
            })
            .collect();
        self.log.append_many(Topic::Ops, records).await?;
        Ok(task_uid)
    }

    /// Asks for the current index to be resharded to `shards` shards, as the gateway's admin
    /// API does: the proposal in `meta`, then its barrier in the index's `ops` partition.
    pub async fn propose_reshard(&self, shards: u32) -> Result<()> {
        use miroir_schemas::meta_log::{topology_changes::TopologyChange, MetaEnvelope};
        let at = time::OffsetDateTime::now_utc();
        let change = TopologyChange::ReshardProposed { index: self.index.clone(), shards, at };
        let dedup = format!("reshard:{}:{shards}:{}", self.index, at.unix_timestamp_nanos());
        self.log.append(Topic::Meta, "topology", &dedup, Bytes::from(encode(&MetaEnvelope::new(change)))).await?;
        let barrier = OpEnvelope::reshard_barrier(&self.index, shards);
        self.log.append(Topic::Ops, &miroir_schemas::envelope::ops_key(&self.index), &dedup, Bytes::from(encode(&barrier))).await?;
        Ok(())
    }

    /// Reads `meta` until the reshard of the current index to `shards` ends: `Ok(true)` when it
    /// was released (complete), `Ok(false)` when it was given up.
    pub async fn wait_for_reshard(&self, shards: u32) -> Result<bool> {
        use miroir_schemas::meta_log::{topology_changes::TopologyChange, MetaEnvelope};
        let mut reader = self.log.read_partition(Topic::Meta, 0, 0).await?;
        let deadline = Deadline::after(CONVERGE_TIMEOUT);
        loop {
            for record in reader.next_batch(100, Duration::from_millis(200)).await? {
                let Ok(envelope) = decode::<MetaEnvelope>(&record.payload) else { continue };
                match envelope.topology_change() {
                    Some(TopologyChange::ReshardReleased { index, shards: s, .. }) if index == self.index && s == shards => {
                        return Ok(true)
                    }
                    Some(TopologyChange::ReshardAborted { index, shards: s, .. }) if index == self.index && s == shards => {
                        return Ok(false)
                    }
                    _ => {}
                }
            }
            if deadline.passed() {
                bail!("the reshard of {} to {shards} did not end in {CONVERGE_TIMEOUT:?}", self.index);
            }
        }
    }

    /// Routes the next writes by `layout` (the index was resharded to it), the model re-keyed
    /// by its shards.
    pub fn route_by_layout(&mut self, layout: Option<u32>) {
        let launch = self.cluster.placement();
        let shards = layout.unwrap_or(launch.topology().shard_count);
        self.placement = Placement::new(Topology { shard_count: shards, ..launch.topology().clone() });
        self.layout = layout;
        let index = self.index.clone();
        let mut documents = Docs::new();
        for ((_, _), docs) in self.expected.iter().filter(|((i, _), _)| *i == index) {
            documents.extend(docs.clone());
        }
        self.expected.retain(|(i, _), _| *i != index);
        for shard in self.placement.shards() {
            self.expected.entry((index.clone(), shard)).or_default();
        }
        for (id, doc) in documents {
            let shard = self.placement.shard_of(&id);
            self.expected.entry((index.clone(), shard)).or_default().insert(id, doc);
        }
    }

    /// Index creation on every shard.
    pub async fn create_index(&mut self) -> Result<u64> {
        let ops = self.placement.shards().map(|s| (s, Op::CreateIndex { primary_key: Some("id".into()) })).collect();
        for shard in self.placement.shards() {
            self.expected.entry((self.index.clone(), shard)).or_default();
        }
        self.append_task(TaskType::IndexCreation, ops).await
    }

    /// One document task (routed by HRW), applied to the model too.
    pub async fn write_docs(&mut self, method: DocumentMethod, docs: Vec<Map<String, Value>>) -> Result<u64> {
        let mut by_shard: BTreeMap<ShardId, Vec<Map<String, Value>>> = BTreeMap::new();
        for doc in docs {
            let id = doc["id"].as_str().expect("string ids").to_owned();
            let shard = self.placement.shard_of(&id);
            let model = self.expected.entry((self.index.clone(), shard)).or_default();
            match method {
                DocumentMethod::Replace => {
                    model.insert(id, doc.clone());
                }
                DocumentMethod::Update => {
                    let stored = model.entry(id).or_default();
                    stored.extend(doc.clone());
                }
            }
            by_shard.entry(shard).or_default().push(doc);
        }
        let ops =
            by_shard.into_iter().map(|(shard, documents)| (shard, Op::Documents { method, primary_key: "id".into(), documents })).collect();
        self.append_task(TaskType::DocumentAdditionOrUpdate, ops).await
    }

    /// One deletion-by-id task, applied to the model too.
    pub async fn delete_docs(&mut self, ids: &[String]) -> Result<u64> {
        let mut by_shard: BTreeMap<ShardId, Vec<String>> = BTreeMap::new();
        for id in ids {
            let shard = self.placement.shard_of(id);
            self.expected.entry((self.index.clone(), shard)).or_default().remove(id);
            by_shard.entry(shard).or_default().push(id.clone());
        }
        let ops = by_shard.into_iter().map(|(shard, ids)| (shard, Op::DeleteDocuments { ids })).collect();
        self.append_task(TaskType::DocumentDeletion, ops).await
    }

    /// A stream of `tasks` document tasks of `per_task` documents over ids `0..id_space`, with
    /// replacements, partial updates of the same ids (a version counter that only grows) and a
    /// deletion task every `delete_every` tasks. Deterministic for a given `seed`.
    pub async fn write_stream(&mut self, seed: u64, tasks: usize, per_task: usize, id_space: u64, delete_every: usize) -> Result<()> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for t in 0..tasks {
            if delete_every > 0 && t % delete_every == delete_every - 1 {
                let ids: Vec<String> = (0..per_task / 4).map(|_| format!("d{}", rng.gen_range(0..id_space))).collect();
                self.delete_docs(&ids).await?;
                continue;
            }
            let method = if t % 3 == 2 { DocumentMethod::Update } else { DocumentMethod::Replace };
            let mut seen = BTreeSet::new();
            let docs: Vec<Map<String, Value>> = (0..per_task)
                .filter_map(|_| {
                    let id = format!("d{}", rng.gen_range(0..id_space));
                    seen.insert(id.clone()).then_some(id)
                })
                .map(|id| {
                    let mut doc = Map::new();
                    doc.insert("id".into(), json!(id));
                    doc.insert("version".into(), json!(t));
                    if method == DocumentMethod::Replace {
                        doc.insert("title".into(), json!(format!("title {id} at {t}")));
                    } else {
                        doc.insert("touched".into(), json!(t));
                    }
                    doc
                })
                .collect();
            self.write_docs(method, docs).await?;
        }
        Ok(())
    }

    /// Every (task, shard, replica) an event must exist for.
    pub fn expected_event_keys(&self) -> BTreeSet<(u64, ShardId, String)> {
        self.targets.iter().flat_map(|(&(task, shard), replicas)| replicas.iter().map(move |n| (task, shard, n.clone()))).collect()
    }

    pub async fn event_readers(&self) -> Result<Vec<Box<dyn PartitionReader>>> {
        let mut readers = Vec::new();
        for p in 0..self.log.config().task_events_partitions {
            readers.push(self.log.read_partition(Topic::TaskEvents, p, 0).await?);
        }
        Ok(readers)
    }

    /// Reads `task-events` until every expected (task, shard, replica) has an event, checking
    /// the indexers stay alive. Returns every event read (duplicates included).
    pub async fn wait_for_events(&self, indexers: &mut [&mut ManagedProcess]) -> Result<Vec<TaskEvent>> {
        self.wait_for_event_keys(self.expected_event_keys(), indexers).await
    }

    /// Like [`IndexerCluster::wait_for_events`] for the given keys only.
    pub async fn wait_for_event_keys(
        &self,
        expected: BTreeSet<(u64, ShardId, String)>,
        indexers: &mut [&mut ManagedProcess],
    ) -> Result<Vec<TaskEvent>> {
        let mut readers = self.event_readers().await?;
        let mut events = Vec::new();
        let mut seen = BTreeSet::new();
        let arrived = wait_until(Deadline::after(CONVERGE_TIMEOUT).polling_every(Duration::ZERO), "events missing", async || {
            for indexer in indexers.iter_mut() {
                indexer.check_alive()?;
            }
            for reader in &mut readers {
                for record in reader.next_batch(10_000, Duration::from_millis(100)).await? {
                    let event: TaskEvent = decode(&record.payload)?;
                    seen.insert((event.task_uid, event.shard, event.replica.clone()));
                    events.push(event);
                }
            }
            let missing: Vec<_> = expected.difference(&seen).collect();
            Ok(match missing.len() {
                0 => Progress::Done(()),
                n => Progress::Waiting(format!("{n} of {} events still missing, e.g. {:?}", expected.len(), &missing[..n.min(10)])),
            })
        })
        .await;
        if let Err(error) = arrived {
            let logs: String = indexers.iter().map(|i| i.log_tail()).collect::<Vec<_>>().join("\n-----\n");
            bail!("{error:#}\n{logs}");
        }
        // Whatever else is already there (late duplicates) is read too.
        for reader in &mut readers {
            loop {
                let batch = reader.next_batch(10_000, Duration::from_millis(200)).await?;
                if batch.is_empty() {
                    break;
                }
                for record in batch {
                    events.push(decode(&record.payload)?);
                }
            }
        }
        Ok(events)
    }

    fn node_url(&self, node_id: &str) -> &str {
        let spec = self.cluster.spec.nodes.iter().chain(&self.placement.topology().nodes);
        let node = spec.into_iter().find(|n| n.id == node_id).expect("known node");
        &node.url
    }

    /// `GET` on a node with the master key: `(status, body)`.
    pub async fn node_get(&self, node_id: &str, path: &str) -> Result<(u16, Value)> {
        let response = self.http.get(format!("{}{path}", self.node_url(node_id))).bearer_auth(self.cluster.node_key()).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Every document of a node index (`None` when the index does not exist).
    pub async fn node_documents(&self, node_id: &str, node_index: &str) -> Result<Option<Docs>> {
        let mut docs = Docs::new();
        let mut offset = 0;
        loop {
            let (status, body) = self.node_get(node_id, &format!("/indexes/{node_index}/documents?limit=1000&offset={offset}")).await?;
            if status == 404 {
                return Ok(None);
            }
            if status != 200 {
                bail!("{node_id} {node_index}: documents answered {status}: {body}");
            }
            let results = body["results"].as_array().context("results")?;
            for doc in results {
                let doc = doc.as_object().context("document")?.clone();
                docs.insert(doc["id"].as_str().context("id")?.to_owned(), doc);
            }
            offset += results.len();
            if results.is_empty() || offset as u64 >= body["total"].as_u64().unwrap_or(0) {
                return Ok(Some(docs));
            }
        }
    }

    /// The documents of `shard` of `index` on `node_id`, from every node index of `index`
    /// there (each checked to carry its shard, which is removed); `None` when the node has no
    /// node index of it at all.
    pub async fn shard_documents(&self, node_id: &str, index: &str, shard: ShardId) -> Result<Option<Docs>> {
        let mut found: Option<Docs> = None;
        for rank in (0..self.placement.topology().replication_factor).map(ReplicaRank) {
            let node_index = layout_node_index_uid(index, self.layout, rank);
            let Some(docs) = self.node_documents(node_id, &node_index).await? else { continue };
            let found = found.get_or_insert_with(Docs::new);
            for (id, mut doc) in docs {
                let value = doc.remove(SHARD_FIELD).with_context(|| format!("{node_id} {node_index}: {id} has no shard field"))?;
                let held = value.as_str().and_then(ShardId::from_field_value);
                if held == Some(shard) {
                    if self.placement.rank_of(shard, node_id) != Some(rank) {
                        bail!("{node_id} holds {shard} in {node_index}, not in the node index of its rank");
                    }
                    found.insert(id, doc);
                }
            }
        }
        Ok(found)
    }

    /// Every node task of a node index (newest first).
    pub async fn node_tasks(&self, node_id: &str, node_index: &str) -> Result<Vec<Value>> {
        let mut tasks = Vec::new();
        let mut from: Option<u64> = None;
        loop {
            let path = match from {
                Some(f) => format!("/tasks?indexUids={node_index}&limit=1000&from={f}"),
                None => format!("/tasks?indexUids={node_index}&limit=1000"),
            };
            let (_, body) = self.node_get(node_id, &path).await?;
            tasks.extend(body["results"].as_array().cloned().unwrap_or_default());
            match body["next"].as_u64() {
                Some(next) => from = Some(next),
                None => return Ok(tasks),
            }
        }
    }

    /// Asserts that every replica of every shard holds exactly the model's documents (in the
    /// node index of its rank) and that no other node holds any of them.
    pub async fn assert_nodes_match_model(&self) -> Result<()> {
        for ((index, shard), expected) in &self.expected {
            let shard = *shard;
            let replicas: BTreeSet<String> = self.placement.replicas(shard).iter().map(|n| n.id.clone()).collect();
            for node in &self.node_ids() {
                let held = self.shard_documents(node, index, shard).await?;
                let node_index = format!("{shard} of {index}");
                if replicas.contains(node) {
                    let held = held.with_context(|| format!("{node} lacks {node_index}"))?;
                    if held != *expected {
                        let missing: Vec<_> = expected.keys().filter(|k| !held.contains_key(*k)).take(5).collect();
                        let extra: Vec<_> = held.keys().filter(|k| !expected.contains_key(*k)).take(5).collect();
                        let stale: Vec<_> = expected
                            .iter()
                            .filter(|(k, v)| held.get(*k).is_some_and(|h| h != *v))
                            .map(|(k, v)| (k, v, &held[k]))
                            .take(3)
                            .collect();
                        bail!(
                            "{node} {node_index}: {} documents held, {} expected; missing {missing:?}, extra {extra:?}, stale (expected, held) {stale:?}",
                            held.len(),
                            expected.len()
                        );
                    }
                } else if held.is_some_and(|held| !held.is_empty()) {
                    bail!("{node} is not a replica of {shard} but holds documents of it");
                }
            }
        }
        Ok(())
    }

    /// The `customMetadata` checkpoint markers on `node`'s node index, oldest first.
    pub async fn markers(&self, node_id: &str, node_index: &str) -> Result<Vec<String>> {
        let mut tasks = self.node_tasks(node_id, node_index).await?;
        tasks.reverse();
        Ok(tasks.iter().filter_map(|t| t["customMetadata"].as_str().map(str::to_owned)).collect())
    }
}

/// Counts events per (task, shard, replica) and checks every one succeeded.
pub fn event_counts(events: &[TaskEvent]) -> Result<BTreeMap<(u64, ShardId, String), usize>> {
    let mut counts = BTreeMap::new();
    for e in events {
        if e.status != miroir_schemas::task_log::ReplicaStatus::Succeeded {
            bail!("event failed: {e:?}");
        }
        *counts.entry((e.task_uid, e.shard, e.replica.clone())).or_default() += 1;
    }
    Ok(counts)
}

//! Shared harness of the `indexer_*` tests: a broker (NATS or Tansu), real Meilisearch
//! nodes, `miroir-indexer` as real child processes, a writer
//! that appends `TaskRecord`s and `OpEnvelope`s straight to the log, a model of what every
//! shard must hold, and readers of `task-events` and of node contents.
#![allow(dead_code)] // each test file uses its own subset

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use miroir_clients::log::{KafkaLog, LogConfig, NatsLog, PartitionReader, Topic, WriteLog};
use miroir_integration::brokers::{NatsServer, Tansu};
use miroir_integration::nodes::{find_meilisearch, MeiliNodes};
use miroir_schemas::envelope::{decode, encode, DocumentMethod, Op, OpEnvelope};
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::{ShardTarget, TaskEvent, TaskRecord, TaskType};
use miroir_schemas::topology::{node_index_uid, Node, ShardId, Topology};
use serde_json::{json, Map, Value};

pub const MASTER_KEY: &str = "indexer-test-master-key";
pub const INDEX: &str = "movies";
/// Upper bound on waiting for the cluster to converge: only turns a hang into a failure.
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(180);

/// `miroir-indexer` of the cargo profile this test executable belongs to
/// (`target/<profile>/deps/<test>` → `target/<profile>/miroir-indexer`).
pub fn indexer_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("test executable without a directory")?;
    let profile = if deps.ends_with("deps") { deps.parent().context("no profile dir")? } else { deps };
    let binary = profile.join("miroir-indexer");
    if !binary.is_file() {
        bail!(
            "{} is missing: run `cargo build --workspace --bins` (with the same profile and target dir) before these tests",
            binary.display()
        );
    }
    Ok(binary)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Nats,
    Kafka,
}

enum Broker {
    Nats(NatsServer),
    Kafka(Tansu),
}

/// One `miroir-indexer` child in its own process group; killed (SIGKILL) on drop.
pub struct IndexerProcess {
    child: Option<Child>,
    pub log_path: PathBuf,
}

impl IndexerProcess {
    /// SIGKILL, as in a crash: nothing runs on the way out.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Fails with the process output if it exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("miroir-indexer exited with {status}:\n{}", self.log_tail());
            }
        }
        Ok(())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let start = text.char_indices().rev().nth(4000).map_or(0, |(i, _)| i);
        text[start..].to_owned()
    }
}

impl Drop for IndexerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// What a shard must hold: id → document.
pub type Docs = BTreeMap<String, Map<String, Value>>;

pub struct Cluster {
    pub backend: Backend,
    _broker: Broker,
    pub log_url: String,
    pub prefix: String,
    pub log: Arc<dyn WriteLog>,
    pub nodes: MeiliNodes,
    pub node_ids: Vec<String>,
    pub placement: Placement,
    pub ops_partitions: u32,
    pub expected: BTreeMap<ShardId, Docs>,
    /// Every (task, shard) an op was appended for.
    pub touched: BTreeSet<(u64, ShardId)>,
    dir: tempfile::TempDir,
    spawned: u32,
    http: reqwest::Client,
}

impl Cluster {
    /// A broker, `node_count` nodes in one replica group, `shards` shards with `rf` replicas.
    pub async fn start(backend: Backend, node_count: usize, shards: u32, rf: u32) -> Result<Cluster> {
        let prefix = format!("it{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let ops_partitions = 4;
        let mut config = LogConfig::for_tests(prefix.clone());
        config.ops_partitions = ops_partitions;
        config.task_events_partitions = 2;
        let (broker, log_url, log): (Broker, String, Arc<dyn WriteLog>) = match backend {
            Backend::Nats => {
                let server = NatsServer::start()?;
                let url = server.url().to_owned();
                let log = Arc::new(NatsLog::connect(&url, config).await?);
                (Broker::Nats(server), url, log)
            }
            Backend::Kafka => {
                let tansu = Tansu::start()?;
                let url = tansu.bootstrap().to_owned();
                let log = Arc::new(KafkaLog::connect(&url, config).await?);
                (Broker::Kafka(tansu), url, log)
            }
        };
        let nodes = MeiliNodes::start_temp(&find_meilisearch()?, node_count, MASTER_KEY).await?;
        let node_ids: Vec<String> = (0..node_count).map(|i| format!("n{i}")).collect();
        let topology_nodes = node_ids
            .iter()
            .zip(nodes.urls())
            .map(|(id, url)| Node { id: id.clone(), url: url.clone(), replica_group: "g".into(), api_key: None })
            .collect();
        let placement = Placement::new(Topology::new(1, shards, rf, topology_nodes)?);
        Ok(Cluster {
            backend,
            _broker: broker,
            log_url,
            prefix,
            log,
            nodes,
            node_ids,
            placement,
            ops_partitions,
            expected: BTreeMap::new(),
            touched: BTreeSet::new(),
            dir: tempfile::Builder::new().prefix("miroir-indexer-it-").tempdir()?,
            spawned: 0,
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build()?,
        })
    }

    /// Starts `miroir-indexer` as member `member` of the group `indexers`.
    pub fn spawn_indexer(&mut self, member: &str) -> Result<IndexerProcess> {
        self.spawn_indexer_polling(member, 200)
    }

    /// An indexer taking at most `poll_max` records per step (small: many steps, so a kill
    /// lands between them).
    pub fn spawn_indexer_polling(&mut self, member: &str, poll_max: usize) -> Result<IndexerProcess> {
        self.spawned += 1;
        let log_path = self.dir.path().join(format!("indexer-{}-{member}.log", self.spawned));
        let nodes: Vec<String> = self.node_ids.iter().zip(self.nodes.urls()).map(|(id, url)| format!("{id}={url}@g")).collect();
        let topology = self.placement.topology();
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(indexer_binary()?)
            .env("MIROIR_NODES", nodes.join(","))
            .env("MIROIR_NODE_KEY", MASTER_KEY)
            .env("MIROIR_SHARDS", topology.shard_count.to_string())
            .env("MIROIR_REPLICATION_FACTOR", topology.replication_factor.to_string())
            .env(
                "MIROIR_LOG_BACKEND",
                match self.backend {
                    Backend::Nats => "nats",
                    Backend::Kafka => "kafka",
                },
            )
            .env("MIROIR_LOG_URL", &self.log_url)
            .env("MIROIR_TOPIC_PREFIX", &self.prefix)
            .env("MIROIR_OPS_PARTITIONS", self.ops_partitions.to_string())
            .env("MIROIR_TASK_EVENTS_PARTITIONS", "2")
            .env("MIROIR_INDEXER_GROUP", "indexers")
            .env("MIROIR_INDEXER_MEMBER", member)
            .env("MIROIR_GROUP_SESSION_MS", "2000")
            .env("MIROIR_POLL_MAX", poll_max.to_string())
            .env("MIROIR_NODE_REQUEST_TIMEOUT_MS", "1500")
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting miroir-indexer")?;
        Ok(IndexerProcess { child: Some(child), log_path })
    }

    fn shard_ops_key(shard: ShardId) -> String {
        format!("{INDEX}/{shard}")
    }

    /// Appends a task record and its per-shard operations as a gateway would; returns the uid.
    pub async fn append_task(&mut self, task_type: TaskType, ops: Vec<(ShardId, Op)>) -> Result<u64> {
        let mut record = TaskRecord::new(task_type, Some(INDEX.into()), None, time::OffsetDateTime::now_utc());
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
                self.touched.insert((task_uid, shard));
                let envelope = OpEnvelope::new(task_uid, Some(INDEX.into()), shard, op);
                miroir_clients::log::NewRecord::new(Self::shard_ops_key(shard), envelope.dedup_id(), encode(&envelope))
            })
            .collect();
        self.log.append_many(Topic::Ops, records).await?;
        Ok(task_uid)
    }

    /// Index creation on every shard.
    pub async fn create_index(&mut self) -> Result<u64> {
        let ops = self.placement.shards().map(|s| (s, Op::CreateIndex { primary_key: Some("id".into()) })).collect();
        for shard in self.placement.shards() {
            self.expected.entry(shard).or_default();
        }
        self.append_task(TaskType::IndexCreation, ops).await
    }

    /// One document task (routed by HRW), applied to the model too.
    pub async fn write_docs(&mut self, method: DocumentMethod, docs: Vec<Map<String, Value>>) -> Result<u64> {
        let mut by_shard: BTreeMap<ShardId, Vec<Map<String, Value>>> = BTreeMap::new();
        for doc in docs {
            let id = doc["id"].as_str().expect("string ids").to_owned();
            let shard = self.placement.shard_of(&id);
            let model = self.expected.entry(shard).or_default();
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
            self.expected.entry(shard).or_default().remove(id);
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
        self.touched
            .iter()
            .flat_map(|&(task, shard)| self.placement.replicas(shard).into_iter().map(move |n| (task, shard, n.id.clone())))
            .collect()
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
    pub async fn wait_for_events(&self, indexers: &mut [&mut IndexerProcess]) -> Result<Vec<TaskEvent>> {
        self.wait_for_event_keys(self.expected_event_keys(), indexers).await
    }

    /// Like [`Cluster::wait_for_events`] for the given keys only.
    pub async fn wait_for_event_keys(
        &self,
        expected: BTreeSet<(u64, ShardId, String)>,
        indexers: &mut [&mut IndexerProcess],
    ) -> Result<Vec<TaskEvent>> {
        let mut readers = self.event_readers().await?;
        let mut events = Vec::new();
        let mut seen = BTreeSet::new();
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        while !expected.is_subset(&seen) {
            for indexer in indexers.iter_mut() {
                indexer.check_alive()?;
            }
            if Instant::now() > deadline {
                let missing: Vec<_> = expected.difference(&seen).take(10).collect();
                let logs: String = indexers.iter().map(|i| i.log_tail()).collect::<Vec<_>>().join("\n-----\n");
                bail!(
                    "{} of {} events still missing after {CONVERGE_TIMEOUT:?}, e.g. {missing:?}\n{logs}",
                    expected.difference(&seen).count(),
                    expected.len()
                );
            }
            for reader in &mut readers {
                for record in reader.next_batch(10_000, Duration::from_millis(100)).await? {
                    let event: TaskEvent = decode(&record.payload)?;
                    seen.insert((event.task_uid, event.shard, event.replica.clone()));
                    events.push(event);
                }
            }
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
        let i = self.node_ids.iter().position(|n| n == node_id).expect("known node");
        &self.nodes.urls()[i]
    }

    /// `GET` on a node with the master key: `(status, body)`.
    pub async fn node_get(&self, node_id: &str, path: &str) -> Result<(u16, Value)> {
        let response = self.http.get(format!("{}{path}", self.node_url(node_id))).bearer_auth(MASTER_KEY).send().await?;
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

    /// Asserts that every replica of every shard holds exactly the model's documents and that
    /// no other node has that shard's node index.
    pub async fn assert_nodes_match_model(&self) -> Result<()> {
        for shard in self.placement.shards() {
            let node_index = node_index_uid(INDEX, shard);
            let replicas: BTreeSet<String> = self.placement.replicas(shard).iter().map(|n| n.id.clone()).collect();
            let expected = self.expected.get(&shard).cloned().unwrap_or_default();
            for node in &self.node_ids {
                let held = self.node_documents(node, &node_index).await?;
                if replicas.contains(node) {
                    let held = held.with_context(|| format!("{node} lacks {node_index}"))?;
                    if held != expected {
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
                } else if held.is_some() {
                    bail!("{node} is not a replica of {shard} but holds {node_index}");
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

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The pid of the node process listening on `url`'s port (the node harness keeps its children
/// private): found by its `--http-addr` argument in `/proc`.
pub fn node_pid(url: &str) -> Result<u32> {
    let addr = url.trim_start_matches("http://");
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.windows(2).any(|w| w[0] == b"--http-addr" && w[1] == addr.as_bytes()) {
            return Ok(pid);
        }
    }
    bail!("no node process listens on {addr}")
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
pub fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status()?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed");
    }
    Ok(())
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

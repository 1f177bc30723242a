//! The indexer loop against the in-memory log and in-memory nodes.

use super::*;
use crate::fake_node::{Docs, FakeNode};
use miroir_clients::log::{partition_for_key, LogConfig, MemoryLog};
use miroir_schemas::envelope::{decode, DocumentMethod, Op, OpEnvelope};
use miroir_schemas::node_layout::{node_index_uid, ReplicaRank, SHARD_FIELD};
use miroir_schemas::task_log::ReplicaStatus;
use miroir_schemas::topology::{Node, ShardId, Topology};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

struct Cluster {
    log: Arc<MemoryLog>,
    placement: Placement,
    nodes: BTreeMap<String, Arc<FakeNode>>,
    next_task: u64,
    /// What every shard must hold, by the model of the writes.
    expected: BTreeMap<ShardId, Docs>,
}

impl Cluster {
    fn new() -> Cluster {
        let nodes: Vec<Node> = ["n1", "n2", "n3"]
            .iter()
            .map(|id| Node { id: id.to_string(), url: format!("http://{id}"), replica_group: "g".into(), api_key: None })
            .collect();
        let placement = Placement::new(Topology::new(1, 4, 2, nodes).unwrap());
        let mut config = LogConfig::for_tests("t");
        config.ops_partitions = 2;
        let log = Arc::new(MemoryLog::new(config).unwrap());
        let nodes = ["n1", "n2", "n3"].iter().map(|id| (id.to_string(), Arc::new(FakeNode::new(id)))).collect();
        Cluster { log, placement, nodes, next_task: 0, expected: BTreeMap::new() }
    }

    fn indexer(&self, group: &str, poll_max: usize) -> Indexer {
        let nodes = self.nodes.iter().map(|(id, n)| (id.clone(), n.clone() as Arc<dyn ReplicaNode>)).collect();
        let mut settings = IndexerSettings::new(group, "m1");
        settings.poll_max = poll_max;
        settings.poll_wait = Duration::from_millis(1);
        Indexer::new(self.log.clone(), self.placement.clone(), nodes, None, settings).unwrap()
    }

    async fn append(&self, envelope: OpEnvelope) {
        // As the gateway keys them: every operation of an index on one partition, in order.
        let key = envelope.index_uid.clone().unwrap_or_default();
        self.log.append(Topic::Ops, &key, &envelope.dedup_id(), Bytes::from(encode(&envelope))).await.unwrap();
    }

    /// One task: an index creation on every shard.
    async fn create_index(&mut self) -> u64 {
        let task = self.next_task;
        self.next_task += 1;
        for shard in self.placement.shards() {
            self.append(OpEnvelope::new(task, Some("movies".into()), shard, Op::CreateIndex { primary_key: Some("id".into()) })).await;
            self.expected.entry(shard).or_default();
        }
        task
    }

    /// One task writing `docs` (routed by HRW), optionally with a document lacking its id.
    async fn write(&mut self, method: DocumentMethod, docs: Vec<Value>) -> (u64, BTreeSet<ShardId>) {
        let task = self.next_task;
        self.next_task += 1;
        let mut by_shard: BTreeMap<ShardId, Vec<Map<String, Value>>> = BTreeMap::new();
        for doc in docs {
            let doc = doc.as_object().unwrap().clone();
            let shard = match doc.get("id") {
                Some(id) => self.placement.shard_of(&id.to_string()),
                None => ShardId(0),
            };
            by_shard.entry(shard).or_default().push(doc);
        }
        for (shard, documents) in &by_shard {
            if documents.iter().all(|d| d.contains_key("id")) {
                let model = self.expected.entry(*shard).or_default();
                for doc in documents {
                    let id = doc["id"].to_string();
                    match method {
                        DocumentMethod::Replace => {
                            model.insert(id, doc.clone());
                        }
                        DocumentMethod::Update => model.entry(id).or_default().extend(doc.clone()),
                    }
                }
            }
            let op = Op::Documents { method, primary_key: "id".into(), documents: documents.clone() };
            self.append(OpEnvelope::new(task, Some("movies".into()), *shard, op)).await;
        }
        (task, by_shard.keys().copied().collect())
    }

    async fn delete(&mut self, ids: &[u64]) -> u64 {
        let task = self.next_task;
        self.next_task += 1;
        let id_strings: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let grouped: Vec<(ShardId, Vec<String>)> = self
            .placement
            .partition_by_shard(id_strings.iter().map(String::as_str), |id| id)
            .into_iter()
            .map(|(s, v)| (s, v.into_iter().map(str::to_owned).collect()))
            .collect();
        for (shard, ids) in grouped {
            for id in &ids {
                self.expected.entry(shard).or_default().remove(id);
            }
            self.append(OpEnvelope::new(task, Some("movies".into()), shard, Op::DeleteDocuments { ids })).await;
        }
        task
    }

    async fn events(&self) -> Vec<TaskEvent> {
        let mut out = Vec::new();
        for partition in 0..self.log.config().task_events_partitions {
            let end = self.log.end_offset(Topic::TaskEvents, partition).await.unwrap();
            if end == 0 {
                continue;
            }
            let mut reader = self.log.read_partition(Topic::TaskEvents, partition, 0).await.unwrap();
            let mut seen = 0;
            while seen < end {
                let batch = reader.next_batch(1000, Duration::from_millis(10)).await.unwrap();
                seen += batch.len() as u64;
                out.extend(batch.iter().map(|r| decode::<TaskEvent>(&r.payload).unwrap()));
            }
        }
        out
    }

    /// The documents of `shard` on `node`, from every node index of `movies` it has (the
    /// shard field checked and removed); `None` when it has no node index of `movies` at all.
    fn shard_documents(node: &FakeNode, shard: ShardId) -> Option<Docs> {
        let indexes: Vec<String> = node.index_names().into_iter().filter(|uid| uid.starts_with("movies__rank-")).collect();
        if indexes.is_empty() {
            return None;
        }
        let mut found = Docs::new();
        for uid in indexes {
            for (id, mut doc) in node.documents(&uid).unwrap() {
                let value = doc.remove(SHARD_FIELD).unwrap_or_else(|| panic!("{uid}: document {id} without its shard"));
                if ShardId::from_field_value(value.as_str().unwrap()) == Some(shard) {
                    assert!(found.insert(id, doc).is_none(), "{shard} held twice on one node");
                }
            }
        }
        Some(found)
    }

    /// Every replica of every shard holds exactly the modelled documents, in the node index of
    /// its rank, which puts Miroir's filterable rule first; other nodes hold none of them.
    fn assert_contents(&self) {
        for (shard, docs) in &self.expected {
            let holders: BTreeSet<String> = self.placement.replicas(*shard).iter().map(|n| n.id.clone()).collect();
            for (id, node) in &self.nodes {
                let held = Self::shard_documents(node, *shard);
                if holders.contains(id) {
                    assert_eq!(held.as_ref(), Some(docs), "{id} {shard}");
                    let rank = self.placement.rank_of(*shard, id).unwrap();
                    let index = node_index_uid("movies", rank);
                    let in_rank_index = node.documents(&index).unwrap_or_default();
                    let value = Value::String(shard.field_value());
                    assert_eq!(in_rank_index.values().filter(|d| d[SHARD_FIELD] == value).count(), docs.len(), "{id} {index}");
                    let rules = node.filterable(&index).unwrap_or_else(|| panic!("{id} {index} has no filterable rule"));
                    assert_eq!(rules[0], miroir_schemas::node_layout::shard_filter_rule(), "{id} {index}");
                } else {
                    assert!(held.unwrap_or_default().is_empty(), "{id} must not hold {shard}");
                }
            }
        }
    }
}

/// One step whose records are all applied, reported and committed when it returns.
async fn step_settled(indexer: &mut Indexer, consumer: &mut dyn GroupConsumer) {
    indexer.step(consumer).await.unwrap();
    indexer.settle().await;
    indexer.commit(consumer).await.unwrap();
}

/// Steps `indexer` until `done` holds for the events (bounded in time, so a bug fails instead of
/// hanging; in time rather than steps, since catch-ups run beside the steps at their own pace).
async fn run_until(cluster: &Cluster, indexer: &mut Indexer, consumer: &mut dyn GroupConsumer, done: impl Fn(&[TaskEvent]) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        step_settled(indexer, consumer).await;
        if done(&cluster.events().await) {
            return;
        }
    }
    panic!("the indexer did not get there: {:#?}", cluster.events().await);
}

fn events_of(events: &[TaskEvent], task: u64) -> Vec<&TaskEvent> {
    events.iter().filter(|e| e.task_uid == task).collect()
}

fn docs(ids: std::ops::Range<u64>, tag: &str) -> Vec<Value> {
    ids.map(|i| json!({"id": i, "tag": tag, "n": i})).collect()
}

#[tokio::test]
async fn ops_reach_exactly_the_hrw_replicas_with_one_event_per_shard_replica() {
    let mut c = Cluster::new();
    let create = c.create_index().await;
    let (first, _) = c.write(DocumentMethod::Replace, docs(0..40, "a")).await;
    let (second, _) = c.write(DocumentMethod::Replace, docs(20..50, "b")).await;
    let (update, update_shards) = c.write(DocumentMethod::Update, vec![json!({"id": 3, "extra": true})]).await;
    let delete = c.delete(&[1, 2, 45]).await;
    let expected_events = 4 * 2 * 3 + update_shards.len() * 2 + c.events().await.len();
    let mut indexer = c.indexer("g", 1000);
    let mut consumer = c.log.join_group(Topic::Ops, "g", "m1").await.unwrap();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| e.len() >= expected_events && events_of(e, delete).len() >= 2).await;

    c.assert_contents();
    let events = c.events().await;
    assert!(events.iter().all(|e| e.status == ReplicaStatus::Succeeded), "{events:#?}");
    for task in [create, first, second] {
        let mut seen: Vec<(ShardId, String)> = events_of(&events, task).iter().map(|e| (e.shard, e.replica.clone())).collect();
        seen.sort();
        let mut want: Vec<(ShardId, String)> =
            c.placement.shards().flat_map(|s| c.placement.replicas(s).into_iter().map(move |n| (s, n.id.clone()))).collect();
        want.sort();
        assert_eq!(seen, want, "task {task}");
    }
    // Every replica indexed every document it received; each replica reports the same totals.
    for replica in ["n1", "n2", "n3"] {
        let indexed: u64 =
            events_of(&events, first).iter().filter(|e| e.replica == replica).map(|e| e.counts.indexed_documents.unwrap()).sum();
        let held: usize = c
            .placement
            .shards_of_node(replica)
            .iter()
            .map(|s| docs(0..40, "a").iter().filter(|d| c.placement.shard_of(&d["id"].to_string()) == *s).count())
            .sum();
        assert_eq!(indexed as usize, held, "{replica}");
    }
    let deleted: u64 = events_of(&events, delete).iter().map(|e| e.counts.deleted_documents.unwrap()).sum();
    assert_eq!(deleted, 3 * 2, "three deleted documents, reported by both replicas of their shard");
    assert!(events_of(&events, update).len() == update_shards.len() * 2);
}

#[tokio::test]
async fn a_down_replica_lags_without_blocking_others_and_catches_up() {
    let mut c = Cluster::new();
    c.create_index().await;
    c.nodes["n2"].set_down(true);
    let (task, _) = c.write(DocumentMethod::Replace, docs(0..30, "a")).await;
    let mut indexer = c.indexer("g", 1000);
    let mut consumer = c.log.join_group(Topic::Ops, "g", "m1").await.unwrap();
    let up_replicas = |e: &[TaskEvent]| events_of(e, task).len();
    let healthy_pairs = c.placement.shards().flat_map(|s| c.placement.replicas(s)).filter(|n| n.id != "n2").count();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| up_replicas(e) >= healthy_pairs).await;
    assert!(c.events().await.iter().all(|e| e.replica != "n2"));
    assert!(c.nodes["n2"].index_names().is_empty());

    c.nodes["n2"].set_down(false);
    let (later, _) = c.write(DocumentMethod::Replace, docs(25..35, "b")).await;
    let all_pairs = c.placement.shards().flat_map(|s| c.placement.replicas(s)).count();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| events_of(e, task).len() >= all_pairs && events_of(e, later).len() >= 2).await;
    c.assert_contents();
    let events = c.events().await;
    let mut keys: Vec<_> = events.iter().map(|e| (e.task_uid, e.shard, e.replica.clone())).collect();
    let before = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), before, "one event per (task, shard, replica)");
}

#[tokio::test]
async fn a_partition_waiting_for_its_node_tasks_does_not_hold_up_another() {
    let mut c = Cluster::new();
    c.create_index().await;
    let partitions = c.log.config().ops_partitions;
    let other = (0..)
        .map(|i| format!("other{i}"))
        .find(|uid| partition_for_key(uid, partitions) != partition_for_key("movies", partitions))
        .unwrap();
    let mut indexer = c.indexer("g", 1000);
    let mut consumer = c.log.join_group(Topic::Ops, "g", "m1").await.unwrap();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| !e.is_empty()).await;
    for node in c.nodes.values() {
        node.stall("movies__");
    }
    let (held, _) = c.write(DocumentMethod::Replace, docs(0..30, "a")).await;
    let created = c.next_task;
    c.next_task += 1;
    for shard in c.placement.shards() {
        c.append(OpEnvelope::new(created, Some(other.clone()), shard, Op::CreateIndex { primary_key: Some("id".into()) })).await;
    }
    let pairs = c.placement.shards().flat_map(|s| c.placement.replicas(s)).count();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while events_of(&c.events().await, created).len() < pairs {
        assert!(tokio::time::Instant::now() < deadline, "the other partition never went on: {:#?}", c.events().await);
        // A step never waits for node tasks, so it cannot hang here either.
        tokio::time::timeout(Duration::from_secs(5), indexer.step(consumer.as_mut())).await.expect("a step waited for a node").unwrap();
    }
    assert!(events_of(&c.events().await, held).is_empty(), "the stalled partition's write cannot have finished");

    for node in c.nodes.values() {
        node.resume();
    }
    run_until(&c, &mut indexer, consumer.as_mut(), |e| !events_of(e, held).is_empty()).await;
    step_settled(&mut indexer, consumer.as_mut()).await;
    c.assert_contents();
}

#[tokio::test]
async fn replaying_the_whole_log_applies_nothing_twice() {
    let mut c = Cluster::new();
    c.create_index().await;
    let (task, _) = c.write(DocumentMethod::Replace, docs(0..30, "a")).await;
    c.write(DocumentMethod::Update, docs(0..10, "b")).await;
    let last = c.delete(&[4, 5]).await;
    let mut indexer = c.indexer("g", 3);
    let mut consumer = c.log.join_group(Topic::Ops, "g", "m1").await.unwrap();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| !events_of(e, last).is_empty() && !events_of(e, task).is_empty()).await;
    for _ in 0..20 {
        step_settled(&mut indexer, consumer.as_mut()).await;
    }
    c.assert_contents();
    let tasks_before: Vec<usize> = c.nodes.values().map(|n| n.tasks().len()).collect();
    let events_before = c.events().await.len();

    // A member of another group starts from offset 0: as if every commit had been lost.
    let mut replayer = c.indexer("other", 2);
    let mut consumer = c.log.join_group(Topic::Ops, "other", "m1").await.unwrap();
    for _ in 0..40 {
        step_settled(&mut replayer, consumer.as_mut()).await;
    }
    c.assert_contents();
    let tasks_after: Vec<usize> = c.nodes.values().map(|n| n.tasks().len()).collect();
    assert_eq!(tasks_after, tasks_before, "no node request was sent again");
    assert_eq!(c.events().await.len(), events_before, "no event was reported again");
}

#[tokio::test]
async fn one_bad_task_in_a_merged_batch_fails_alone() {
    let mut c = Cluster::new();
    c.create_index().await;
    // Three tasks on shard 0 only, merged into one node request by the batcher.
    let on_shard0: Vec<u64> = (0..200).filter(|i| c.placement.shard_of(&i.to_string()) == ShardId(0)).take(4).collect();
    let good = |i: u64| json!({"id": i, "tag": "ok"});
    let (a, _) = c.write(DocumentMethod::Replace, vec![good(on_shard0[0]), good(on_shard0[1])]).await;
    let (bad, _) = c.write(DocumentMethod::Replace, vec![json!({"tag": "no id"})]).await;
    let (b, _) = c.write(DocumentMethod::Replace, vec![good(on_shard0[2])]).await;
    let mut indexer = c.indexer("g", 1000);
    let mut consumer = c.log.join_group(Topic::Ops, "g", "m1").await.unwrap();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| events_of(e, b).len() >= 2).await;
    let events = c.events().await;
    for task in [a, b] {
        assert!(events_of(&events, task).iter().all(|e| e.status == ReplicaStatus::Succeeded));
    }
    let failed = events_of(&events, bad);
    assert_eq!(failed.len(), 2);
    for e in failed {
        assert_eq!(e.status, ReplicaStatus::Failed);
        assert_eq!(e.error.as_ref().unwrap().code, "missing_document_id");
    }
    c.assert_contents();
}

#[tokio::test]
async fn a_creation_replayed_after_a_crash_before_its_checkpoint_is_reported_succeeded() {
    let mut c = Cluster::new();
    let create = c.create_index().await;
    // A previous indexer created every node index, then died before the checkpoint deletions.
    for shard in c.placement.shards() {
        for replica in c.placement.replicas(shard) {
            let request = crate::request::NodeRequest::CreateIndex { primary_key: Some("id".into()) };
            let node = c.nodes[&replica.id].clone();
            let rank = c.placement.rank_of(shard, &replica.id).unwrap();
            let uid = node.send(&node_index_uid("movies", rank), &request, None).await.unwrap();
            node.wait(uid).await.unwrap();
        }
    }
    let mut indexer = c.indexer("g", 1000);
    let mut consumer = c.log.join_group(Topic::Ops, "g", "m1").await.unwrap();
    let pairs = c.placement.shards().flat_map(|s| c.placement.replicas(s)).count();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| events_of(e, create).len() >= pairs).await;
    let events = c.events().await;
    assert!(events.iter().all(|e| e.status == ReplicaStatus::Succeeded), "{events:#?}");
}

#[tokio::test]
async fn a_task_canceled_before_any_indexer_announced_it_reaches_no_node() {
    use miroir_schemas::meta_log::{MetaEnvelope, TaskChange};
    let mut c = Cluster::new();
    let create = c.create_index().await;
    let (kept, _) = c.write(DocumentMethod::Replace, docs(0..30, "kept")).await;
    let before_cancel = c.expected.clone();
    let (canceled, _) = c.write(DocumentMethod::Replace, docs(10..40, "canceled")).await;
    c.expected = before_cancel;
    let meta = |change: TaskChange| Bytes::from(encode(&MetaEnvelope::new(change)));
    // `kept` was announced before the cancelation named it, `canceled` was not.
    c.log.append(Topic::Meta, "m", "s", meta(TaskChange::TasksStarted { tasks: vec![kept] })).await.unwrap();
    let at = time::OffsetDateTime::now_utc();
    let cancel = TaskChange::TasksCanceled { cancelation_uid: 99, tasks: vec![kept, canceled], at };
    c.log.append(Topic::Meta, "m", "c", meta(cancel)).await.unwrap();
    let (after, _) = c.write(DocumentMethod::Update, vec![json!({"id": 35, "late": true})]).await;

    for group in ["first", "replay"] {
        let mut indexer = c.indexer(group, 1000);
        let mut consumer = c.log.join_group(Topic::Ops, group, "m1").await.unwrap();
        run_until(&c, &mut indexer, consumer.as_mut(), |e| !events_of(e, after).is_empty() && events_of(e, kept).len() >= 4).await;
        c.assert_contents();
    }
    let events = c.events().await;
    assert!(events_of(&events, canceled).is_empty(), "a canceled task reports nothing: {events:#?}");
    assert!(!events_of(&events, create).is_empty());
    // The indexers announced what they applied in `meta` (an announcement that comes after the
    // cancelation, from a fold that had not reached it yet, changes nothing); the fold of
    // `meta` every gateway makes agrees with what the nodes hold.
    let mut reader = c.log.read_partition(Topic::Meta, 0, 0).await.unwrap();
    let records = reader.next_batch(100, Duration::from_millis(10)).await.unwrap();
    let mut book = miroir_schemas::cancelation::CancelationBook::new();
    records.iter().filter_map(|r| decode::<MetaEnvelope>(&r.payload).unwrap().task_change()).for_each(|change| book.apply(&change));
    assert!(book.started(create) && book.started(kept) && book.started(after));
    assert_eq!(book.canceled(canceled).map(|c| c.by), Some(99));
    assert_eq!(book.cancelation(99).map(|o| o.canceled_tasks), Some(1));
}

#[tokio::test]
async fn a_clear_removes_only_its_shards_and_settings_keep_the_shard_rule() {
    let mut c = Cluster::new();
    c.create_index().await;
    c.write(DocumentMethod::Replace, docs(0..40, "a")).await;
    // Settings with the user's own filterable attributes: the rule stays first.
    let task = c.next_task;
    c.next_task += 1;
    for shard in c.placement.shards() {
        let settings = json!({"filterableAttributes": ["tag"]}).as_object().unwrap().clone();
        c.append(OpEnvelope::new(task, Some("movies".into()), shard, Op::UpdateSettings { settings })).await;
    }
    // A clear, shard by shard (what the gateway appends for `DELETE /documents`).
    let clear = c.next_task;
    c.next_task += 1;
    for shard in c.placement.shards() {
        c.append(OpEnvelope::new(clear, Some("movies".into()), shard, Op::ClearDocuments)).await;
        c.expected.insert(shard, Docs::new());
    }
    let (after, _) = c.write(DocumentMethod::Replace, docs(100..110, "b")).await;
    let mut indexer = c.indexer("g", 1000);
    let mut consumer = c.log.join_group(Topic::Ops, "g", "m1").await.unwrap();
    let pairs = c.placement.shards().flat_map(|s| c.placement.replicas(s)).count();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| events_of(e, clear).len() >= pairs && !events_of(e, after).is_empty()).await;
    for _ in 0..5 {
        step_settled(&mut indexer, consumer.as_mut()).await;
    }
    c.assert_contents();
    let events = c.events().await;
    assert!(events.iter().all(|e| e.status == ReplicaStatus::Succeeded), "{events:#?}");
    // Each shard's clear reports that shard's documents, once per replica.
    let cleared: u64 = events_of(&events, clear).iter().map(|e| e.counts.deleted_documents.unwrap()).sum();
    assert_eq!(cleared, 40 * 2);
    for node in c.nodes.values() {
        for rank in [ReplicaRank(0), ReplicaRank(1)] {
            if let Some(rules) = node.filterable(&node_index_uid("movies", rank)) {
                assert_eq!(rules, json!([miroir_schemas::node_layout::shard_filter_rule(), "tag"]));
            }
        }
    }
}

/// After a reshard switched (here: the new layout built by hand, as the barrier would, and the
/// switch recorded), writes a gateway routed by the old layout are applied in the new one: each
/// document on its new shard's replicas, a clear sent to every old shard applied once per new
/// shard (its copies for shards other than 0 arriving in polls of their own), and every task
/// reported for exactly the replicas it listed.
#[tokio::test]
async fn writes_routed_by_the_old_layout_after_a_switch_are_applied_in_the_new_one() {
    use miroir_schemas::meta_log::{topology_changes::TopologyChange, MetaEnvelope};
    use miroir_schemas::node_layout::layout_node_index_uid;
    let mut c = Cluster::new();
    c.create_index().await;
    c.write(DocumentMethod::Replace, docs(0..30, "before")).await;
    let mut indexer = c.indexer("g", 1);
    let mut consumer = c.log.join_group(Topic::Ops, "g", "m1").await.unwrap();
    run_until(&c, &mut indexer, consumer.as_mut(), |e| !events_of(e, 1).is_empty() && e.len() >= 8 + events_of(e, 1).len()).await;

    // The build the barrier would make: every replica of the 6-shard layout, checkpointed at
    // the last position so far, then the switch.
    let partition = partition_for_key("movies", 2);
    let switched_at = c.log.end_offset(Topic::Ops, partition).await.unwrap() - 1;
    let new = Placement::new(Topology { shard_count: 6, ..c.placement.topology().clone() });
    let marker = crate::checkpoint::Marker::single(partition, switched_at).encode();
    for node in new.topology().nodes.clone() {
        for rank in (0..2).map(ReplicaRank) {
            let uid = layout_node_index_uid("movies", Some(6), rank);
            let fake = c.nodes[&node.id].clone();
            let created =
                fake.send(&uid, &crate::request::NodeRequest::CreateIndex { primary_key: Some("id".into()) }, None).await.unwrap();
            fake.wait(created).await.unwrap();
            let mut ndjson = Vec::new();
            for shard in new.shards_of_node_at(&node.id, rank) {
                for doc in docs(0..30, "before").into_iter().filter(|d| new.shard_of(&d["id"].to_string()) == shard) {
                    let mut doc = doc.as_object().unwrap().clone();
                    doc.insert(SHARD_FIELD.into(), json!(shard.field_value()));
                    ndjson.extend(serde_json::to_vec(&doc).unwrap());
                    ndjson.push(b'\n');
                }
            }
            let request = crate::request::NodeRequest::Documents {
                method: DocumentMethod::Replace,
                primary_key: "id".into(),
                ndjson: ndjson.into(),
                count: 0,
            };
            let task = fake.send(&uid, &request, Some(&marker)).await.unwrap();
            fake.wait(task).await.unwrap();
        }
    }
    let at = time::OffsetDateTime::now_utc();
    for change in [
        TopologyChange::ReshardProposed { index: "movies".into(), shards: 6, at },
        TopologyChange::ReshardSwitched { index: "movies".into(), shards: 6, position: switched_at },
    ] {
        let payload = Bytes::from(encode(&MetaEnvelope::new(change)));
        c.log.append(Topic::Meta, "topology", &uuid::Uuid::new_v4().to_string(), payload).await.unwrap();
    }

    // Routed by the 4-shard layout, as a gateway that had not seen the switch would.
    let (later, _) = c.write(DocumentMethod::Replace, docs(30..50, "later")).await;
    let clear = c.next_task;
    c.next_task += 1;
    for shard in c.placement.shards() {
        c.append(OpEnvelope::new(clear, Some("movies".into()), shard, Op::ClearDocuments)).await;
    }
    let (last, _) = c.write(DocumentMethod::Replace, docs(100..110, "last")).await;
    let listed = |task: u64| -> BTreeSet<(ShardId, String)> {
        let shards: Vec<ShardId> = match task {
            t if t == clear => c.placement.shards().collect(),
            t if t == later => docs(30..50, "").iter().map(|d| c.placement.shard_of(&d["id"].to_string())).collect(),
            _ => docs(100..110, "").iter().map(|d| c.placement.shard_of(&d["id"].to_string())).collect(),
        };
        shards.into_iter().flat_map(|s| c.placement.replicas(s).into_iter().map(move |n| (s, n.id.clone()))).collect()
    };
    let reported = |events: &[TaskEvent], task: u64| -> BTreeSet<(ShardId, String)> {
        events_of(events, task).iter().map(|e| (e.shard, e.replica.clone())).collect()
    };
    run_until(&c, &mut indexer, consumer.as_mut(), |e| [later, clear, last].iter().all(|&t| reported(e, t) == listed(t))).await;
    let events = c.events().await;
    for task in [later, clear, last] {
        assert!(events_of(&events, task).iter().all(|e| e.status == ReplicaStatus::Succeeded), "task {task}: {events:#?}");
        assert_eq!(reported(&events, task), listed(task), "task {task} is reported for exactly what it listed");
    }
    let indexed: u64 = {
        // The sum over the first listed replica of each shard, as the gateway counts.
        let mut per_shard: BTreeMap<ShardId, u64> = BTreeMap::new();
        for e in events_of(&events, last) {
            if c.placement.replicas(e.shard)[0].id == e.replica {
                per_shard.insert(e.shard, e.counts.indexed_documents.unwrap_or(0));
            }
        }
        per_shard.values().sum()
    };
    assert_eq!(indexed, 10, "the pieces' counts add up to the task's documents");

    // Only the last task's documents are left, each on the replicas of its 6-shard shard.
    for node in new.topology().nodes.clone() {
        for rank in (0..2).map(ReplicaRank) {
            let uid = layout_node_index_uid("movies", Some(6), rank);
            let held: BTreeSet<String> = c.nodes[&node.id].documents(&uid).unwrap_or_default().keys().cloned().collect();
            let shards = new.shards_of_node_at(&node.id, rank);
            let expected: BTreeSet<String> = (100..110u64).map(|i| i.to_string()).filter(|id| shards.contains(&new.shard_of(id))).collect();
            assert_eq!(held, expected, "{} {uid}", node.id);
        }
    }
}

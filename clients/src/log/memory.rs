//! In-memory log for fast tests. Clones share one store, so a "restarted" process is simply a new
//! consumer on a clone. `set_available(false)` makes every call fail with `Unavailable`, to test
//! what callers do when the broker is down.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::watch;

use super::config::{check_append, check_name, BROKER_MESSAGE_BYTES, ENVELOPE_RESERVE_BYTES};
use super::dedup_window::DedupWindow;
use super::{
    assign_partitions, partition_for_key, GroupConsumer, GroupPartition, LogConfig, LogError, NewRecord, PartitionReader, Position, Record,
    Topic, WriteLog,
};

#[derive(Clone)]
pub struct MemoryLog {
    config: LogConfig,
    max_payload: usize,
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Bumped on every append and membership change; readers wait on it to tail.
    changed: watch::Sender<u64>,
}

struct State {
    available: bool,
    /// Topics whose appends fail while the rest of the log works (a partial outage).
    refusing_appends: HashSet<Topic>,
    partitions: HashMap<(Topic, u32), PartitionLog>,
    groups: HashMap<(Topic, String), GroupState>,
}

struct PartitionLog {
    /// The kept records: `records[i]` has offset `first + i`.
    records: Vec<Record>,
    /// Offset of the oldest kept record (how many retention removed).
    first: u64,
    dedup: DedupWindow<u64>,
}

impl PartitionLog {
    fn end(&self) -> u64 {
        self.first + self.records.len() as u64
    }
}

#[derive(Default)]
struct GroupState {
    /// Next offset to deliver per partition.
    committed: HashMap<u32, u64>,
    /// Member name → join generation (a rejoin under the same name is a new member).
    members: BTreeMap<String, u64>,
    next_generation: u64,
}

impl MemoryLog {
    pub fn new(config: LogConfig) -> Result<Self, LogError> {
        Self::with_max_payload(config, BROKER_MESSAGE_BYTES - ENVELOPE_RESERVE_BYTES)
    }

    /// A log whose payload limit is `max_payload` bytes (tests of splitting use small limits).
    pub fn with_max_payload(config: LogConfig, max_payload: usize) -> Result<Self, LogError> {
        config.validate()?;
        let state = State { available: true, refusing_appends: HashSet::new(), partitions: HashMap::new(), groups: HashMap::new() };
        let shared = Shared { state: Mutex::new(state), changed: watch::channel(0).0 };
        Ok(Self { config, max_payload, shared: Arc::new(shared) })
    }

    /// `false` simulates a broker outage: every operation fails with `Unavailable` until `true`.
    pub fn set_available(&self, available: bool) {
        self.shared.lock().available = available;
    }

    /// `false` makes appends to `topic` fail with `Unavailable` while everything else works,
    /// e.g. a broker lost between a task record and its operations.
    pub fn set_appends_available(&self, topic: Topic, available: bool) {
        let mut state = self.shared.lock();
        if available {
            state.refusing_appends.remove(&topic);
        } else {
            state.refusing_appends.insert(topic);
        }
    }

    fn available_state(&self) -> Result<MutexGuard<'_, State>, LogError> {
        self.shared.available_state()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn available_state(&self) -> Result<MutexGuard<'_, State>, LogError> {
        let state = self.lock();
        if state.available {
            Ok(state)
        } else {
            Err(LogError::Unavailable("the in-memory log is switched off".into()))
        }
    }

    fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

impl State {
    fn partition(&mut self, topic: Topic, partition: u32, window: Duration) -> &mut PartitionLog {
        self.partitions.entry((topic, partition)).or_insert_with(|| PartitionLog {
            records: Vec::new(),
            first: 0,
            dedup: DedupWindow::new(window),
        })
    }
}

#[async_trait]
impl WriteLog for MemoryLog {
    fn config(&self) -> &LogConfig {
        &self.config
    }

    fn max_payload_bytes(&self) -> usize {
        self.max_payload
    }

    async fn append_many(&self, topic: Topic, records: Vec<NewRecord>) -> Result<Vec<Position>, LogError> {
        for record in &records {
            check_append(&record.key, &record.dedup_id, record.payload.len(), self.max_payload)?;
        }
        let partitions = self.config.partitions(topic);
        let now = Instant::now();
        let mut state = self.available_state()?;
        if state.refusing_appends.contains(&topic) {
            return Err(LogError::Unavailable(format!("appends to {topic:?} are switched off")));
        }
        let positions = records
            .into_iter()
            .map(|new| {
                let partition = partition_for_key(&new.key, partitions);
                let log = state.partition(topic, partition, self.config.dedup_window);
                let offset = match log.dedup.get(&new.dedup_id, now) {
                    Some(offset) => offset,
                    None => {
                        let offset = log.end();
                        log.dedup.insert(&new.dedup_id, offset, now);
                        let position = Position { partition, offset };
                        log.records.push(Record { position, key: new.key, dedup_id: new.dedup_id, payload: new.payload });
                        offset
                    }
                };
                Position { partition, offset }
            })
            .collect();
        drop(state);
        self.shared.notify();
        Ok(positions)
    }

    async fn end_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError> {
        self.config.check_partition(topic, partition)?;
        let mut state = self.available_state()?;
        Ok(state.partition(topic, partition, self.config.dedup_window).end())
    }

    async fn first_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError> {
        self.config.check_partition(topic, partition)?;
        let mut state = self.available_state()?;
        Ok(state.partition(topic, partition, self.config.dedup_window).first)
    }

    async fn trim(&self, topic: Topic, partition: u32, before: u64) -> Result<u64, LogError> {
        self.config.check_partition(topic, partition)?;
        let mut state = self.available_state()?;
        let log = state.partition(topic, partition, self.config.dedup_window);
        let before = before.min(log.end());
        if before > log.first {
            log.records.drain(..(before - log.first) as usize);
            log.first = before;
        }
        Ok(log.first)
    }

    async fn read_partition(&self, topic: Topic, partition: u32, from: u64) -> Result<Box<dyn PartitionReader>, LogError> {
        self.config.check_partition(topic, partition)?;
        let first = self.first_offset(topic, partition).await?;
        if from < first {
            return Err(LogError::Trimmed { first_kept: first });
        }
        Ok(Box::new(MemoryReader { log: self.clone(), topic, partition, next: from }))
    }

    async fn group_status(&self, topic: Topic, group: &str) -> Result<Vec<GroupPartition>, LogError> {
        let state = self.available_state()?;
        Ok(self.group_partitions(&state, topic, group))
    }

    async fn join_group(&self, topic: Topic, group: &str, member: &str) -> Result<Box<dyn GroupConsumer>, LogError> {
        check_name("group", group)?;
        check_name("member", member)?;
        let generation = {
            let mut state = self.available_state()?;
            let group_state = state.groups.entry((topic, group.to_owned())).or_default();
            group_state.next_generation += 1;
            let generation = group_state.next_generation;
            group_state.members.insert(member.to_owned(), generation);
            generation
        };
        self.shared.notify();
        Ok(Box::new(MemoryGroupConsumer {
            log: self.clone(),
            topic,
            group: group.to_owned(),
            member: member.to_owned(),
            generation,
            cursors: BTreeMap::new(),
        }))
    }
}

impl MemoryLog {
    fn group_partitions(&self, state: &State, topic: Topic, group: &str) -> Vec<GroupPartition> {
        let group_state = state.groups.get(&(topic, group.to_owned()));
        let members: Vec<String> = group_state.map(|g| g.members.keys().cloned().collect()).unwrap_or_default();
        let owners = assign_partitions(self.config.partitions(topic), &members);
        (0..self.config.partitions(topic))
            .map(|partition| GroupPartition {
                partition,
                next_offset: group_state.and_then(|g| g.committed.get(&partition)).copied().unwrap_or(0),
                owner: owners.iter().find(|(_, owned)| owned.contains(&partition)).map(|(member, _)| member.clone()),
            })
            .collect()
    }

    /// Records of `topic/partition` from `from`, at most `max`; `Trimmed` when retention
    /// removed `from`.
    fn records_from(state: &State, topic: Topic, partition: u32, from: u64, max: usize) -> Result<Vec<Record>, LogError> {
        let Some(log) = state.partitions.get(&(topic, partition)) else { return Ok(Vec::new()) };
        if from < log.first {
            return Err(LogError::Trimmed { first_kept: log.first });
        }
        Ok(log.records.iter().skip((from - log.first) as usize).take(max).cloned().collect())
    }

    /// Runs `attempt` until it yields records or `wait` passes, waking on every log change.
    async fn wait_for<F>(&self, wait: Duration, mut attempt: F) -> Result<Vec<Record>, LogError>
    where
        F: FnMut(&mut State) -> Result<Vec<Record>, LogError>,
    {
        let deadline = tokio::time::Instant::now() + wait;
        let mut changes = self.shared.changed.subscribe();
        loop {
            let records = attempt(&mut *self.available_state()?)?;
            if !records.is_empty() {
                return Ok(records);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(_) => continue,
                Err(_) => return Ok(Vec::new()),
            }
        }
    }
}

struct MemoryReader {
    log: MemoryLog,
    topic: Topic,
    partition: u32,
    next: u64,
}

#[async_trait]
impl PartitionReader for MemoryReader {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let (topic, partition, from) = (self.topic, self.partition, self.next);
        let records = self.log.wait_for(wait, |state| MemoryLog::records_from(state, topic, partition, from, max)).await?;
        if let Some(last) = records.last() {
            self.next = last.position.offset + 1;
        }
        Ok(records)
    }
}

struct MemoryGroupConsumer {
    log: MemoryLog,
    topic: Topic,
    group: String,
    member: String,
    generation: u64,
    /// Owned partitions → next offset to deliver.
    cursors: BTreeMap<u32, u64>,
}

impl MemoryGroupConsumer {
    /// This member's partitions under the current live member list.
    fn owned_partitions(&self, state: &State) -> Vec<u32> {
        let members: Vec<String> =
            state.groups.get(&(self.topic, self.group.clone())).map(|g| g.members.keys().cloned().collect()).unwrap_or_default();
        assign_partitions(self.log.config.partitions(self.topic), &members).remove(&self.member).unwrap_or_default()
    }

    /// Follows membership changes; a newly owned partition starts at the group's committed offset.
    fn rebalance(&mut self, state: &State) {
        let mine = self.owned_partitions(state);
        let committed = state.groups.get(&(self.topic, self.group.clone())).map(|g| &g.committed);
        self.cursors.retain(|partition, _| mine.contains(partition));
        for partition in mine {
            self.cursors.entry(partition).or_insert_with(|| committed.and_then(|c| c.get(&partition)).copied().unwrap_or(0));
        }
    }

    fn take(&mut self, state: &State, max: usize) -> Vec<Record> {
        self.rebalance(state);
        let mut out = Vec::new();
        for (partition, next) in self.cursors.iter_mut() {
            // A group's commit is what retention keeps (docs/retention.md); a cursor below the
            // first kept record starts there, as a Kafka group resets to the earliest offset.
            let first = state.partitions.get(&(self.topic, *partition)).map_or(0, |log| log.first);
            *next = (*next).max(first);
            let records = MemoryLog::records_from(state, self.topic, *partition, *next, max - out.len()).unwrap_or_default();
            if let Some(last) = records.last() {
                *next = last.position.offset + 1;
            }
            out.extend(records);
            if out.len() >= max {
                break;
            }
        }
        out
    }

    fn remove_membership(&self) {
        let mut state = self.log.shared.lock();
        if let Some(group) = state.groups.get_mut(&(self.topic, self.group.clone())) {
            if group.members.get(&self.member) == Some(&self.generation) {
                group.members.remove(&self.member);
            }
        }
        drop(state);
        self.log.shared.notify();
    }
}

#[async_trait]
impl GroupConsumer for MemoryGroupConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let log = self.log.clone();
        log.wait_for(wait, |state| Ok(self.take(state, max))).await
    }

    async fn commit(&mut self, upto: &[Position]) -> Result<(), LogError> {
        let log = self.log.clone();
        let mut state = log.available_state()?;
        self.rebalance(&state);
        let group = state.groups.entry((self.topic, self.group.clone())).or_default();
        for position in upto.iter().filter(|p| self.cursors.contains_key(&p.partition)) {
            let next = group.committed.entry(position.partition).or_insert(0);
            *next = (*next).max(position.offset + 1);
        }
        Ok(())
    }

    fn assignment(&self) -> Vec<u32> {
        self.owned_partitions(&self.log.shared.lock())
    }

    async fn leave(self: Box<Self>) -> Result<(), LogError> {
        Ok(()) // Drop removes the membership.
    }
}

impl Drop for MemoryGroupConsumer {
    fn drop(&mut self) {
        self.remove_membership();
    }
}

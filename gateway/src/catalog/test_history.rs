//! Test support: histories of the three logs a gateway folds (`tasks`, `task-events`, `meta`),
//! written by one gateway that registers cancelations and deletions from its own view as
//! `routes::tasks` does, and a fold of them at any pace.

use super::*;
use crate::catalog::TaskLogEntry;
use miroir_schemas::details::IndexSwap;
use miroir_schemas::envelope::SCHEMA_VERSION;
use miroir_schemas::task_log::{ReplicaStatus, ShardTarget, TaskEvent};
use miroir_schemas::topology::ShardId;
use proptest::prelude::*;
use serde_json::Value;
use time::OffsetDateTime;

pub(crate) const REPLICAS: [&str; 2] = ["n0", "n1"];
pub(crate) const NO_LIMIT: usize = usize::MAX;

pub(crate) fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
}

pub(crate) fn entry(task_type: TaskType, index: Option<&str>, details: TaskDetails, uid: u64) -> TaskLogEntry {
    TaskLogEntry::new(TaskRecord::new(task_type, index.map(str::to_owned), Some(details), at(uid as i64)))
}

pub(crate) fn create(index: &str, uid: u64) -> TaskLogEntry {
    entry(TaskType::IndexCreation, Some(index), TaskDetails::IndexInfo { primary_key: None, old_index_uid: None, new_index_uid: None }, uid)
}

/// A document addition to `a` that both replicas of shard 0 must apply.
pub(crate) fn write(uid: u64) -> TaskLogEntry {
    let details = TaskDetails::DocumentAdditionOrUpdate { received_documents: 1, indexed_documents: None };
    let mut entry = entry(TaskType::DocumentAdditionOrUpdate, Some("a"), details, uid);
    entry.record.targets = vec![ShardTarget { shard: ShardId(0), replicas: REPLICAS.map(str::to_owned).to_vec() }];
    entry
}

pub(crate) fn swap(uid: u64) -> TaskLogEntry {
    let mut entry = entry(
        TaskType::IndexSwap,
        None,
        TaskDetails::IndexSwap { swaps: vec![IndexSwap { indexes: ["a".into(), "b".into()], rename: false }] },
        uid,
    );
    entry.record.targets = vec![ShardTarget { shard: ShardId(0), replicas: REPLICAS.map(str::to_owned).to_vec() }];
    entry
}

pub(crate) fn deletion(uid: u64, plan: TaskDeletionPlan) -> TaskLogEntry {
    let details = TaskDetails::TaskDeletion { matched_tasks: plan.tasks.len(), deleted_tasks: None, original_filter: "?uids=*".into() };
    TaskLogEntry { deletes: Some(plan), ..entry(TaskType::TaskDeletion, None, details, uid) }
}

pub(crate) fn event(uid: u64, replica: &str, status: ReplicaStatus) -> TaskEvent {
    TaskEvent {
        schema_version: SCHEMA_VERSION,
        task_uid: uid,
        shard: ShardId(0),
        replica: replica.into(),
        status,
        error: None,
        counts: Default::default(),
        started_at: at(uid as i64 + 1),
        finished_at: at(uid as i64 + 2),
    }
}

/// The three logs a gateway folds, as one history wrote them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Logs {
    pub tasks: Vec<TaskLogEntry>,
    pub events: Vec<TaskEvent>,
    pub meta: Vec<TaskChange>,
}

/// Builds the logs step by step while one gateway (the decider) folds them as they are written
/// and registers cancelations and deletions from its view, as `routes::tasks` does.
pub(crate) struct History {
    pub logs: Logs,
    pub decider: Catalog,
    writes: Vec<u64>,
}

impl History {
    pub(crate) fn new() -> Self {
        let mut history = History { logs: Logs::default(), decider: Catalog::new(), writes: Vec::new() };
        history.task(create("a", 0));
        history.task(create("b", 1));
        history
    }

    pub(crate) fn next_uid(&self) -> u64 {
        self.logs.tasks.len() as u64
    }

    pub(crate) fn task(&mut self, entry: TaskLogEntry) -> u64 {
        let uid = self.next_uid();
        self.decider.apply_task(uid, entry.clone());
        self.logs.tasks.push(entry);
        uid
    }

    pub(crate) fn meta(&mut self, change: TaskChange) {
        self.decider.apply_task_change(&change);
        self.logs.meta.push(change);
        self.decider.pass_meta(self.logs.meta.len() as u64);
    }

    fn pick(&self, choice: u8) -> Option<u64> {
        (!self.writes.is_empty()).then(|| self.writes[choice as usize % self.writes.len()])
    }

    pub(crate) fn step(&mut self, step: &Step) {
        match step {
            Step::Write => {
                let uid = self.next_uid();
                self.task(write(uid));
                self.writes.push(uid);
            }
            Step::Swap => {
                let uid = self.next_uid();
                self.task(swap(uid));
                self.writes.push(uid);
            }
            Step::Start(choice) => {
                if let Some(uid) = self.pick(*choice) {
                    self.meta(TaskChange::TasksStarted { tasks: vec![uid] });
                }
            }
            Step::Finish(choice, fails) => {
                let Some(uid) = self.pick(*choice) else { return };
                // An indexer reports a task only once it started it, and reports it once.
                let reported = self.logs.events.iter().any(|event| event.task_uid == uid);
                if !self.decider.cancelations.started(uid) || reported {
                    return;
                }
                for (replica, status) in [
                    (REPLICAS[0], ReplicaStatus::Succeeded),
                    (REPLICAS[1], if *fails { ReplicaStatus::Failed } else { ReplicaStatus::Succeeded }),
                ] {
                    let event = event(uid, replica, status);
                    self.decider.apply_event(event.clone());
                    self.logs.events.push(event);
                    self.decider.pass_events(0, self.logs.events.len() as u64);
                }
            }
            Step::Cancel(choices) => {
                let named: Vec<u64> = choices.iter().filter_map(|choice| self.pick(*choice)).collect();
                let uid = self.next_uid();
                let cancels = self.decider.cancelable_tasks(&named);
                let details =
                    TaskDetails::TaskCancelation { matched_tasks: named.len() as u64, canceled_tasks: None, original_filter: "?".into() };
                self.task(entry(TaskType::TaskCancelation, None, details, uid));
                self.meta(TaskChange::TasksCanceled { cancelation_uid: uid, tasks: cancels, at: at(uid as i64) });
            }
            Step::Delete(choices) => {
                // Any earlier task may be matched, deletions and cancelations included.
                let uid = self.next_uid();
                let candidates: Vec<u64> = choices.iter().map(|choice| *choice as u64 % uid).collect();
                let plan = self.decider.plan_deletion(candidates, NO_LIMIT);
                self.task(deletion(uid, plan));
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Step {
    Write,
    Swap,
    Start(u8),
    Finish(u8, bool),
    Cancel(Vec<u8>),
    Delete(Vec<u8>),
}

pub(crate) fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => Just(Step::Write),
        1 => Just(Step::Swap),
        4 => any::<u8>().prop_map(Step::Start),
        4 => (any::<u8>(), prop::bool::weighted(0.2)).prop_map(|(choice, fails)| Step::Finish(choice, fails)),
        1 => prop::collection::vec(any::<u8>(), 1..4).prop_map(Step::Cancel),
        2 => prop::collection::vec(any::<u8>(), 1..12).prop_map(Step::Delete),
    ];
    prop::collection::vec(step, 0..60)
}

/// Folds `logs` into `catalog` from the positions it says it has folded, reading the three
/// streams in the order `choices` says (each stream in its own order), as a gateway whose
/// tailers run at different paces would; stops after `at_most` records.
pub(crate) fn fold_interleaved(catalog: &mut Catalog, logs: &Logs, choices: &[u8], at_most: usize) {
    let mut choices = choices.iter().cycle();
    for _ in 0..at_most {
        let (tasks, events, meta) =
            (catalog.next_task_uid() as usize, catalog.next_event_position(0) as usize, catalog.next_meta_position() as usize);
        let left = [logs.tasks.len() - tasks, logs.events.len() - events, logs.meta.len() - meta];
        // The stream chosen, or the next one with records left.
        let chosen = *choices.next().expect("choices cycle") as usize;
        let Some(stream) = (0..3).map(|offset| (chosen + offset) % 3).find(|stream| left[*stream] > 0) else { return };
        match stream {
            0 => catalog.apply_task(tasks as u64, logs.tasks[tasks].clone()),
            1 => {
                catalog.apply_event(logs.events[events].clone());
                catalog.pass_events(0, events as u64 + 1);
            }
            _ => {
                catalog.apply_task_change(&logs.meta[meta]);
                catalog.pass_meta(meta as u64 + 1);
            }
        }
    }
}

/// Random histories and paces of reading them.
pub(crate) fn histories() -> impl Strategy<Value = (Vec<Step>, Vec<u8>)> {
    (steps(), prop::collection::vec(any::<u8>(), 1..64))
}

pub(crate) fn views(catalog: &Catalog, count: usize) -> Vec<Option<Value>> {
    (0..count as u64).map(|uid| catalog.task_view(uid).map(Value::Object)).collect()
}

//! Turning per-operation outcomes into `task-events`: one event per (task, shard, replica),
//! however many `ops` records (parts) and node requests the task's shard batch took.

use crate::apply::OpOutcome;
use crate::request::PositionedOp;
use miroir_schemas::details::DetailCounts;
use miroir_schemas::envelope::SCHEMA_VERSION;
use miroir_schemas::error::ResponseError;
use miroir_schemas::task_log::{ReplicaStatus, TaskEvent};
use miroir_schemas::topology::ShardId;
use std::collections::{BTreeSet, HashMap};
use time::OffsetDateTime;

type Key = (u64, ShardId, String);

#[derive(Debug)]
struct Open {
    parts_seen: BTreeSet<u32>,
    first_position: u64,
    applied: bool,
    counts: DetailCounts,
    error: Option<ResponseError>,
    started_at: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
}

/// Collects outcomes until every part of a task's shard batch is known on a replica.
#[derive(Debug, Default)]
pub struct EventAssembler {
    open: HashMap<Key, Open>,
}

impl EventAssembler {
    /// Records what happened to `op` on `replica`: `Some(outcome)` when it was applied now,
    /// `None` when the replica already had it (before its checkpoint; reported then). Returns the
    /// event once every part is in, unless no part was applied now.
    pub fn record(&mut self, op: &PositionedOp, replica: &str, outcome: Option<&OpOutcome>) -> Option<TaskEvent> {
        let env = &op.envelope;
        let key = (env.task_uid, env.shard, replica.to_owned());
        let open = self.open.entry(key.clone()).or_insert_with(|| Open {
            parts_seen: BTreeSet::new(),
            first_position: op.position,
            applied: false,
            counts: DetailCounts::default(),
            error: None,
            started_at: None,
            finished_at: None,
        });
        open.parts_seen.insert(env.part);
        open.first_position = open.first_position.min(op.position);
        if let Some(outcome) = outcome {
            open.applied = true;
            open.counts = open.counts + outcome.counts;
            if open.error.is_none() && outcome.status == ReplicaStatus::Failed {
                open.error = outcome.error.clone();
            }
            open.started_at = Some(open.started_at.map_or(outcome.started_at, |t| t.min(outcome.started_at)));
            open.finished_at = Some(open.finished_at.map_or(outcome.finished_at, |t| t.max(outcome.finished_at)));
        }
        if (open.parts_seen.len() as u32) < env.parts.max(1) {
            return None;
        }
        let done = self.open.remove(&key).expect("entry exists");
        if !done.applied {
            return None;
        }
        let now = OffsetDateTime::now_utc();
        Some(TaskEvent {
            schema_version: SCHEMA_VERSION,
            task_uid: key.0,
            shard: key.1,
            replica: key.2,
            status: if done.error.is_some() { ReplicaStatus::Failed } else { ReplicaStatus::Succeeded },
            error: done.error,
            counts: done.counts,
            started_at: done.started_at.unwrap_or(now),
            finished_at: done.finished_at.unwrap_or(now),
        })
    }

    /// The earliest position of a task still waiting for parts: consumer positions must not be
    /// committed past it, or a restart would never complete its event.
    pub fn oldest_open_position(&self) -> Option<u64> {
        self.open.values().map(|o| o.first_position).min()
    }

    /// The earliest position of a task still waiting for parts on `replica`.
    pub fn oldest_open_position_of(&self, replica: &str) -> Option<u64> {
        self.open.iter().filter(|((_, _, r), _)| r == replica).map(|(_, o)| o.first_position).min()
    }

    /// Forgets tasks waiting on `replica` (it fell behind; its catch-up replays them).
    pub fn forget_replica(&mut self, replica: &str) {
        self.open.retain(|(_, _, r), _| r != replica);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::envelope::{Op, OpEnvelope};

    fn part(position: u64, part: u32, parts: u32) -> PositionedOp {
        let mut envelope = OpEnvelope::new(7, Some("m".into()), ShardId(1), Op::DeleteDocuments { ids: vec!["a".into()] });
        envelope.part = part;
        envelope.parts = parts;
        PositionedOp { partition: 0, position, bytes: 1, envelope, piece: false }
    }

    fn outcome(deleted: u64, error: Option<&str>, at: i64) -> OpOutcome {
        OpOutcome {
            status: if error.is_some() { ReplicaStatus::Failed } else { ReplicaStatus::Succeeded },
            error: error.map(|m| ResponseError::new(miroir_schemas::error::Code::Internal, m)),
            counts: DetailCounts { indexed_documents: None, deleted_documents: Some(deleted), ..DetailCounts::NONE },
            started_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
            finished_at: OffsetDateTime::from_unix_timestamp(at + 1).unwrap(),
        }
    }

    #[test]
    fn parts_are_summed_into_one_event() {
        let mut a = EventAssembler::default();
        assert_eq!(a.record(&part(10, 0, 2), "n1", Some(&outcome(2, None, 100))), None);
        assert_eq!(a.oldest_open_position(), Some(10));
        let event = a.record(&part(12, 1, 2), "n1", Some(&outcome(3, Some("boom"), 50))).unwrap();
        assert_eq!(event.counts.deleted_documents, Some(5));
        assert_eq!(event.status, ReplicaStatus::Failed);
        assert_eq!(event.error.unwrap().message, "boom");
        assert_eq!(event.started_at.unix_timestamp(), 50);
        assert_eq!(event.finished_at.unix_timestamp(), 101);
        assert_eq!(a.oldest_open_position(), None);
    }

    #[test]
    fn replicas_are_separate_and_already_applied_tasks_are_not_reported_again() {
        let mut a = EventAssembler::default();
        assert!(a.record(&part(1, 0, 1), "n1", Some(&outcome(1, None, 1))).is_some());
        assert!(a.record(&part(1, 0, 1), "n2", None).is_none());
        assert_eq!(a.record(&part(1, 0, 2), "n3", None), None);
        let event = a.record(&part(2, 1, 2), "n3", Some(&outcome(4, None, 1))).unwrap();
        assert_eq!((event.replica.as_str(), event.counts.deleted_documents), ("n3", Some(4)));
    }
}

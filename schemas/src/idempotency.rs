//! Idempotency keys as the fold of `tasks` reserves them (pure: the records' own timestamps
//! are the clock, so every reader of the log decides the same at the same position).
//!
//! A `tasks` record carrying an [`IdempotencyClaim`] whose key is not reserved becomes the
//! task and reserves the key until `enqueuedAt + window`; a later record claiming a reserved
//! key is a repeat: the fold drops it (no task at its uid, nothing applied), and its gateway
//! answers with the first record's task instead. The fold's clock is the latest `enqueuedAt`
//! folded, so reservations are forgotten in expiry order as records arrive and memory follows
//! the keyed writes of one window.

use std::collections::{BTreeMap, BTreeSet};

use crate::task_log::{IdempotencyClaim, TaskRecord, TaskType};
use crate::tasks::summarized_task_view;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{Duration, OffsetDateTime};

/// The longest reservation the fold honours, whatever a record asks (30 days).
pub const MAX_WINDOW_SECONDS: u64 = 30 * 24 * 3600;

/// A reserved key: the task that holds it and the first answer given for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub task_uid: u64,
    pub request_digest: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// What the summarized task shows, kept so the answer outlives a deletion of the task.
    task_type: TaskType,
    index_uid: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    enqueued_at: OffsetDateTime,
    custom_metadata: Option<String>,
}

impl Reservation {
    /// The body of the first answer: the summarized task, exactly as it was sent.
    pub fn summarized_task(&self) -> Map<String, Value> {
        let mut record = TaskRecord::new(self.task_type, self.index_uid.clone(), None, self.enqueued_at);
        record.custom_metadata = self.custom_metadata.clone();
        summarized_task_view(self.task_uid, &record)
    }

    /// The status of the first answer: `200` for a task cancelation or deletion (as
    /// Meilisearch answers `POST /tasks/cancel` and `DELETE /tasks`), `202` for every other write.
    pub fn status(&self) -> u16 {
        match self.task_type {
            TaskType::TaskCancelation | TaskType::TaskDeletion => 200,
            _ => 202,
        }
    }
}

/// What folding a keyed record decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// The record is the task (its key was free).
    First,
    /// The key was reserved by an earlier record: this one is dropped.
    Repeat,
}

/// Every key reserved at the fold's current position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "BookWire")]
pub struct IdempotencyBook {
    reservations: BTreeMap<String, Reservation>,
    /// The latest `enqueuedAt` folded.
    #[serde(with = "time::serde::rfc3339::option")]
    clock: Option<OffsetDateTime>,
    /// `(expiry, key)` of every reservation, to forget them in order (rebuilt when read back).
    #[serde(skip_serializing)]
    expiries: BTreeSet<(OffsetDateTime, String)>,
}

#[derive(Deserialize)]
struct BookWire {
    reservations: BTreeMap<String, Reservation>,
    #[serde(with = "time::serde::rfc3339::option")]
    clock: Option<OffsetDateTime>,
}

impl From<BookWire> for IdempotencyBook {
    fn from(wire: BookWire) -> Self {
        let expiries = wire.reservations.iter().map(|(key, reservation)| (reservation.expires_at, key.clone())).collect();
        IdempotencyBook { reservations: wire.reservations, clock: wire.clock, expiries }
    }
}

impl IdempotencyBook {
    /// Moves the clock to `at` (never back) and forgets the reservations expired by then.
    pub fn advance(&mut self, at: OffsetDateTime) {
        let clock = self.clock.map_or(at, |clock| clock.max(at));
        self.clock = Some(clock);
        while let Some((expires_at, _)) = self.expiries.first() {
            if *expires_at > clock {
                break;
            }
            let (_, key) = self.expiries.pop_first().expect("just seen");
            self.reservations.remove(&key);
        }
    }

    /// Folds record `uid`, which claims `claim`: the first record of a free key reserves it.
    pub fn claim(&mut self, uid: u64, claim: &IdempotencyClaim, record: &TaskRecord) -> Claimed {
        self.advance(record.enqueued_at);
        if self.reservations.contains_key(&claim.key) {
            return Claimed::Repeat;
        }
        let window = Duration::seconds(claim.window_seconds.min(MAX_WINDOW_SECONDS) as i64);
        let expires_at = record.enqueued_at.saturating_add(window);
        if self.clock.is_some_and(|clock| expires_at > clock) {
            self.expiries.insert((expires_at, claim.key.clone()));
            let reservation = Reservation {
                task_uid: uid,
                request_digest: claim.request_digest.clone(),
                expires_at,
                task_type: record.task_type,
                index_uid: record.index_uid.clone(),
                enqueued_at: record.enqueued_at,
                custom_metadata: record.custom_metadata.clone(),
            };
            self.reservations.insert(claim.key.clone(), reservation);
        }
        Claimed::First
    }

    /// The reservation of `key`, if it holds at the fold's position.
    pub fn reservation(&self, key: &str) -> Option<&Reservation> {
        self.reservations.get(key)
    }

    /// How many keys are reserved.
    pub fn len(&self) -> usize {
        self.reservations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reservations.is_empty()
    }
}

#[cfg(test)]
mod tests;

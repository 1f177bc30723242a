//! The automatic cleanup of a full task store, as Meilisearch does it.
//!
//! Meilisearch (`index-scheduler`, `Queue::cleanup_task_queue`, run before each batch) keeps at
//! most `max_number_of_tasks` tasks (1,000,000, not configurable there): when the queue holds
//! that many or more, it registers a `taskDeletion` of the oldest finished tasks, at most
//! 100,000, with the filter `?beforeEnqueuedAt=<enqueuedAt of the newest of them + 1 ns>&statuses=succeeded,failed,canceled`
//! and `matchedTasks` = how many it picked. With fewer than 2 finished tasks it registers
//! nothing (it would only delete its own earlier cleanups) and tries again later.
//!
//! With several gateways, which one registers it? Task uids are positions in `tasks`, so the
//! cleanup must be a record appended by some gateway; the fold cannot append. Letting every
//! gateway append when it sees the store full would register one cleanup per gateway (and per
//! write while the first is in flight). Instead the fold names, deterministically, the record
//! whose folding found the store full: the gateway that appended that record (exactly one did)
//! registers the cleanup right after (`routes::tasks::clean_up_task_store`), choosing the tasks
//! from its own view (finished is final, so any gateway's choice is right) and writing them
//! into the record like any deletion (`deletion.rs`). Every gateway therefore ends with the same
//! tasks, whatever the timing. Until that cleanup is folded, later records do not trigger again
//! — except after [`CLAIM_LIFETIME`] (by their `enqueuedAt`, which is in the log, so the rule
//! stays deterministic): the gateway may have died, or found too few finished tasks.
//! The limit only decides who appends, never what the fold keeps, so gateways launched with
//! different limits still agree on every task.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use miroir_schemas::details::TaskDetails;
use miroir_schemas::task_log::{TaskRecord, TaskType};

use super::{Catalog, TaskLogEntry};

/// Meilisearch's `max_number_of_tasks`.
pub const DEFAULT_TASK_LIMIT: u64 = 1_000_000;
/// At most this many tasks are deleted by one automatic cleanup (Meilisearch's 100,000).
pub const CLEANUP_BATCH: usize = 100_000;
/// How long (in the records' `enqueuedAt`) a trigger waits for its cleanup before a later
/// record may trigger again.
pub const CLAIM_LIFETIME: Duration = Duration::seconds(5);

/// The record whose folding found the store full and whose gateway is to register a cleanup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct CleanupTrigger {
    claim: Option<Claim>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Claim {
    uid: u64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

impl CleanupTrigger {
    /// After folding record `uid`, with `kept` tasks now kept.
    pub(super) fn after_fold(&mut self, uid: u64, entry: &TaskLogEntry, kept: u64, limit: u64) {
        if entry.deletes.as_ref().is_some_and(|plan| plan.automatic) {
            self.claim = None;
            return;
        }
        let at = entry.record.enqueued_at;
        let claimed = self.claim.is_some_and(|claim| at < claim.at + CLAIM_LIFETIME);
        if kept >= limit && !claimed {
            self.claim = Some(Claim { uid, at });
        }
    }

    pub(super) fn due(&self, uid: u64) -> bool {
        self.claim.is_some_and(|claim| claim.uid == uid)
    }
}

impl Catalog {
    /// Whether folding task `uid` found the store full: its gateway registers a cleanup.
    pub fn cleanup_due(&self, uid: u64) -> bool {
        self.cleanup.due(uid)
    }

    /// The automatic `taskDeletion` Meilisearch would register now, if the store is full and at
    /// least 2 tasks are finished; the tasks it names fit in `budget` bytes.
    pub fn automatic_deletion(&self, now: OffsetDateTime, budget: usize) -> Option<TaskLogEntry> {
        if (self.tasks.len() as u64) < self.task_limit {
            return None;
        }
        let oldest_finished: Vec<u64> =
            self.tasks.iter().filter(|(uid, task)| self.status(*uid, task).is_finished()).map(|(uid, _)| uid).take(CLEANUP_BATCH).collect();
        if oldest_finished.len() < 2 {
            tracing::warn!("The task queue is almost full, but no task can be deleted yet.");
            return None;
        }
        let mut plan = self.plan_deletion(oldest_finished, budget);
        plan.automatic = true;
        let newest = plan.tasks.iter().last()?;
        let delete_before = self.record(self.tasks.get(newest)?).enqueued_at + Duration::nanoseconds(1);
        let original_filter =
            format!("?beforeEnqueuedAt={}&statuses=succeeded,failed,canceled", delete_before.format(&Rfc3339).expect("task dates format"));
        tracing::info!("The task queue is almost full. Deleting the oldest {} finished tasks.", plan.tasks.len());
        let details = TaskDetails::TaskDeletion { matched_tasks: plan.tasks.len(), deleted_tasks: None, original_filter };
        let record = TaskRecord::new(TaskType::TaskDeletion, None, Some(details), now);
        Some(TaskLogEntry { deletes: Some(plan), ..TaskLogEntry::new(record) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::error::ResponseError;
    use serde_json::{json, Value};

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap()
    }

    /// A task that failed at enqueue time: finished as soon as it is folded.
    fn failed(t: i64) -> TaskLogEntry {
        let mut record = TaskRecord::new(TaskType::IndexDeletion, Some("nope".into()), None, at(t));
        record.error = Some(ResponseError::index_not_found("nope"));
        TaskLogEntry::new(record)
    }

    /// An index creation waiting for its replicas: enqueued until they report.
    fn enqueued(t: i64) -> TaskLogEntry {
        let mut record = TaskRecord::new(TaskType::IndexCreation, Some(format!("index{t}")), None, at(t));
        record.targets =
            vec![miroir_schemas::task_log::ShardTarget { shard: miroir_schemas::topology::ShardId(0), replicas: vec!["n0".into()] }];
        TaskLogEntry::new(record)
    }

    #[test]
    fn the_record_that_fills_the_store_triggers_once_until_its_cleanup_or_a_timeout() {
        let mut catalog = Catalog::with_task_limit(3);
        for uid in 0..5 {
            catalog.apply_task(uid, failed(uid as i64));
        }
        assert_eq!((0..5).filter(|uid| catalog.cleanup_due(*uid)).collect::<Vec<_>>(), [2], "the third task fills the store");
        // More than CLAIM_LIFETIME later, with no cleanup folded, the next record triggers again.
        catalog.apply_task(5, failed(2 + CLAIM_LIFETIME.whole_seconds()));
        assert!(catalog.cleanup_due(5));
        let cleanup = catalog.automatic_deletion(at(8), usize::MAX).expect("6 finished tasks, a full store");
        catalog.apply_task(6, cleanup);
        assert!(!catalog.cleanup_due(6), "a cleanup never triggers another");
        assert_eq!(catalog.tasks.len(), 1, "everything finished was deleted");
        catalog.apply_task(7, failed(9));
        catalog.apply_task(8, failed(9));
        assert!(catalog.cleanup_due(8), "once its cleanup is folded, filling the store triggers again at once");
    }

    #[test]
    fn the_automatic_deletion_is_meilisearchs() {
        let mut catalog = Catalog::with_task_limit(4);
        catalog.apply_task(0, failed(0));
        catalog.apply_task(1, enqueued(1));
        catalog.apply_task(2, failed(2));
        assert_eq!(catalog.automatic_deletion(at(9), usize::MAX), None, "below the limit");
        catalog.apply_task(3, enqueued(3));
        let cleanup = catalog.automatic_deletion(at(9), usize::MAX).expect("a full store");
        let plan = cleanup.deletes.clone().unwrap();
        assert_eq!(plan.tasks.iter().collect::<Vec<_>>(), [0, 2], "the finished ones, never an enqueued one");
        assert!(plan.automatic);
        assert_eq!(cleanup.record.task_type, TaskType::TaskDeletion);
        assert_eq!((cleanup.record.index_uid.clone(), cleanup.record.enqueued_at), (None, at(9)));
        catalog.apply_task(4, cleanup);
        let view = Value::Object(catalog.task_view(4).unwrap());
        // The newest deleted task was enqueued at second 2: the filter says 1 ns later.
        assert_eq!(
            view["details"],
            json!({"matchedTasks": 2, "deletedTasks": 2,
                   "originalFilter": "?beforeEnqueuedAt=2023-11-14T22:13:22.000000001Z&statuses=succeeded,failed,canceled"})
        );
        assert_eq!(view["status"], "succeeded");
        // Full again, but only the cleanup itself is finished: nothing (it would only delete
        // its own earlier cleanups).
        catalog.apply_task(5, enqueued(5));
        assert_eq!(catalog.tasks.len(), 4);
        assert_eq!(catalog.automatic_deletion(at(10), usize::MAX), None);
    }
}

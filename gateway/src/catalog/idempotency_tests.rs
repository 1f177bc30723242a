//! The catalog's side of idempotency keys (`miroir_schemas::idempotency`): a repeated keyed
//! record is dropped whole.

use miroir_schemas::error::ResponseError;
use miroir_schemas::task_log::{IdempotencyClaim, TaskRecord, TaskType};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::catalog::{Catalog, TaskDeletionPlan, TaskLogEntry, UidRuns};

const START: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

fn claim(key: &str, digest: &str, window_seconds: u64) -> IdempotencyClaim {
    IdempotencyClaim { key: key.into(), request_digest: digest.into(), window_seconds }
}

/// In the catalog: a repeated keyed record is no task, and nothing it carries applies (a task
/// deletion that would delete the finished task 0, an index creation).
#[test]
fn the_catalog_drops_a_repeat_and_everything_it_carries() {
    let keyed = |task_type, index: Option<&str>, digest: &str, at: i64| {
        let mut entry = TaskLogEntry::new(TaskRecord::new(task_type, index.map(str::to_owned), None, START + Duration::seconds(at)));
        entry.record.idempotency = Some(claim("*/k", digest, 60));
        entry
    };
    let mut catalog = Catalog::new();
    let mut failed = keyed(TaskType::DocumentDeletion, Some("movies"), "a", 0);
    failed.record.error = Some(ResponseError::index_not_found("movies"));
    catalog.apply_task(0, failed);
    let mut deletion = keyed(TaskType::TaskDeletion, None, "b", 1);
    deletion.deletes =
        Some(TaskDeletionPlan { tasks: UidRuns::from_sorted([0]), kept_renames: Vec::new(), meta_position: 0, automatic: false });
    catalog.apply_task(1, deletion);
    catalog.apply_task(2, keyed(TaskType::IndexCreation, Some("movies"), "a", 2));
    assert!(catalog.has_task(0), "the repeated deletion deleted nothing");
    assert!(!catalog.has_task(1) && !catalog.has_task(2) && catalog.task_view(2).is_none());
    assert!(catalog.index("movies").is_none(), "the repeated creation created nothing");
    assert_eq!(catalog.idempotency_reservation("*/k").unwrap().task_uid, 0);
    // The same creation without a key is a task like any other, at the next uid.
    let mut creation = keyed(TaskType::IndexCreation, Some("movies"), "a", 3);
    creation.record.idempotency = None;
    catalog.apply_task(3, creation);
    assert_eq!((catalog.next_task_uid(), catalog.has_task(3), catalog.index("movies").is_some()), (4, true, true));
}

//! The compact form of a finished task. A finished task's view never changes (no later record
//! of any log can change its status, dates, error or counts: see `Catalog::settle`), so the
//! fold keeps what its view is rendered from instead of its record and every event: about 48
//! bytes for the common case (a document addition that succeeded), the rest boxed.
//!
//! The view is still rendered by `miroir_schemas::tasks::render_task`, from the record and
//! state [`FinishedTask::record`] and [`FinishedTask::state`] give back: one renderer.

use miroir_schemas::details::{DetailCounts, TaskDetails};
use miroir_schemas::error::ResponseError;
use miroir_schemas::task_log::{TaskRecord, TaskType};
use miroir_schemas::tasks::{TaskState, TaskStatus};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::index_names::{IndexName, IndexNames};

/// What a finished task's view is rendered from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FinishedTask {
    /// Unix nanoseconds (UTC).
    enqueued_at: i64,
    started_at: i64,
    finished_at: i64,
    index: IndexName,
    /// Without [`FinishedTask::rest`]: a succeeded document addition's `receivedDocuments` and
    /// `indexedDocuments`.
    added: [u32; 2],
    /// Everything else, for the other tasks.
    rest: Option<Box<Rest>>,
    task_type: TaskType,
    status: TaskStatus,
}

/// The parts of a finished task the common case does not have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Rest {
    /// As the record shows them (before the counts are filled in).
    details: Option<TaskDetails>,
    counts: DetailCounts,
    error: Option<ResponseError>,
    canceled_by: Option<u64>,
    custom_metadata: Option<String>,
}

fn nanos(at: OffsetDateTime) -> Option<i64> {
    at.offset().is_utc().then(|| i64::try_from(at.unix_timestamp_nanos()).ok()).flatten()
}

fn date(nanos: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(nanos.into()).expect("a date stored from a date")
}

impl FinishedTask {
    /// The compact form of a finished task shown as `record` (the record as views show it)
    /// and `state`, canceled by `canceled_by`; `None` when it has no exact compact form (a
    /// date not in UTC or out of range) or is not finished.
    pub(super) fn new(record: &TaskRecord, state: &TaskState, canceled_by: Option<u64>, names: &mut IndexNames) -> Option<FinishedTask> {
        if !state.status.is_finished() {
            return None;
        }
        let (enqueued_at, started_at, finished_at) = (nanos(record.enqueued_at)?, nanos(state.started_at?)?, nanos(state.finished_at?)?);
        let added = match (&record.details, state.counts) {
            (Some(TaskDetails::DocumentAdditionOrUpdate { received_documents, indexed_documents: None }), counts)
                if state.error.is_none() && canceled_by.is_none() && record.custom_metadata.is_none() =>
            {
                let only_indexed = counts == DetailCounts { indexed_documents: counts.indexed_documents, ..DetailCounts::NONE };
                let indexed = counts.indexed_documents.filter(|_| only_indexed).and_then(|indexed| u32::try_from(indexed).ok());
                u32::try_from(*received_documents).ok().zip(indexed)
            }
            _ => None,
        };
        let rest = match added {
            Some(_) => None,
            None => Some(Box::new(Rest {
                details: record.details.clone(),
                counts: state.counts,
                error: state.error.clone(),
                canceled_by,
                custom_metadata: record.custom_metadata.clone(),
            })),
        };
        let (received, indexed) = added.unwrap_or_default();
        Some(FinishedTask {
            enqueued_at,
            started_at,
            finished_at,
            index: names.hold(record.index_uid.as_deref()),
            added: [received, indexed],
            rest,
            task_type: record.task_type,
            status: state.status,
        })
    }

    /// The record as views show it (what rendering and renames read of it).
    pub(super) fn record(&self, names: &IndexNames) -> TaskRecord {
        let details = match &self.rest {
            Some(rest) => rest.details.clone(),
            None => Some(TaskDetails::DocumentAdditionOrUpdate { received_documents: self.added[0].into(), indexed_documents: None }),
        };
        let mut record = TaskRecord::new(self.task_type, names.name(self.index).map(str::to_owned), details, self.enqueued_at());
        record.custom_metadata = self.rest.as_ref().and_then(|rest| rest.custom_metadata.clone());
        record
    }

    /// The folded state, as it was when the task finished.
    pub(super) fn state(&self) -> TaskState {
        let (counts, error) = match &self.rest {
            Some(rest) => (rest.counts, rest.error.clone()),
            None => (DetailCounts { indexed_documents: Some(self.added[1].into()), ..DetailCounts::NONE }, None),
        };
        TaskState { status: self.status, error, started_at: Some(date(self.started_at)), finished_at: Some(date(self.finished_at)), counts }
    }

    pub(super) fn canceled_by(&self) -> Option<u64> {
        self.rest.as_ref().and_then(|rest| rest.canceled_by)
    }

    pub(super) fn task_type(&self) -> TaskType {
        self.task_type
    }

    pub(super) fn status(&self) -> TaskStatus {
        self.status
    }

    pub(super) fn index(&self) -> IndexName {
        self.index
    }

    pub(super) fn enqueued_at(&self) -> OffsetDateTime {
        date(self.enqueued_at)
    }

    pub(super) fn started_at(&self) -> OffsetDateTime {
        date(self.started_at)
    }

    pub(super) fn finished_at(&self) -> OffsetDateTime {
        date(self.finished_at)
    }

    /// The details as the record shows them, when they are not the common case's.
    pub(super) fn details(&self) -> Option<&TaskDetails> {
        self.rest.as_ref().and_then(|rest| rest.details.as_ref())
    }

    /// The snapshot form, the index named.
    pub(super) fn to_wire<'n>(&self, names: &'n IndexNames) -> FinishedWire<&'n str> {
        FinishedWire(
            self.task_type,
            self.status,
            names.name(self.index),
            [self.enqueued_at, self.started_at, self.finished_at],
            self.rest.is_none().then_some(self.added),
            self.rest.clone(),
        )
    }

    /// Reads the snapshot form back; `None` when it holds neither or both detail forms.
    pub(super) fn from_wire(wire: FinishedWire<String>, names: &mut IndexNames) -> Option<FinishedTask> {
        let FinishedWire(task_type, status, index, [enqueued_at, started_at, finished_at], added, rest) = wire;
        if added.is_some() == rest.is_some() || !status.is_finished() {
            return None;
        }
        Some(FinishedTask {
            enqueued_at,
            started_at,
            finished_at,
            index: names.hold(index.as_deref()),
            added: added.unwrap_or_default(),
            rest,
            task_type,
            status,
        })
    }
}

/// A finished task in a snapshot: `[type, status, index, [enqueued, started, finished],
/// [received, indexed] | null, rest | null]` (dates in Unix nanoseconds).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FinishedWire<N>(TaskType, TaskStatus, Option<N>, [i64; 3], Option<[u32; 2]>, Option<Box<Rest>>);

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::error::Code;
    use miroir_schemas::tasks::render_task;
    use time::macros::datetime;

    #[test]
    fn the_common_case_is_small() {
        assert!(std::mem::size_of::<FinishedTask>() <= 48, "{}", std::mem::size_of::<FinishedTask>());
    }

    fn addition(received: u64) -> TaskRecord {
        let details = TaskDetails::DocumentAdditionOrUpdate { received_documents: received, indexed_documents: None };
        TaskRecord::new(
            TaskType::DocumentAdditionOrUpdate,
            Some("books".into()),
            Some(details),
            datetime!(2026-12-07 10:00:00.123456789 UTC),
        )
    }

    fn done(status: TaskStatus, counts: DetailCounts, error: Option<ResponseError>) -> TaskState {
        TaskState {
            status,
            error,
            started_at: Some(datetime!(2026-12-07 10:00:01.5 UTC)),
            finished_at: Some(datetime!(2026-12-07 10:00:02 UTC)),
            counts,
        }
    }

    fn indexed(count: u64) -> DetailCounts {
        DetailCounts { indexed_documents: Some(count), ..DetailCounts::NONE }
    }

    /// Every shape renders, through the one renderer, exactly as the task it was made from.
    #[test]
    fn a_compact_task_renders_as_the_task_it_was_made_from() {
        let mut metadata = addition(3);
        metadata.custom_metadata = Some("mine".into());
        let settings = TaskRecord::new(
            TaskType::SettingsUpdate,
            Some("movies".into()),
            Some(TaskDetails::SettingsUpdate {
                settings: serde_json::json!({"searchableAttributes": ["title"]}).as_object().cloned().unwrap(),
            }),
            datetime!(2026-12-07 10:00:00 UTC),
        );
        let no_index = TaskRecord::new(TaskType::DumpCreation, None, None, datetime!(2026-12-07 10:00:00 UTC));
        let cases = [
            (addition(3), done(TaskStatus::Succeeded, indexed(3), None), None, true),
            (addition(3), done(TaskStatus::Failed, DetailCounts::NONE, Some(ResponseError::index_not_found("books"))), None, false),
            (addition(3), done(TaskStatus::Canceled, DetailCounts::NONE, None), Some(9), false),
            (addition(u64::from(u32::MAX) + 1), done(TaskStatus::Succeeded, indexed(1), None), None, false),
            (addition(3), done(TaskStatus::Succeeded, DetailCounts { deleted_documents: Some(1), ..indexed(3) }, None), None, false),
            (metadata, done(TaskStatus::Succeeded, indexed(3), None), None, false),
            (settings, done(TaskStatus::Failed, DetailCounts::NONE, Some(ResponseError::new(Code::Internal, "boom"))), None, false),
            (no_index, done(TaskStatus::Succeeded, DetailCounts::NONE, None), None, false),
        ];
        let mut names = IndexNames::default();
        for (record, state, canceled_by, inline) in cases {
            let compact = FinishedTask::new(&record, &state, canceled_by, &mut names).expect("finished, in UTC");
            assert_eq!(compact.rest.is_none(), inline, "{record:?}");
            let rendered = render_task(7, &compact.record(&names), &compact.state(), compact.canceled_by());
            assert_eq!(rendered, render_task(7, &record, &state, canceled_by));
            let wire = serde_json::to_string(&compact.to_wire(&names)).unwrap();
            let read = FinishedTask::from_wire(serde_json::from_str(&wire).unwrap(), &mut names).unwrap();
            assert_eq!(read, compact, "the snapshot form reads back");
        }
    }

    #[test]
    fn a_task_not_finished_or_not_in_utc_has_no_compact_form() {
        let mut names = IndexNames::default();
        let open =
            TaskState { status: TaskStatus::Processing, finished_at: None, ..done(TaskStatus::Processing, DetailCounts::NONE, None) };
        assert_eq!(FinishedTask::new(&addition(1), &open, None, &mut names), None);
        let mut elsewhere = addition(1);
        elsewhere.enqueued_at = datetime!(2026-12-07 10:00:00 +1);
        assert_eq!(FinishedTask::new(&elsewhere, &done(TaskStatus::Succeeded, indexed(1), None), None, &mut names), None);
    }
}

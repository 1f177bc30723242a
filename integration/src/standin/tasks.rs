//! The task queue's records and their JSON views (`GET /tasks/{uid}`, the 202 summary, `/batches`).

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use super::clock::{iso_duration, rfc3339};
use miroir_schemas::error::ResponseError;

pub type Document = Map<String, Value>;

/// What a task does, with the payload the worker needs to apply it.
#[derive(Debug, Clone)]
pub enum TaskKind {
    IndexCreation { primary_key: Option<String> },
    IndexUpdate { primary_key: Option<String> },
    IndexDeletion,
    IndexSwap { swaps: Vec<Swap> },
    DocumentAdditionOrUpdate { documents: Vec<Document>, primary_key: Option<String>, merge: bool },
    DocumentDeletion { ids: Vec<String> },
    DocumentDeletionByFilter { filter: Value },
    DocumentClear,
    SettingsUpdate { patch: Map<String, Value> },
}

#[derive(Debug, Clone)]
pub struct Swap {
    pub indexes: [String; 2],
    pub rename: bool,
}

impl TaskKind {
    /// The `type` field.
    pub fn type_name(&self) -> &'static str {
        match self {
            TaskKind::IndexCreation { .. } => "indexCreation",
            TaskKind::IndexUpdate { .. } => "indexUpdate",
            TaskKind::IndexDeletion => "indexDeletion",
            TaskKind::IndexSwap { .. } => "indexSwap",
            TaskKind::DocumentAdditionOrUpdate { .. } => "documentAdditionOrUpdate",
            TaskKind::DocumentDeletion { .. }
            | TaskKind::DocumentDeletionByFilter { .. }
            | TaskKind::DocumentClear => "documentDeletion",
            TaskKind::SettingsUpdate { .. } => "settingsUpdate",
        }
    }

    /// The details of the task while it is still enqueued (counts not known yet are null).
    pub fn enqueued_details(&self) -> Map<String, Value> {
        let value = match self {
            TaskKind::IndexCreation { primary_key } | TaskKind::IndexUpdate { primary_key } => {
                json!({ "primaryKey": primary_key })
            }
            TaskKind::IndexDeletion | TaskKind::DocumentClear => json!({ "deletedDocuments": null }),
            TaskKind::IndexSwap { swaps } => json!({
                "swaps": swaps.iter().map(|s| json!({"indexes": s.indexes, "rename": s.rename})).collect::<Vec<_>>()
            }),
            TaskKind::DocumentAdditionOrUpdate { documents, .. } => {
                json!({ "receivedDocuments": documents.len(), "indexedDocuments": null })
            }
            TaskKind::DocumentDeletion { ids } => {
                json!({ "providedIds": ids.len(), "deletedDocuments": null, "originalFilter": null })
            }
            TaskKind::DocumentDeletionByFilter { filter } => json!({
                "providedIds": 0, "deletedDocuments": null, "originalFilter": filter.to_string()
            }),
            TaskKind::SettingsUpdate { patch } => Value::Object(patch.clone()),
        };
        match value {
            Value::Object(map) => map,
            _ => unreachable!("details are always objects"),
        }
    }
}

pub const TASK_TYPES: &[&str] = &[
    "documentAdditionOrUpdate",
    "documentEdition",
    "documentDeletion",
    "settingsUpdate",
    "indexCreation",
    "indexDeletion",
    "indexUpdate",
    "indexSwap",
    "taskCancelation",
    "taskDeletion",
    "dumpCreation",
    "snapshotCreation",
    "export",
    "upgradeDatabase",
    "indexCompaction",
    "networkTopologyChange",
    "dsrUpdate",
    "dsrClear",
];

pub const TASK_STATUSES: &[&str] = &["enqueued", "processing", "succeeded", "failed", "canceled"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Enqueued,
    Processing,
    Succeeded,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enqueued => "enqueued",
            Status::Processing => "processing",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub uid: u64,
    pub batch_uid: Option<u64>,
    pub index_uid: Option<String>,
    pub status: Status,
    pub kind: TaskKind,
    pub details: Map<String, Value>,
    pub error: Option<ResponseError>,
    pub enqueued_at: OffsetDateTime,
    pub started_at: Option<OffsetDateTime>,
    pub finished_at: Option<OffsetDateTime>,
    pub custom_metadata: Option<String>,
}

impl Task {
    /// The full task object of `GET /tasks/{uid}` and `GET /tasks`.
    pub fn view(&self) -> Value {
        let mut out = Map::new();
        out.insert("uid".into(), json!(self.uid));
        out.insert("batchUid".into(), json!(self.batch_uid));
        out.insert("indexUid".into(), json!(self.index_uid));
        out.insert("status".into(), json!(self.status.as_str()));
        out.insert("type".into(), json!(self.kind.type_name()));
        out.insert("canceledBy".into(), Value::Null);
        out.insert("details".into(), Value::Object(self.details.clone()));
        out.insert("error".into(), self.error.as_ref().map_or(Value::Null, |e| json!(e)));
        let duration = match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => json!(iso_duration(f - s)),
            _ => Value::Null,
        };
        out.insert("duration".into(), duration);
        out.insert("enqueuedAt".into(), json!(rfc3339(self.enqueued_at)));
        out.insert("startedAt".into(), json!(self.started_at.map(rfc3339)));
        out.insert("finishedAt".into(), json!(self.finished_at.map(rfc3339)));
        if let Some(meta) = &self.custom_metadata {
            out.insert("customMetadata".into(), json!(meta));
        }
        Value::Object(out)
    }

    /// The 202 body of a task-creating route.
    pub fn summary(&self) -> Value {
        let mut out = Map::new();
        out.insert("taskUid".into(), json!(self.uid));
        out.insert("indexUid".into(), json!(self.index_uid));
        out.insert("status".into(), json!(self.status.as_str()));
        out.insert("type".into(), json!(self.kind.type_name()));
        out.insert("enqueuedAt".into(), json!(rfc3339(self.enqueued_at)));
        if let Some(meta) = &self.custom_metadata {
            out.insert("customMetadata".into(), json!(meta));
        }
        Value::Object(out)
    }

    /// The batch object of `/batches`: the stand-in processes one task per batch, so the batch
    /// uid is the task uid.
    pub fn batch_view(&self) -> Option<Value> {
        let uid = self.batch_uid?;
        let duration = match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => json!(iso_duration(f - s)),
            _ => Value::Null,
        };
        let mut status = Map::new();
        status.insert(self.status.as_str().into(), json!(1));
        let mut types = Map::new();
        types.insert(self.kind.type_name().into(), json!(1));
        let mut index_uids = Map::new();
        if let Some(index) = &self.index_uid {
            index_uids.insert(index.clone(), json!(1));
        }
        Some(json!({
            "uid": uid,
            "progress": null,
            "details": self.details,
            "stats": {
                "totalNbTasks": 1,
                "status": status,
                "types": types,
                "indexUids": index_uids,
                "progressTrace": {},
            },
            "duration": duration,
            "startedAt": self.started_at.map(rfc3339),
            "finishedAt": self.finished_at.map(rfc3339),
            "batchStrategy": "batched all enqueued tasks",
        }))
    }
}

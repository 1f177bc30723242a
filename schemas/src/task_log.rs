//! Records of the `tasks` log (one per Miroir task, written by gateways) and of the
//! `task-events` log (one per shard × replica outcome, written by indexers). Gateways fold
//! both into Meilisearch's task view (`tasks.rs`).

use crate::details::{DetailCounts, TaskDetails};
use crate::envelope::{LogRecord, SCHEMA_VERSION};
use crate::error::ResponseError;
use crate::topology::ShardId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Task types, spelled as Meilisearch spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskType {
    DocumentAdditionOrUpdate,
    DocumentDeletion,
    /// `POST /indexes/{uid}/documents/edit` (the `editDocumentsByFunction` feature).
    DocumentEdition,
    SettingsUpdate,
    IndexCreation,
    IndexUpdate,
    IndexDeletion,
    IndexSwap,
    TaskCancelation,
    TaskDeletion,
    IndexCompaction,
    /// `POST /dumps`: written by the gateway that registered it (`gateway/src/dumps.rs`).
    DumpCreation,
    /// `POST /snapshots`: every node snapshots itself, asked by the gateway that registered it
    /// (`gateway/src/cluster_snapshots.rs`).
    SnapshotCreation,
    /// `POST /export`: sent to another Meilisearch by the gateway that registered it
    /// (`gateway/src/export.rs`).
    Export,
}

/// One shard a task touches and the replicas expected to apply it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardTarget {
    pub shard: ShardId,
    /// Node ids of the shard's replicas when the task was enqueued.
    pub replicas: Vec<String>,
}

/// A task as enqueued. Its uid is its position in the `tasks` log, so it is not stored here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    pub schema_version: u32,
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// `None` for tasks not tied to an index (swap, task cancelation/deletion).
    pub index_uid: Option<String>,
    /// Details as Meilisearch shows them while the task is enqueued.
    pub details: Option<TaskDetails>,
    #[serde(with = "time::serde::rfc3339")]
    pub enqueued_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<String>,
    /// The shards and replicas the task will touch; empty when nothing reaches the nodes.
    #[serde(default)]
    pub targets: Vec<ShardTarget>,
    /// Set when the gateway already knows the task fails (nothing is sent to the nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResponseError>,
    /// The id of the HTTP request that registered the task (its `X-Request-Id`), so a write can
    /// be followed from the client through the gateway's log lines to the indexers'. Not shown
    /// in task views (Meilisearch's have no such field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The client's `Idempotency-Key` and what it was sent with, when it gave one: the first
    /// record of a key within its window is the task, a later one is dropped by every fold
    /// (ARCHITECTURE.md, "A write, end to end"). Not shown in task views.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<IdempotencyClaim>,
}

/// A write's claim on an idempotency key, carried by its task record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyClaim {
    /// The key as the fold compares it: the client's key scoped by the API key that sent it.
    pub key: String,
    /// Hex SHA-256 of the request (method, path and query, content type, body).
    pub request_digest: String,
    /// How long after the record's `enqueuedAt` the key stays reserved.
    pub window_seconds: u64,
}

impl LogRecord for TaskRecord {
    const KIND: &'static str = "TaskRecord";
}

impl TaskRecord {
    pub fn new(task_type: TaskType, index_uid: Option<String>, details: Option<TaskDetails>, enqueued_at: OffsetDateTime) -> TaskRecord {
        TaskRecord {
            schema_version: SCHEMA_VERSION,
            task_type,
            index_uid,
            details,
            enqueued_at,
            custom_metadata: None,
            targets: Vec::new(),
            error: None,
            request_id: None,
            idempotency: None,
        }
    }
}

/// How one replica's application of a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReplicaStatus {
    Succeeded,
    Failed,
}

/// One replica of one shard finished its part of a task. If the shard's batch was split over
/// several node tasks, the indexer reports them as one event (counts summed, first start, last
/// finish, first error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskEvent {
    pub schema_version: u32,
    pub task_uid: u64,
    pub shard: ShardId,
    /// Node id of the replica.
    pub replica: String,
    pub status: ReplicaStatus,
    /// The node's error object when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResponseError>,
    #[serde(default)]
    pub counts: DetailCounts,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
}

impl LogRecord for TaskEvent {
    const KIND: &'static str = "TaskEvent";
}

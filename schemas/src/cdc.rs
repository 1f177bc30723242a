//! Change-data-capture events the reconciler publishes on the `cdc` topic: one per change a
//! task applied (a document written or deleted, a range of documents deleted, settings, an
//! index created, updated, deleted or swapped), only for tasks that succeeded, keyed by index.
//! `docs/cdc.md` tells data teams how to consume them. Their JSON Schemas are generated from
//! these types into `schemas/json/` (regenerate with
//! `cargo run -p miroir-schemas --bin gen-json-schemas`); a test keeps them in step.
//!
//! * [`from_op`]: the events of one applied `ops` record (pure).
//! * [`schema_files`]: the JSON Schema of every event type.

mod from_op;
mod schema_files;

pub use from_op::{events_of, AppliedTask};
pub use schema_files::json_schema_files;

use crate::envelope::WriteOrigin;
use crate::topology::ShardId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Version of the CDC event format; bumped on any change a consumer could notice.
/// 2: one event per document change, only applied changes, `eventId`, `origin`.
pub const CDC_SCHEMA_VERSION: u32 = 2;

/// Where in Miroir's `ops` log the change comes from: the record, and the change's place
/// inside it (a record carries a batch of documents or ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CdcPosition {
    /// The `ops` partition.
    pub partition: u32,
    /// The record's offset (Kafka) or stream sequence − 1 (JetStream) in that partition.
    pub offset: u64,
    /// The change's place in the record: the document's or id's index in its batch; for a
    /// swap, the index's place in the swapped pairs; otherwise 0.
    pub item: u32,
}

impl CdcPosition {
    /// `<partition>-<offset>-<item>`: the same for every delivery of the same change.
    pub fn event_id(&self) -> String {
        format!("{}-{}-{}", self.partition, self.offset, self.item)
    }
}

/// One applied change to one index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CdcEvent {
    pub schema_version: u32,
    /// Stable id of the change, `<partition>-<offset>-<item>` of its `position`: a change
    /// published twice (the stream is at-least-once) carries the same id both times.
    pub event_id: String,
    /// The index the change applies to (the stream's key).
    pub index_uid: String,
    /// The Miroir task that made the change (`GET /tasks/{taskUid}`), which succeeded.
    pub task_uid: u64,
    /// Who caused the change: `client` for a client's task, otherwise Miroir's own upkeep.
    pub origin: WriteOrigin,
    pub position: CdcPosition,
    /// When the task finished on its last replica (RFC 3339): from then on the change is on
    /// every replica.
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", regex(pattern = r"^\d{4}-\d{2}-\d{2}T"))]
    pub applied_at: OffsetDateTime,
    #[serde(flatten)]
    pub change: CdcChange,
}

/// What changed. The `type` field names the event type. (Fields are renamed per variant:
/// schemars 0.8 does not read `rename_all_fields`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum CdcChange {
    /// A document written. `partial: false` (`POST /documents`): `document` is the whole
    /// document as stored. `partial: true` (`PUT /documents`): `document` holds the fields
    /// sent, merged into the stored document's top-level fields (a document that did not
    /// exist is created with just them).
    #[serde(rename_all = "camelCase")]
    DocumentUpserted {
        shard: ShardId,
        document_id: String,
        partial: bool,
        document: Map<String, Value>,
    },
    /// A document deleted by id (whether or not it existed).
    #[serde(rename_all = "camelCase")]
    DocumentDeleted {
        shard: ShardId,
        document_id: String,
    },
    /// Every document of `shard` in `range` deleted: documents matching a filter, or all of
    /// them (a clear). Not expanded into ids: apply it to the documents of that shard.
    #[serde(rename_all = "camelCase")]
    DocumentRangeDeleted {
        shard: ShardId,
        range: DeletedRange,
    },
    /// The documents of `shard` matching `filter` (all of them without one) edited by the
    /// client's Rhai `function` (Meilisearch's "edit documents by function"), with `context`
    /// in scope: each one updated, deleted (`doc = ()`) or left alone, as the function decides
    /// per document. Not expanded into documents: the node runs the function when it applies it.
    #[serde(rename_all = "camelCase")]
    DocumentRangeEdited {
        shard: ShardId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Value>,
        function: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<Map<String, Value>>,
    },
    /// Settings changed: the settings sent, as Meilisearch takes them (a `null` field resets
    /// that setting); `resetAll`: every setting reset to its default.
    #[serde(rename_all = "camelCase")]
    SettingsChanged {
        settings: Map<String, Value>,
        #[serde(default)]
        reset_all: bool,
    },
    #[serde(rename_all = "camelCase")]
    IndexCreated {
        primary_key: Option<String>,
    },
    /// The primary key set, or the index renamed to `newIndexUid`.
    #[serde(rename_all = "camelCase")]
    IndexUpdated {
        primary_key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_index_uid: Option<String>,
    },
    IndexDeleted,
    /// This index and `otherIndexUid` exchanged their documents and settings. With `rename`,
    /// this index was renamed to the other, or the other to this one (one of the two did not
    /// exist before and does not after).
    #[serde(rename_all = "camelCase")]
    IndexSwapped {
        other_index_uid: String,
        rename: bool,
    },
}

/// Which documents a range deletion removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DeletedRange {
    /// Those matching this filter (string or array form, as the client sent it).
    Filter(Value),
    /// All of them.
    All,
}

#[cfg(test)]
mod tests;

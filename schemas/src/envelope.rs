//! Everything Miroir writes to its logs is a JSON record carrying a `schemaVersion`.
//!
//! This file holds the versioning rule shared by every record ([`encode`], [`decode`]) and the
//! `ops` record, [`OpEnvelope`]: one operation on one shard of one index, which indexers apply
//! to every replica of that shard. The `tasks`/`task-events` records live in `task_log.rs`,
//! the `meta` records in `meta_log.rs`.

use crate::details::IndexSwap;
use crate::topology::ShardId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema version this build writes. A reader accepts every version up to this one and
/// refuses newer records loudly instead of misreading them.
pub const SCHEMA_VERSION: u32 = 1;

/// A record type written to a Miroir log.
pub trait LogRecord: Serialize + DeserializeOwned {
    /// Name used in errors (`OpEnvelope`, `TaskRecord`, …).
    const KIND: &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "{kind} record has schemaVersion {found}, but this build reads up to {supported}; upgrade this process before reading this log"
    )]
    UnsupportedVersion { kind: &'static str, found: u64, supported: u32 },
    #[error("{kind} record has no valid schemaVersion: {source}")]
    MissingVersion { kind: &'static str, source: serde_json::Error },
    #[error("{kind} record is malformed: {source}")]
    Malformed { kind: &'static str, source: serde_json::Error },
}

/// The JSON bytes of a record.
pub fn encode<T: LogRecord>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("log records are plain JSON and always serialize")
}

/// Reads a record, checking its `schemaVersion` before anything else so a record from a newer
/// writer is reported as such rather than as a confusing shape error.
pub fn decode<T: LogRecord>(bytes: &[u8]) -> Result<T, DecodeError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct VersionOnly {
        schema_version: u64,
    }
    let version = serde_json::from_slice::<VersionOnly>(bytes)
        .map_err(|source| DecodeError::MissingVersion { kind: T::KIND, source })?
        .schema_version;
    if version == 0 || version > u64::from(SCHEMA_VERSION) {
        return Err(DecodeError::UnsupportedVersion { kind: T::KIND, found: version, supported: SCHEMA_VERSION });
    }
    serde_json::from_slice(bytes).map_err(|source| DecodeError::Malformed { kind: T::KIND, source })
}

/// One operation for one shard, as appended to `ops` with key `<index>/<shard>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpEnvelope {
    pub schema_version: u32,
    /// The Miroir task this operation belongs to (its position in the `tasks` log).
    pub task_uid: u64,
    /// The user's index; `None` only for an index swap, which names its indexes itself.
    pub index_uid: Option<String>,
    pub shard: ShardId,
    /// A task's batch for one shard may be split over several messages to stay under the
    /// broker's size limit: this is part `part` of `parts` (dedup id `<taskUid>:<shard>:<part>`).
    #[serde(default)]
    pub part: u32,
    #[serde(default = "one")]
    pub parts: u32,
    /// Who caused the change: a client's task, or Miroir's own upkeep (carried into CDC events).
    #[serde(default, skip_serializing_if = "WriteOrigin::is_client")]
    pub origin: WriteOrigin,
    /// The index layout that routed this operation to `shard`: `None` for the launch layout
    /// (the cluster's `S`), `Some(n)` once the index was resharded to `n` shards
    /// (docs/resharding.md). An indexer applying it to another layout routes it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<u32>,
    pub op: Op,
}

fn one() -> u32 {
    1
}

impl LogRecord for OpEnvelope {
    const KIND: &'static str = "OpEnvelope";
}

impl OpEnvelope {
    /// A topology barrier (`CopyShards`/`ReleaseShards`): no task, no index.
    pub fn topology_barrier(op: Op) -> OpEnvelope {
        OpEnvelope::new(0, None, ShardId(0), op)
    }

    /// The barrier of a reshard of `index_uid` to `shards` shards: no task.
    pub fn reshard_barrier(index_uid: &str, shards: u32) -> OpEnvelope {
        OpEnvelope::new(0, Some(index_uid.to_owned()), ShardId(0), Op::Reshard { shards })
    }

    /// Whether this is a topology barrier rather than a task's operation.
    pub fn is_topology_barrier(&self) -> bool {
        matches!(self.op, Op::CopyShards { .. } | Op::ReleaseShards { .. } | Op::Reshard { .. })
    }

    /// A single-part envelope at the current schema version.
    pub fn new(task_uid: u64, index_uid: Option<String>, shard: ShardId, op: Op) -> OpEnvelope {
        OpEnvelope {
            schema_version: SCHEMA_VERSION,
            task_uid,
            index_uid,
            shard,
            part: 0,
            parts: 1,
            origin: WriteOrigin::Client,
            layout: None,
            op,
        }
    }

    /// The broker dedup id of this message.
    pub fn dedup_id(&self) -> String {
        format!("{}:{}:{}", self.task_uid, self.shard, self.part)
    }
}

/// Who caused a write. Clients' writes are `client`; the others are the writes Miroir makes
/// itself to keep the cluster in shape, so change-data-capture consumers can tell them apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum WriteOrigin {
    /// A task a client enqueued through a gateway.
    #[default]
    Client,
    /// A document TTL sweep deleting expired documents.
    Ttl,
    /// Drift repair bringing a replica back in line.
    Repair,
    /// Documents copied while shards move between nodes.
    Rebalance,
}

impl WriteOrigin {
    pub fn is_client(&self) -> bool {
        *self == WriteOrigin::Client
    }
}

/// How documents of a batch combine with stored ones (Meilisearch `POST` vs `PUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum DocumentMethod {
    /// `POST /documents`: a document replaces the stored one.
    Replace,
    /// `PUT /documents`: fields are merged into the stored document.
    Update,
}

/// What to do to one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Op {
    /// Documents routed to this shard; the primary key was decided once by the gateway.
    Documents {
        method: DocumentMethod,
        primary_key: String,
        documents: Vec<Map<String, Value>>,
    },
    /// Delete documents by external id (integer ids in their decimal form).
    DeleteDocuments {
        ids: Vec<String>,
    },
    /// Delete documents matching a filter (string or array form, as the user sent it).
    DeleteByFilter {
        filter: Value,
    },
    ClearDocuments,
    /// `POST /indexes/{uid}/documents/edit`: run the client's Rhai `function` on this shard's
    /// documents matching `filter` (all of them without one), with `context` in scope, on
    /// every replica; the node runs it wrapped as `wrapping` says, so Miroir's fields survive
    /// (`node_layout::edit_function`).
    EditDocuments {
        function: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filter: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<Map<String, Value>>,
        wrapping: crate::node_layout::edit_function::Wrapping,
    },
    /// Apply validated settings; a `null` field resets that one setting, as in Meilisearch.
    UpdateSettings {
        settings: Map<String, Value>,
    },
    /// `DELETE /indexes/{uid}/settings`: reset every setting.
    ResetSettings,
    CreateIndex {
        primary_key: Option<String>,
    },
    UpdateIndex {
        primary_key: Option<String>,
        /// Renames the index (`PATCH /indexes/{uid}` with `uid`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_index_uid: Option<String>,
    },
    DeleteIndex,
    /// Swap (or rename) the node indexes of this shard for every pair.
    SwapIndexes {
        swaps: Vec<IndexSwap>,
    },
    /// `POST /indexes/{uid}/compact`: compact the node index holding this shard (once per node
    /// index, however many of its shards ask). Changes no document and no setting.
    CompactIndex,
    /// A topology change's copy barrier in one `ops` partition (docs/topology.md): here the
    /// indexer owning the partition fills the new replicas of topology `version`. Belongs to no
    /// task and no index; nothing is reported for it.
    CopyShards {
        version: u64,
    },
    /// The release barrier of topology `version`: here the replicas that moved away are deleted.
    ReleaseShards {
        version: u64,
    },
    /// The barrier of a reshard of the envelope's index to `shards` shards (docs/resharding.md):
    /// here the indexer owning the index's partition builds the new layout from the current one,
    /// verifies it and switches the index to it. Belongs to no task.
    Reshard {
        shards: u32,
    },
}

/// The `ops` key of an index: every operation of an index on one partition, in log order. A
/// node index holds several shards of an index (those its node holds at one replica rank), so
/// the operations of different shards must not overtake each other there: an index deletion
/// applied for one shard while another shard's older documents were still on their way would
/// bring the documents back.
pub fn ops_key(index_uid: &str) -> String {
    index_uid.to_owned()
}

#[cfg(test)]
mod tests;

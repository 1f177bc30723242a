//! The events of one applied `ops` record (pure).
//!
//! A task's operations are spread over one record per shard (and per part of a large batch),
//! so an index-wide operation (settings, index creation, update, deletion, swap) sits in one
//! record per shard: it becomes events only in the record of the task's first shard, once per
//! task. A range deletion (by filter, or a clear) is narrowed to its shard on the nodes and
//! applied at that record's place in the log, so each shard's record gives its own event: one
//! event for the whole task could not be ordered right against another task's writes to other
//! shards appended between the task's records.

use super::{CdcChange, CdcEvent, CdcPosition, DeletedRange, CDC_SCHEMA_VERSION};
use crate::document_id::document_id;
use crate::envelope::{DocumentMethod, Op, OpEnvelope};
use crate::node_layout::is_reserved_field;
use crate::topology::ShardId;
use time::OffsetDateTime;

/// What the events of a task's records need to know about the task, once it succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedTask {
    /// When its last replica finished.
    pub finished_at: OffsetDateTime,
    /// The lowest shard it targets: its index-wide operations become events in that shard's
    /// record only.
    pub first_shard: Option<ShardId>,
}

/// The events of `envelope`, read at `offset` of ops partition `partition`, for a task that
/// succeeded. In the order the nodes applied them.
pub fn events_of(envelope: &OpEnvelope, partition: u32, offset: u64, task: &AppliedTask) -> Vec<CdcEvent> {
    let shard = envelope.shard;
    let index = match (&envelope.index_uid, &envelope.op) {
        (Some(index), _) => index.clone(),
        // A swap names its indexes itself; any other operation without an index names nothing.
        (None, Op::SwapIndexes { .. }) => String::new(),
        (None, _) => return Vec::new(),
    };
    let index_wide = |change: CdcChange| -> Vec<(String, CdcChange)> {
        if task.first_shard == Some(shard) {
            vec![(index.clone(), change)]
        } else {
            Vec::new()
        }
    };
    let changes: Vec<(String, CdcChange)> = match &envelope.op {
        Op::Documents { method, primary_key, documents } => documents
            .iter()
            // A task that succeeded had every id accepted by the nodes, which read ids by the
            // same rule: nothing is dropped here in practice.
            .filter_map(|document| {
                let document_id = document_id(primary_key, document).ok()?;
                let partial = *method == DocumentMethod::Update;
                // Miroir's own fields (the TTL expiry the gateway adds) are not the user's document.
                let document =
                    document.iter().filter(|(field, _)| !is_reserved_field(field)).map(|(k, v)| (k.clone(), v.clone())).collect();
                Some((index.clone(), CdcChange::DocumentUpserted { shard, document_id, partial, document }))
            })
            .collect(),
        Op::DeleteDocuments { ids } => {
            ids.iter().map(|id| (index.clone(), CdcChange::DocumentDeleted { shard, document_id: id.clone() })).collect()
        }
        Op::DeleteByFilter { filter } => {
            vec![(index.clone(), CdcChange::DocumentRangeDeleted { shard, range: DeletedRange::Filter(filter.clone()) })]
        }
        Op::ClearDocuments => vec![(index.clone(), CdcChange::DocumentRangeDeleted { shard, range: DeletedRange::All })],
        // Narrowed to its shard on the nodes, like a deletion by filter: one range per shard.
        Op::EditDocuments { function, filter, context, .. } => vec![(
            index.clone(),
            CdcChange::DocumentRangeEdited { shard, filter: filter.clone(), function: function.clone(), context: context.clone() },
        )],
        Op::UpdateSettings { settings } => index_wide(CdcChange::SettingsChanged { settings: settings.clone(), reset_all: false }),
        Op::ResetSettings => index_wide(CdcChange::SettingsChanged { settings: Default::default(), reset_all: true }),
        Op::CreateIndex { primary_key } => index_wide(CdcChange::IndexCreated { primary_key: primary_key.clone() }),
        Op::UpdateIndex { primary_key, new_index_uid } => {
            index_wide(CdcChange::IndexUpdated { primary_key: primary_key.clone(), new_index_uid: new_index_uid.clone() })
        }
        Op::DeleteIndex => index_wide(CdcChange::IndexDeleted),
        Op::SwapIndexes { swaps } if task.first_shard == Some(shard) => swaps
            .iter()
            .flat_map(|swap| {
                let [a, b] = &swap.indexes;
                [(a, b), (b, a)]
                    .map(|(this, other)| (this.clone(), CdcChange::IndexSwapped { other_index_uid: other.clone(), rename: swap.rename }))
            })
            .collect(),
        Op::SwapIndexes { .. } => Vec::new(),
        // A compaction rewrites the node index's files: no document and no setting changes.
        Op::CompactIndex => Vec::new(),
        // Moving replicas between nodes changes no document: the copies are the same documents.
        Op::CopyShards { .. } | Op::ReleaseShards { .. } | Op::Reshard { .. } => Vec::new(),
    };
    changes
        .into_iter()
        .enumerate()
        .map(|(item, (index_uid, change))| {
            let position = CdcPosition { partition, offset, item: item as u32 };
            CdcEvent {
                schema_version: CDC_SCHEMA_VERSION,
                event_id: position.event_id(),
                index_uid,
                task_uid: envelope.task_uid,
                origin: envelope.origin,
                position,
                applied_at: task.finished_at,
                change,
            }
        })
        .collect()
}

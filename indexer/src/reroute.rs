//! Operations routed by one layout of an index and applied in another (docs/resharding.md).
//!
//! A gateway routes a write by the layout of the index it knows: the writes accepted while a
//! reshard builds, and those of a gateway that has not folded the switch yet, are routed by
//! the old layout but come after the reshard barrier, where the new layout applies. Such an
//! operation is split into *pieces* of the new layout (pure):
//! * documents and deletions by id go to the shard their id has in the new layout;
//! * an operation every shard receives (deletion by filter, clear, edition, settings, index
//!   creation, update, deletion, compaction) is applied once to every shard of the new layout,
//!   from its shard-0 copy; the copies of the old layout's other shards have no piece.
//!
//! Pieces are applied like any operation; their outcomes are reported for the replicas the
//! task lists for the source operation ([`crate::worker`]).

use crate::request::PositionedOp;
use miroir_schemas::document_id::document_id;
use miroir_schemas::envelope::Op;
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Whether `op` reaches every shard (the gateway sends one copy per shard).
pub fn reaches_every_shard(op: &Op) -> bool {
    !matches!(
        op,
        Op::Documents { .. }
            | Op::DeleteDocuments { .. }
            | Op::SwapIndexes { .. }
            | Op::CopyShards { .. }
            | Op::ReleaseShards { .. }
            | Op::Reshard { .. }
    )
}

/// `ops` with every operation whose envelope's layout is not `layout_of(op)` replaced by its
/// pieces in that layout (placed by `placement`). Operations already in their layout, swaps and
/// barriers pass as they are.
pub fn route_ops(
    ops: &[PositionedOp],
    layout_of: impl Fn(&PositionedOp) -> Option<u32>,
    placement: impl Fn(Option<u32>) -> Arc<Placement>,
) -> Vec<PositionedOp> {
    let mut routed = Vec::with_capacity(ops.len());
    let mut placements: BTreeMap<Option<u32>, Arc<Placement>> = BTreeMap::new();
    for op in ops {
        if op.is_barrier() {
            routed.push(op.clone());
            continue;
        }
        let layout = layout_of(op);
        if layout == op.envelope.layout {
            routed.push(op.clone());
            continue;
        }
        let placement = placements.entry(layout).or_insert_with(|| placement(layout));
        routed.extend(pieces(op, layout, placement));
    }
    routed
}

/// The pieces of `op` in `layout`.
pub fn pieces(op: &PositionedOp, layout: Option<u32>, placement: &Placement) -> Vec<PositionedOp> {
    let piece = |shard: ShardId, new_op: Op, share: (usize, usize)| {
        let mut envelope = op.envelope.clone();
        envelope.shard = shard;
        envelope.layout = layout;
        envelope.op = new_op;
        let bytes = (op.bytes * share.0 / share.1.max(1)).max(1);
        PositionedOp { partition: op.partition, position: op.position, bytes, envelope, piece: true }
    };
    match &op.envelope.op {
        Op::Documents { method, primary_key, documents } => {
            let mut by_shard: BTreeMap<ShardId, Vec<Map<String, Value>>> = BTreeMap::new();
            for document in documents {
                // The gateway checked every id before appending; an unreadable one stays on shard 0.
                let shard = document_id(primary_key, document).map_or(ShardId(0), |id| placement.shard_of(&id));
                by_shard.entry(shard).or_default().push(document.clone());
            }
            let total = documents.len();
            by_shard
                .into_iter()
                .map(|(shard, documents)| {
                    let share = (documents.len(), total);
                    piece(shard, Op::Documents { method: *method, primary_key: primary_key.clone(), documents }, share)
                })
                .collect()
        }
        Op::DeleteDocuments { ids } => {
            let mut by_shard: BTreeMap<ShardId, Vec<String>> = BTreeMap::new();
            for id in ids {
                by_shard.entry(placement.shard_of(id)).or_default().push(id.clone());
            }
            let total = ids.len();
            by_shard.into_iter().map(|(shard, ids)| piece(shard, Op::DeleteDocuments { ids: ids.clone() }, (ids.len(), total))).collect()
        }
        every if reaches_every_shard(every) => {
            if op.envelope.shard != ShardId(0) {
                return Vec::new();
            }
            let count = placement.topology().shard_count as usize;
            placement.shards().map(|shard| piece(shard, every.clone(), (1, count))).collect()
        }
        _ => vec![op.clone()],
    }
}

#[cfg(test)]
mod tests;

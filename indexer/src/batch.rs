//! Grouping a shard's operations into node requests, as Meilisearch's auto-batcher groups
//! tasks: only *consecutive* operations that one node request can carry together are merged,
//! so the order of the log is never changed across incompatible operations.
//!
//! Pure: the caller says which operations are compatible ([`Batchable::batch_key`]) and how
//! big each one is; [`plan_batches`] returns contiguous ranges.

use std::ops::Range;

/// What the planner needs to know about one operation.
pub trait Batchable {
    /// Operations whose keys are equal (and `Some`) can share one node request, in order.
    /// `None`: the operation always goes alone (index creation, settings, deletion by filter…).
    type Key: PartialEq;
    fn batch_key(&self) -> Option<Self::Key>;
    /// Payload bytes the operation adds to a request.
    fn bytes(&self) -> usize;
    /// Documents or ids the operation adds to a request.
    fn items(&self) -> usize;
}

/// Upper bounds of one merged request. An operation larger than the limits on its own still
/// forms a batch (of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_bytes: usize,
    pub max_items: usize,
    pub max_ops: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits { max_bytes: 50 * 1024 * 1024, max_items: 100_000, max_ops: 1_000 }
    }
}

/// Splits `ops` into contiguous ranges, each one node request: a maximal run of consecutive
/// operations with equal `Some` keys, cut where the limits would be exceeded.
pub fn plan_batches<T: Batchable>(ops: &[T], limits: BatchLimits) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < ops.len() {
        let key = ops[start].batch_key();
        let (mut bytes, mut items) = (ops[start].bytes(), ops[start].items());
        let mut end = start + 1;
        if key.is_some() {
            while end < ops.len() && end - start < limits.max_ops {
                let next = &ops[end];
                let fits = bytes + next.bytes() <= limits.max_bytes && items + next.items() <= limits.max_items;
                if !fits || next.batch_key() != key {
                    break;
                }
                bytes += next.bytes();
                items += next.items();
                end += 1;
            }
        }
        batches.push(start..end);
        start = end;
    }
    batches
}

#[cfg(test)]
mod tests;

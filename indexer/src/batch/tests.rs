//! Properties of batch planning, checked on a small in-memory model of a node index: applying
//! the merged requests gives the same index as applying every operation alone, in order.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

type Doc = BTreeMap<String, u8>;

#[derive(Debug, Clone, PartialEq)]
enum ModelOp {
    /// `replace`: whole documents; otherwise fields are merged. Docs are `(id, fields)`.
    Add {
        replace: bool,
        primary_key: &'static str,
        docs: Vec<(u8, Doc)>,
        task: u64,
    },
    DeleteIds {
        ids: Vec<u8>,
        task: u64,
    },
    /// Deletes documents whose field `f` equals `v`.
    DeleteWhere {
        field: String,
        value: u8,
    },
    Clear,
}

#[derive(Debug, Clone, PartialEq)]
enum Key {
    Add(bool, &'static str),
    Delete(u64),
}

impl Batchable for ModelOp {
    type Key = Key;
    fn batch_key(&self) -> Option<Key> {
        match self {
            ModelOp::Add { replace, primary_key, .. } => Some(Key::Add(*replace, primary_key)),
            ModelOp::DeleteIds { task, .. } => Some(Key::Delete(*task)),
            _ => None,
        }
    }
    fn bytes(&self) -> usize {
        match self {
            ModelOp::Add { docs, .. } => docs.iter().map(|(_, d)| 4 + d.len() * 3).sum(),
            ModelOp::DeleteIds { ids, .. } => ids.len() * 2,
            _ => 8,
        }
    }
    fn items(&self) -> usize {
        match self {
            ModelOp::Add { docs, .. } => docs.len(),
            ModelOp::DeleteIds { ids, .. } => ids.len(),
            _ => 1,
        }
    }
}

/// The node index: documents by id. The primary key only labels the request in the model.
type Index = BTreeMap<u8, Doc>;

fn apply(index: &mut Index, op: &ModelOp) {
    match op {
        ModelOp::Add { replace, docs, .. } => {
            for (id, fields) in docs {
                if *replace {
                    index.insert(*id, fields.clone());
                } else {
                    index.entry(*id).or_default().extend(fields.clone());
                }
            }
        }
        ModelOp::DeleteIds { ids, .. } => ids.iter().for_each(|id| {
            index.remove(id);
        }),
        ModelOp::DeleteWhere { field, value } => index.retain(|_, d| d.get(field) != Some(value)),
        ModelOp::Clear => index.clear(),
    }
}

/// What the indexer sends for a batch: one request carrying every operation's payload in order.
fn merge(ops: &[ModelOp]) -> ModelOp {
    match &ops[0] {
        ModelOp::Add { replace, primary_key, task, .. } => ModelOp::Add {
            replace: *replace,
            primary_key,
            task: *task,
            docs: ops
                .iter()
                .flat_map(|op| match op {
                    ModelOp::Add { docs, .. } => docs.clone(),
                    other => panic!("merged {other:?} into an addition"),
                })
                .collect(),
        },
        ModelOp::DeleteIds { task, .. } => ModelOp::DeleteIds {
            task: *task,
            ids: ops
                .iter()
                .flat_map(|op| match op {
                    ModelOp::DeleteIds { ids, .. } => ids.clone(),
                    other => panic!("merged {other:?} into a deletion"),
                })
                .collect(),
        },
        alone => {
            assert_eq!(ops.len(), 1, "{alone:?} was merged");
            alone.clone()
        }
    }
}

fn doc() -> impl Strategy<Value = (u8, Doc)> {
    (0u8..12, prop::collection::btree_map("[abc]", 0u8..4, 0..3))
}

fn op() -> impl Strategy<Value = ModelOp> {
    prop_oneof![
        6 => (any::<bool>(), prop::sample::select(vec!["id", "uid"]), prop::collection::vec(doc(), 0..5), 0u64..3)
            .prop_map(|(replace, primary_key, docs, task)| ModelOp::Add { replace, primary_key, docs, task }),
        3 => (prop::collection::vec(0u8..12, 0..4), 0u64..3).prop_map(|(ids, task)| ModelOp::DeleteIds { ids, task }),
        1 => ("[abc]", 0u8..4).prop_map(|(field, value)| ModelOp::DeleteWhere { field, value }),
        1 => Just(ModelOp::Clear),
    ]
}

fn limits() -> impl Strategy<Value = BatchLimits> {
    (1usize..64, 1usize..12, 1usize..6).prop_map(|(max_bytes, max_items, max_ops)| BatchLimits { max_bytes, max_items, max_ops })
}

proptest! {
    #[test]
    fn batched_apply_equals_one_by_one(ops in prop::collection::vec(op(), 0..40), limits in limits()) {
        let mut one_by_one = Index::new();
        ops.iter().for_each(|op| apply(&mut one_by_one, op));

        let mut batched = Index::new();
        for range in plan_batches(&ops, limits) {
            apply(&mut batched, &merge(&ops[range]));
        }
        prop_assert_eq!(batched, one_by_one);
    }

    #[test]
    fn batches_cover_every_op_in_order_within_limits(ops in prop::collection::vec(op(), 0..40), limits in limits()) {
        let batches = plan_batches(&ops, limits);
        let mut next = 0;
        for range in &batches {
            prop_assert_eq!(range.start, next);
            prop_assert!(range.end > range.start);
            next = range.end;
            let batch = &ops[range.clone()];
            if batch.len() > 1 {
                let key = batch[0].batch_key();
                prop_assert!(key.is_some());
                prop_assert!(batch.iter().all(|op| op.batch_key() == key));
                prop_assert!(batch.len() <= limits.max_ops);
                prop_assert!(batch.iter().map(Batchable::bytes).sum::<usize>() <= limits.max_bytes);
                prop_assert!(batch.iter().map(Batchable::items).sum::<usize>() <= limits.max_items);
            }
        }
        prop_assert_eq!(next, ops.len());
    }

    /// Batches are maximal: two neighbouring batches could not have been one.
    #[test]
    fn batches_are_maximal(ops in prop::collection::vec(op(), 0..40), limits in limits()) {
        let batches = plan_batches(&ops, limits);
        for pair in batches.windows(2) {
            let joined = &ops[pair[0].start..pair[1].start + 1];
            let key = joined[0].batch_key();
            let compatible = key.is_some() && joined.iter().all(|op| op.batch_key() == key);
            let fits = joined.len() <= limits.max_ops
                && joined.iter().map(Batchable::bytes).sum::<usize>() <= limits.max_bytes
                && joined.iter().map(Batchable::items).sum::<usize>() <= limits.max_items;
            prop_assert!(!(compatible && fits), "{:?} and {:?} could be merged", pair[0], pair[1]);
        }
    }
}

#[test]
fn additions_with_another_method_or_key_are_not_merged() {
    let add = |replace, primary_key| ModelOp::Add { replace, primary_key, docs: vec![(1, Doc::new())], task: 0 };
    let ops = [add(true, "id"), add(true, "id"), add(false, "id"), add(false, "uid"), ModelOp::Clear, add(false, "uid")];
    assert_eq!(plan_batches(&ops, BatchLimits::default()), vec![0..2, 2..3, 3..4, 4..5, 5..6]);
}

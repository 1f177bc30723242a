use super::*;
use crate::batch::{plan_batches, BatchLimits};
use miroir_schemas::details::IndexSwap;
use serde_json::json;

fn op(position: u64, task_uid: u64, op: Op) -> PositionedOp {
    PositionedOp { partition: 0, position, bytes: 10, envelope: OpEnvelope::new(task_uid, Some("movies".into()), ShardId(2), op) }
}

fn docs(method: DocumentMethod, pk: &str, ids: &[u64]) -> Op {
    Op::Documents {
        method,
        primary_key: pk.into(),
        documents: ids.iter().map(|id| json!({"id": id, "t": "x"}).as_object().unwrap().clone()).collect(),
    }
}

#[test]
fn documents_of_several_tasks_merge_into_one_ndjson_body() {
    let ops = vec![
        op(1, 10, docs(DocumentMethod::Replace, "id", &[1, 2])),
        op(2, 11, docs(DocumentMethod::Replace, "id", &[3])),
        op(3, 12, docs(DocumentMethod::Update, "id", &[4])),
    ];
    let batches = plan_batches(&ops, BatchLimits::default());
    assert_eq!(batches, vec![0..2, 2..3]);
    let NodeRequest::Documents { method, primary_key, ndjson, count } = build_request(&ops[0..2]) else { panic!() };
    assert_eq!((method, primary_key.as_str(), count), (DocumentMethod::Replace, "id", 3));
    let lines: Vec<Value> = std::str::from_utf8(&ndjson).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, vec![json!({"id":1,"t":"x"}), json!({"id":2,"t":"x"}), json!({"id":3,"t":"x"})]);
    assert!(spans_several_tasks(&ops[0..2]));
    assert_eq!(per_task_runs(&ops[0..2]), vec![0..1, 1..2]);
}

#[test]
fn deletions_merge_only_within_a_task() {
    let del = |ids: &[&str]| Op::DeleteDocuments { ids: ids.iter().map(|s| s.to_string()).collect() };
    let ops = vec![op(1, 10, del(&["a"])), op(2, 10, del(&["b"])), op(3, 11, del(&["c"]))];
    assert_eq!(plan_batches(&ops, BatchLimits::default()), vec![0..2, 2..3]);
    assert_eq!(build_request(&ops[0..2]), NodeRequest::DeleteIds(vec![json!("a"), json!("b")]));
}

#[test]
fn index_operations_name_the_shard_node_index() {
    let create = op(1, 1, Op::CreateIndex { primary_key: Some("id".into()) });
    assert_eq!(create.node_indexes(), vec!["movies__shard-2"]);
    assert!(!build_request(std::slice::from_ref(&create)).carries_metadata());
    let rename = op(2, 2, Op::UpdateIndex { primary_key: None, new_index_uid: Some("films".into()) });
    assert_eq!(build_request(&[rename]), NodeRequest::UpdateIndex { primary_key: None, new_node_index: Some("films__shard-2".into()) });
    let mut swap = op(3, 3, Op::SwapIndexes { swaps: vec![IndexSwap { indexes: ["a".into(), "b".into()], rename: false }] });
    swap.envelope.index_uid = None;
    assert!(swap.is_barrier());
    assert_eq!(swap.node_indexes(), vec!["a__shard-2", "b__shard-2"]);
    assert_eq!(build_request(&[swap]), NodeRequest::Swap(vec![("a__shard-2".into(), "b__shard-2".into(), false)]));
}

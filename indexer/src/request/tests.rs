use super::*;
use crate::batch::{plan_batches, BatchLimits};
use miroir_schemas::details::IndexSwap;
use serde_json::json;

fn op(position: u64, task_uid: u64, op: Op) -> PositionedOp {
    PositionedOp {
        partition: 0,
        position,
        bytes: 10,
        envelope: OpEnvelope::new(task_uid, Some("movies".into()), ShardId(2), op),
        piece: false,
    }
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
    let NodeRequest::Documents { method, primary_key, ndjson, count } = build_request(&ops[0..2], ReplicaRank(0)) else { panic!() };
    assert_eq!((method, primary_key.as_str(), count), (DocumentMethod::Replace, "id", 3));
    let text = std::str::from_utf8(&ndjson).unwrap();
    // The shard goes last, after the user's fields.
    assert!(text.starts_with("{\"id\":1,\"t\":\"x\",\"_miroir_shard\":\"•·\"}\n"), "{text}");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let shard = ShardId(2).field_value();
    assert_eq!(
        lines,
        vec![
            json!({"id":1,"t":"x","_miroir_shard":shard}),
            json!({"id":2,"t":"x","_miroir_shard":shard}),
            json!({"id":3,"t":"x","_miroir_shard":shard})
        ]
    );
    assert!(spans_several_units(&ops[0..2]));
    assert_eq!(per_unit_runs(&ops[0..2]), vec![0..1, 1..2]);
    // one task over two shards is two units too
    let mut other_shard = op(3, 2, docs(DocumentMethod::Replace, "id", &[4]));
    other_shard.envelope.shard = ShardId(5);
    let one_task = [ops[1].clone(), other_shard];
    assert!(spans_several_units(&one_task));
    assert_eq!(per_unit_runs(&one_task), vec![0..1, 1..2]);
    assert!(!spans_several_units(&one_task[..1]));
}

#[test]
fn deletions_merge_only_within_a_task() {
    let del = |ids: &[&str]| Op::DeleteDocuments { ids: ids.iter().map(|s| s.to_string()).collect() };
    let ops = vec![op(1, 10, del(&["a"])), op(2, 10, del(&["b"])), op(3, 11, del(&["c"]))];
    assert_eq!(plan_batches(&ops, BatchLimits::default()), vec![0..2, 2..3]);
    assert_eq!(build_request(&ops[0..2], ReplicaRank(0)), NodeRequest::DeleteIds(vec![json!("a"), json!("b")]));
}

#[test]
fn filters_and_clears_are_narrowed_to_the_shard_and_settings_keep_the_rule_first() {
    let narrowed = |filter: Value| build_request(&[op(1, 1, Op::DeleteByFilter { filter })], ReplicaRank(0));
    let condition = json!("_miroir_shard = \"•·\"");
    assert_eq!(narrowed(json!("genre = a")), NodeRequest::DeleteByFilter(json!(["genre = a", condition])));
    assert_eq!(
        narrowed(json!(["a = 1", ["b = 2", "c = 3"]])),
        NodeRequest::DeleteByFilter(json!(["a = 1", ["b = 2", "c = 3"], condition]))
    );
    assert_eq!(build_request(&[op(1, 1, Op::ClearDocuments)], ReplicaRank(0)), NodeRequest::DeleteByFilter(json!([condition])));
    let settings = |value: Value| {
        let settings = json!({"filterableAttributes": value, "searchableAttributes": ["t"]}).as_object().unwrap().clone();
        build_request(&[op(1, 1, Op::UpdateSettings { settings })], ReplicaRank(0))
    };
    let rule = miroir_schemas::node_layout::shard_filter_rule();
    assert_eq!(
        settings(json!(["genre"])),
        NodeRequest::UpdateSettings(
            json!({"filterableAttributes": [rule, "genre"], "searchableAttributes": ["t"]}).as_object().unwrap().clone()
        )
    );
    assert_eq!(
        settings(Value::Null),
        NodeRequest::UpdateSettings(json!({"filterableAttributes": [rule], "searchableAttributes": ["t"]}).as_object().unwrap().clone())
    );
}

#[test]
fn one_index_level_operation_per_node_index_for_all_its_shards() {
    let shard_op = |shard: u32, op_: Op| {
        let mut positioned = op(u64::from(shard), 7, op_);
        positioned.envelope.shard = ShardId(shard);
        positioned
    };
    let ops: Vec<PositionedOp> = (0..3).map(|s| shard_op(s, Op::CreateIndex { primary_key: None })).collect();
    assert_eq!(plan_batches(&ops, BatchLimits::default()), vec![0..3]);
    let deletes: Vec<PositionedOp> = (0..2).map(|s| shard_op(s, Op::DeleteDocuments { ids: vec!["x".into()] })).collect();
    assert_eq!(plan_batches(&deletes, BatchLimits::default()), vec![0..1, 1..2], "deletion counts stay per shard");
}

#[test]
fn index_operations_name_the_rank_node_index() {
    let create = op(1, 1, Op::CreateIndex { primary_key: Some("id".into()) });
    assert_eq!(create.node_indexes(ReplicaRank(1)), vec!["movies__rank-1"]);
    assert!(!build_request(std::slice::from_ref(&create), ReplicaRank(1)).carries_metadata());
    let rename = op(2, 2, Op::UpdateIndex { primary_key: None, new_index_uid: Some("films".into()) });
    assert_eq!(
        build_request(&[rename], ReplicaRank(1)),
        NodeRequest::UpdateIndex { primary_key: None, new_node_index: Some("films__rank-1".into()) }
    );
    let mut swap = op(3, 3, Op::SwapIndexes { swaps: vec![IndexSwap { indexes: ["a".into(), "b".into()], rename: false }] });
    swap.envelope.index_uid = None;
    assert!(swap.is_barrier());
    assert_eq!(swap.node_indexes(ReplicaRank(0)), vec!["a__rank-0", "b__rank-0"]);
    assert_eq!(build_request(&[swap], ReplicaRank(0)), NodeRequest::Swap(vec![("a__rank-0".into(), "b__rank-0".into(), false)]));
}

/// One task's edition of the shards a node index holds is one request, its filter narrowed to
/// those shards after the client's, its function wrapped to keep Miroir's fields; and a failed
/// merged request is re-sent shard by shard like any other.
#[test]
fn an_edition_is_one_request_per_node_index_narrowed_to_its_shards() {
    use miroir_schemas::node_layout::edit_function::{node_function, Wrapping};
    let edit = |position, task_uid, shard| {
        let op = Op::EditDocuments {
            function: "doc.t = 1".into(),
            filter: Some(json!("n > 1")),
            context: json!({"v": 2}).as_object().cloned(),
            wrapping: Wrapping::Closure,
        };
        PositionedOp {
            partition: 0,
            position,
            bytes: 10,
            envelope: OpEnvelope::new(task_uid, Some("movies".into()), ShardId(shard), op),
            piece: false,
        }
    };
    let ops = vec![edit(1, 10, 1), edit(2, 10, 3), edit(3, 11, 1)];
    assert_eq!(plan_batches(&ops, BatchLimits::default()), vec![0..2, 2..3]);
    let request = build_request(&ops[0..2], ReplicaRank(0));
    let (one, three) = (ShardId(1).field_value(), ShardId(3).field_value());
    assert_eq!(
        request,
        NodeRequest::EditDocuments(json!({
            "function": node_function("doc.t = 1", Wrapping::Closure),
            "filter": ["n > 1", format!("_miroir_shard IN [\"{one}\", \"{three}\"]")],
            "context": {"v": 2},
        }))
    );
    assert!(request.carries_metadata());
    assert!(spans_several_units(&ops[0..2]));
    assert_eq!(per_unit_runs(&ops[0..2]), vec![0..1, 1..2]);
    let NodeRequest::EditDocuments(alone) = build_request(&ops[0..1], ReplicaRank(0)) else { panic!() };
    assert_eq!(alone["filter"], json!(["n > 1", format!("_miroir_shard = \"{one}\"")]));
}

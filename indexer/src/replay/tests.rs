use super::*;
use miroir_schemas::envelope::{DocumentMethod, Op, OpEnvelope};
use miroir_schemas::task_log::ReplicaStatus;
use miroir_schemas::topology::ShardId;
use serde_json::json;

fn op(position: u64, task_uid: u64, op: Op) -> PositionedOp {
    PositionedOp { partition: 1, position, bytes: 10, envelope: OpEnvelope::new(task_uid, Some("m".into()), ShardId(0), op), piece: false }
}

fn docs(n: usize) -> Op {
    let documents = (0..n).map(|i| json!({"id": i}).as_object().unwrap().clone()).collect();
    Op::Documents { method: DocumentMethod::Replace, primary_key: "id".into(), documents }
}

fn task(uid: u64, kind: &str, status: TaskStatus, metadata: Option<&str>, details: serde_json::Value) -> TaskView {
    TaskView {
        uid,
        batch_uid: Some(uid),
        index_uid: Some("m__rank-0".into()),
        status,
        kind: kind.into(),
        details: Some(details),
        error: (status == TaskStatus::Failed)
            .then(|| miroir_schemas::error::ResponseError::new(miroir_schemas::error::Code::InvalidDocumentId, "bad id")),
        duration: None,
        enqueued_at: "2025-01-01T00:00:00Z".into(),
        started_at: Some("2025-01-01T00:00:01Z".into()),
        finished_at: Some("2025-01-01T00:00:02Z".into()),
        custom_metadata: metadata.map(str::to_owned),
    }
}

#[test]
fn merged_documents_and_a_metadata_less_request_get_their_node_outcomes() {
    // Positions 3,4 merged (tasks 7, 8), position 5 an index creation followed by its
    // checkpoint-only deletion, position 6 a deletion of task 10.
    let ops = vec![
        op(3, 7, docs(2)),
        op(4, 8, docs(3)),
        op(5, 9, Op::CreateIndex { primary_key: None }),
        op(6, 10, Op::DeleteDocuments { ids: vec!["a".into(), "b".into()] }),
    ];
    let tasks = vec![
        task(24, "documentDeletion", TaskStatus::Succeeded, Some("miroir:1:6"), json!({"deletedDocuments": 1})),
        task(23, "documentDeletion", TaskStatus::Succeeded, Some("miroir:1:5"), json!({"deletedDocuments": 0})),
        task(22, "indexCreation", TaskStatus::Failed, None, json!({})),
        task(21, "documentAdditionOrUpdate", TaskStatus::Succeeded, Some("miroir:1:4:3"), json!({})),
        task(20, "documentAdditionOrUpdate", TaskStatus::Succeeded, Some("miroir:0:4"), json!({})),
    ];
    let out = outcomes_from_history(&ops, &tasks);
    let out: Vec<OpOutcome> = out.into_iter().map(Option::unwrap).collect();
    assert_eq!(out[0].counts.indexed_documents, Some(2));
    assert_eq!(out[1].counts.indexed_documents, Some(3));
    assert_eq!(out[2].status, ReplicaStatus::Failed, "the index creation's own task decides, not its checkpoint");
    assert_eq!(out[3].counts.deleted_documents, Some(1));
}

#[test]
fn a_failed_merged_request_defers_to_its_per_task_retries() {
    let ops = vec![op(3, 7, docs(1)), op(4, 8, docs(1))];
    let tasks = vec![
        task(12, "documentAdditionOrUpdate", TaskStatus::Succeeded, Some("miroir:1:4"), json!({})),
        task(11, "documentAdditionOrUpdate", TaskStatus::Failed, Some("miroir:1:3"), json!({})),
        task(10, "documentAdditionOrUpdate", TaskStatus::Failed, Some("miroir:1:4:3"), json!({})),
    ];
    let out = outcomes_from_history(&ops, &tasks);
    assert_eq!(out[0].as_ref().unwrap().status, ReplicaStatus::Failed);
    assert_eq!(out[1].as_ref().unwrap().status, ReplicaStatus::Succeeded);
}

#[test]
fn no_covering_task_means_unknown() {
    let ops = vec![op(9, 7, docs(1))];
    let tasks = vec![task(3, "documentAdditionOrUpdate", TaskStatus::Succeeded, Some("miroir:1:8"), json!({}))];
    assert_eq!(outcomes_from_history(&ops, &tasks), vec![None]);
}

use super::*;
use crate::details::{IndexSwap, TaskDetails};
use crate::envelope::SCHEMA_VERSION;
use crate::error::Code;
use crate::task_log::{ShardTarget, TaskType};
use crate::test_support::transcript;
use serde_json::json;

fn at(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

fn event(task_uid: u64, shard: u32, replica: &str, counts: DetailCounts, error: Option<ResponseError>) -> TaskEvent {
    TaskEvent {
        schema_version: SCHEMA_VERSION,
        task_uid,
        shard: ShardId(shard),
        replica: replica.into(),
        status: if error.is_some() { ReplicaStatus::Failed } else { ReplicaStatus::Succeeded },
        error,
        counts,
        started_at: at("2025-01-01T00:00:01.5Z") + Duration::milliseconds(i64::from(shard)),
        finished_at: at("2025-01-01T00:00:02Z") + Duration::milliseconds(i64::from(shard)),
    }
}

fn indexed(n: u64) -> DetailCounts {
    DetailCounts { indexed_documents: Some(n), deleted_documents: None, ..DetailCounts::NONE }
}

/// 3 shards × 2 replicas, 10 documents received.
fn addition() -> TaskRecord {
    let mut record = TaskRecord::new(
        TaskType::DocumentAdditionOrUpdate,
        Some("movies".into()),
        Some(TaskDetails::DocumentAdditionOrUpdate { received_documents: 10, indexed_documents: None }),
        at("2025-01-01T00:00:00.123456789Z"),
    );
    record.targets = (0..3).map(|k| ShardTarget { shard: ShardId(k), replicas: vec![format!("a{k}"), format!("b{k}")] }).collect();
    record
}

fn all_replicas(per_shard: [u64; 3]) -> Vec<TaskEvent> {
    (0..3u32).flat_map(|k| ["a", "b"].map(|g| event(5, k, &format!("{g}{k}"), indexed(per_shard[k as usize]), None))).collect()
}

#[test]
fn enqueued_then_processing_then_succeeded() {
    let record = addition();
    let enqueued = task_view(5, &record, &[]);
    assert_eq!(
        Value::Object(enqueued),
        json!({
            "uid": 5, "batchUid": null, "indexUid": "movies", "status": "enqueued",
            "type": "documentAdditionOrUpdate", "canceledBy": null,
            "details": {"receivedDocuments": 10, "indexedDocuments": null},
            "error": null, "duration": null, "enqueuedAt": "2025-01-01T00:00:00.123456789Z",
            "startedAt": null, "finishedAt": null
        })
    );

    let events = all_replicas([3, 3, 4]);
    let processing = task_view(5, &record, &events[..5]);
    assert_eq!(processing["status"], "processing");
    assert_eq!(processing["startedAt"], "2025-01-01T00:00:01.5Z");
    assert_eq!(processing["details"]["indexedDocuments"], Value::Null);
    assert_eq!(processing["finishedAt"], Value::Null);

    let done = task_view(5, &record, &events);
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["batchUid"], 5);
    // One replica per shard: 3 + 3 + 4, not doubled by the second group.
    assert_eq!(done["details"], json!({"receivedDocuments": 10, "indexedDocuments": 10}));
    assert_eq!(done["finishedAt"], "2025-01-01T00:00:02.002Z");
    assert_eq!(done["duration"], "PT0.502S");
}

#[test]
fn one_failing_replica_fails_the_task_with_its_error() {
    let record = addition();
    let mut events = all_replicas([3, 3, 4]);
    let error = ResponseError::new(Code::InvalidDocumentId, "Document identifier `x y` is invalid.");
    events[3] = event(5, 1, "b1", DetailCounts::default(), Some(error.clone()));
    let later = ResponseError::new(Code::Internal, "later failure");
    events.push(event(5, 2, "a2", DetailCounts::default(), Some(later)));
    let view = task_view(5, &record, &events);
    assert_eq!(view["status"], "failed");
    assert_eq!(view["error"], serde_json::to_value(&error).unwrap());
    assert_eq!(view["details"], json!({"receivedDocuments": 10, "indexedDocuments": 0}));
}

#[test]
fn foreign_unexpected_and_repeated_events_are_ignored() {
    let record = addition();
    let mut events = vec![
        event(4, 0, "a0", indexed(99), None), // another task
        event(5, 0, "z9", indexed(99), None), // not an expected replica
        event(5, 7, "a0", indexed(99), None), // not an expected shard
    ];
    events.extend(all_replicas([1, 2, 3]));
    events.push(event(5, 0, "a0", DetailCounts::default(), Some(ResponseError::new(Code::Internal, "replayed"))));
    let view = task_view(5, &record, &events);
    assert_eq!(view["status"], "succeeded");
    assert_eq!(view["details"]["indexedDocuments"], 6);
}

#[test]
fn missing_one_replica_keeps_the_task_processing() {
    let record = addition();
    let events: Vec<TaskEvent> = all_replicas([1, 1, 1]).into_iter().filter(|e| e.replica != "b2").collect();
    assert_eq!(fold_task(5, &record, &events).status, TaskStatus::Processing);
}

#[test]
fn gateway_known_failures_are_failed_at_once() {
    let mut record = addition();
    record.error = Some(ResponseError::new(Code::MissingDocumentId, "missing"));
    let view = task_view(5, &record, &[]);
    assert_eq!(view["status"], "failed");
    assert_eq!(view["error"]["code"], "missing_document_id");
    assert_eq!(view["duration"], "PT0S");
    assert_eq!(view["startedAt"], view["enqueuedAt"]);
    assert_eq!(view["details"]["indexedDocuments"], 0);
}

#[test]
fn durations_print_like_meilisearch() {
    let d = |s: i64, n: i32| iso8601_duration(Duration::new(s, n)).unwrap();
    assert_eq!(d(0, 0), "PT0S");
    assert_eq!(d(0, 123_000_000), "PT0.123S");
    assert_eq!(d(0, 3_892_100), "PT0.003892100S");
    assert_eq!(d(0, 5_000), "PT0.000005S");
    assert_eq!(d(90_061, 0), "P1DT3661S");
    assert_eq!(d(86_400, 0), "P1D");
    assert_eq!(iso8601_duration(Duration::new(-1, 0)), None);
}

/// The enqueued details and the per-node counts behind a finished task's `details`.
fn split_finished_details(view: &Map<String, Value>) -> (TaskDetails, DetailCounts) {
    let count = |key: &str| view.get(key).and_then(Value::as_u64);
    let counts =
        DetailCounts { indexed_documents: count("indexedDocuments"), deleted_documents: count("deletedDocuments"), ..DetailCounts::NONE };
    let details = if let Some(received_documents) = count("receivedDocuments") {
        TaskDetails::DocumentAdditionOrUpdate { received_documents, indexed_documents: None }
    } else if let Some(provided_ids) = count("providedIds") {
        match view["originalFilter"].as_str() {
            None => TaskDetails::DocumentDeletion { provided_ids, deleted_documents: None },
            Some(filter) => TaskDetails::DocumentDeletionByFilter { original_filter: filter.into(), deleted_documents: None },
        }
    } else if view.len() == 1 && view.contains_key("deletedDocuments") {
        TaskDetails::ClearAll { deleted_documents: None }
    } else if let Some(primary_key) = view.get("primaryKey") {
        TaskDetails::IndexInfo { primary_key: primary_key.as_str().map(str::to_owned), old_index_uid: None, new_index_uid: None }
    } else if let Some(swaps) = view.get("swaps") {
        TaskDetails::IndexSwap { swaps: serde_json::from_value::<Vec<IndexSwap>>(swaps.clone()).unwrap() }
    } else {
        TaskDetails::SettingsUpdate { settings: view.clone() }
    };
    (details, counts)
}

/// Every finished task of the real transcript, replayed as a one-shard, one-replica Miroir
/// task, renders byte for byte as Meilisearch rendered it (timestamps and duration included).
#[test]
fn finished_tasks_render_exactly_like_the_transcript() {
    let mut checked = 0;
    for exchange in transcript().into_iter().filter(|e| e.name.ends_with("/ finished task")) {
        let expected = exchange.response.as_object().unwrap().clone();
        let uid = expected["uid"].as_u64().unwrap();
        let task_type: TaskType = serde_json::from_value(expected["type"].clone()).unwrap();
        let (details, counts) = split_finished_details(expected["details"].as_object().unwrap());
        let mut record = TaskRecord::new(
            task_type,
            expected["indexUid"].as_str().map(str::to_owned),
            Some(details),
            at(expected["enqueuedAt"].as_str().unwrap()),
        );
        record.custom_metadata = expected.get("customMetadata").and_then(Value::as_str).map(str::to_owned);
        record.targets = vec![ShardTarget { shard: ShardId(0), replicas: vec!["n".into()] }];
        let error: Option<ResponseError> = serde_json::from_value(expected["error"].clone()).unwrap();
        let replica_event = TaskEvent {
            status: if error.is_some() { ReplicaStatus::Failed } else { ReplicaStatus::Succeeded },
            error,
            counts,
            started_at: at(expected["startedAt"].as_str().unwrap()),
            finished_at: at(expected["finishedAt"].as_str().unwrap()),
            ..event(uid, 0, "n", DetailCounts::default(), None)
        };
        let got = task_view(uid, &record, &[replica_event]);
        assert_eq!(serde_json::to_string(&got).unwrap(), serde_json::to_string(&expected).unwrap(), "{}", exchange.name);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} finished tasks in the transcript");
}

/// Every `202` answer of the transcript is what `summarized_task_view` prints for its task.
#[test]
fn accepted_answers_render_exactly_like_the_transcript() {
    let mut checked = 0;
    for exchange in transcript().into_iter().filter(|e| e.status == 202) {
        let expected = exchange.response.as_object().unwrap().clone();
        let task_type: TaskType = serde_json::from_value(expected["type"].clone()).unwrap();
        let mut record = TaskRecord::new(
            task_type,
            expected["indexUid"].as_str().map(str::to_owned),
            None,
            at(expected["enqueuedAt"].as_str().unwrap()),
        );
        record.custom_metadata = expected.get("customMetadata").and_then(Value::as_str).map(str::to_owned);
        let got = summarized_task_view(expected["taskUid"].as_u64().unwrap(), &record);
        assert_eq!(serde_json::to_string(&got).unwrap(), serde_json::to_string(&expected).unwrap(), "{}", exchange.name);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} accepted writes in the transcript");
}

//! `/tasks` and `/batches` against Meilisearch 1.50's recorded exchanges ("list tasks",
//! "list tasks filtered", "tasks by uids", "task not found", "tasks invalid status filter",
//! "list batches"), through the gateway's own router on the in-memory log.
//!
//! The log is seeded with the 19 tasks the recording had made by then, rebuilt from its
//! "/ finished task" exchanges: one `tasks` record per task and one `task-events` record with
//! the node's outcome and timings, so the fold reproduces each task, timings included.

use crate::support::{exchange, exchanges, memory_log, Setup, TestGateway};
use axum::http::StatusCode;
use miroir_clients::log::{MemoryLog, Topic, WriteLog};
use miroir_gateway::catalog::TaskLogEntry;
use miroir_schemas::details::{DetailCounts, TaskDetails};
use miroir_schemas::envelope::{encode, SCHEMA_VERSION};
use miroir_schemas::error::ResponseError;
use miroir_schemas::task_log::{ReplicaStatus, ShardTarget, TaskEvent, TaskRecord};
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Every finished task the recording shows before it listed tasks, by uid.
fn recorded_tasks() -> Vec<Map<String, Value>> {
    let mut tasks: Vec<Map<String, Value>> = exchanges()
        .into_iter()
        .take_while(|e| e["name"] != "list tasks")
        .filter(|e| e["name"].as_str().unwrap().ends_with("/ finished task"))
        .map(|e| e["response"].as_object().unwrap().clone())
        .collect();
    tasks.sort_by_key(|task| task["uid"].as_u64());
    assert_eq!(tasks.len(), 19);
    tasks
}

fn date(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().unwrap(), &Rfc3339).unwrap()
}

fn count(details: &Value, key: &str) -> Option<u64> {
    details.get(key).and_then(Value::as_u64)
}

/// The details as Meilisearch showed them while the task was enqueued.
fn enqueued_details(task: &Map<String, Value>) -> TaskDetails {
    let details = &task["details"];
    match task["type"].as_str().unwrap() {
        "indexCreation" => TaskDetails::IndexInfo {
            primary_key: details["primaryKey"].as_str().map(str::to_owned),
            old_index_uid: None,
            new_index_uid: None,
        },
        "settingsUpdate" => TaskDetails::SettingsUpdate { settings: details.as_object().unwrap().clone() },
        "documentAdditionOrUpdate" => TaskDetails::DocumentAdditionOrUpdate {
            received_documents: count(details, "receivedDocuments").unwrap(),
            indexed_documents: None,
        },
        "documentDeletion" => match details["originalFilter"].as_str() {
            Some(filter) => TaskDetails::DocumentDeletionByFilter { original_filter: filter.to_owned(), deleted_documents: None },
            None => TaskDetails::DocumentDeletion { provided_ids: count(details, "providedIds").unwrap(), deleted_documents: None },
        },
        other => panic!("no {other} task before `list tasks`"),
    }
}

/// Appends the recorded tasks: each on shard-0 of node `n0`, which reports what the node did.
async fn seed(log: &MemoryLog) {
    let target = ShardTarget { shard: ShardId(0), replicas: vec!["n0".into()] };
    for task in recorded_tasks() {
        let uid = task["uid"].as_u64().unwrap();
        let mut record = TaskRecord::new(
            serde_json::from_value(task["type"].clone()).unwrap(),
            task["indexUid"].as_str().map(str::to_owned),
            Some(enqueued_details(&task)),
            date(&task["enqueuedAt"]),
        );
        record.custom_metadata = task.get("customMetadata").and_then(Value::as_str).map(str::to_owned);
        record.targets = vec![target.clone()];
        let position = log.append(Topic::Tasks, "tasks", &format!("t{uid}"), encode(&TaskLogEntry::new(record)).into()).await.unwrap();
        assert_eq!(position.offset, uid);

        let error: Option<ResponseError> = serde_json::from_value(task["error"].clone()).unwrap();
        let event = TaskEvent {
            schema_version: SCHEMA_VERSION,
            task_uid: uid,
            shard: ShardId(0),
            replica: "n0".into(),
            status: if error.is_some() { ReplicaStatus::Failed } else { ReplicaStatus::Succeeded },
            error,
            counts: DetailCounts {
                indexed_documents: count(&task["details"], "indexedDocuments"),
                deleted_documents: count(&task["details"], "deletedDocuments"),
                ..DetailCounts::NONE
            },
            started_at: date(&task["startedAt"]),
            finished_at: date(&task["finishedAt"]),
        };
        let key = format!("{uid}/shard-0/n0");
        log.append(Topic::TaskEvents, &key, &key, encode(&event).into()).await.unwrap();
    }
}

/// The gateway's full router over a log holding the recorded tasks, every task folded.
async fn recorded_gateway() -> TestGateway {
    let log = memory_log();
    seed(&log).await;
    let gateway = Setup { log, payload_limit: 100 << 20, ..Setup::default() }.start().await;
    for task in recorded_tasks() {
        gateway.wait_status(task["uid"].as_u64().unwrap(), task["status"].as_str().unwrap()).await;
    }
    gateway
}

/// Leaves out what cannot match the recording: task 1 was failed by the fold itself at enqueue
/// time (its timings are its enqueue time), and Meilisearch's progress trace of its batches.
fn comparable(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            if map.get("uid") == Some(&Value::from(1)) {
                for key in ["startedAt", "finishedAt", "duration"] {
                    map.remove(key);
                }
            }
            map.remove("progressTrace");
            for child in map.values_mut() {
                *child = comparable(child.take());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| *item = comparable(item.take())),
        _ => {}
    }
    value
}

async fn replay(gateway: &TestGateway, name: &str) {
    let recorded = exchange(name);
    let request = &recorded["request"];
    let (status, body) = gateway.call(request["method"].as_str().unwrap(), request["path"].as_str().unwrap(), None).await;
    assert_eq!(status, StatusCode::from_u16(recorded["status"].as_u64().unwrap() as u16).unwrap(), "{name}: {body}");
    assert_eq!(comparable(body), comparable(recorded["response"].clone()), "{name}");
}

#[tokio::test]
async fn task_and_batch_exchanges_match_meilisearch() {
    let gateway = recorded_gateway().await;
    for name in ["list tasks", "list tasks filtered", "tasks by uids", "task not found", "tasks invalid status filter", "list batches"] {
        replay(&gateway, name).await;
    }
}

#[tokio::test]
async fn every_recorded_task_reads_back_exactly() {
    let gateway = recorded_gateway().await;
    for task in recorded_tasks() {
        let uid = task["uid"].as_u64().unwrap();
        let (status, body) = gateway.call("GET", &format!("/tasks/{uid}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(comparable(body), comparable(Value::Object(task)), "task {uid}");
    }
}

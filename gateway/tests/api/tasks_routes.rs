//! Task routes through the gateway's router, on the in-memory log: filters and paging over
//! folded tasks, one batch per started task, `POST /tasks/cancel` and `DELETE /tasks`.

use crate::support::{exchange, memory_log, Setup, TestGateway};
use axum::http::StatusCode;
use miroir_clients::log::{MemoryLog, Topic, WriteLog};
use miroir_gateway::catalog::TaskLogEntry;
use miroir_schemas::details::{DetailCounts, IndexSwap, TaskDetails};
use miroir_schemas::envelope::{encode, SCHEMA_VERSION};
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::task_log::{ReplicaStatus, ShardTarget, TaskEvent, TaskRecord, TaskType};
use miroir_schemas::topology::ShardId;
use serde_json::{json, Value};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const REPLICAS: [&str; 2] = ["n0", "n1"];

fn enqueued_at(uid: u64) -> OffsetDateTime {
    datetime!(2020-01-01 0:00 UTC) + Duration::seconds(10 * uid as i64)
}

async fn append(log: &MemoryLog, uid: u64, task_type: TaskType, index: Option<&str>, details: TaskDetails) {
    let mut record = TaskRecord::new(task_type, index.map(str::to_owned), Some(details), enqueued_at(uid));
    record.targets = vec![ShardTarget { shard: ShardId(0), replicas: REPLICAS.map(str::to_owned).to_vec() }];
    let position = log.append(Topic::Tasks, "tasks", &format!("seed{uid}"), encode(&TaskLogEntry::new(record)).into()).await.unwrap();
    assert_eq!(position.offset, uid);
}

/// Plays the indexer for one replica of task `uid`, which ran 1 to 2 s after it was enqueued.
async fn report(log: &MemoryLog, uid: u64, replica: &str, status: ReplicaStatus) {
    let started = enqueued_at(uid) + Duration::seconds(1);
    report_at(log, uid, replica, status, started, started + Duration::seconds(1)).await;
}

async fn report_at(
    log: &MemoryLog,
    uid: u64,
    replica: &str,
    status: ReplicaStatus,
    started_at: OffsetDateTime,
    finished_at: OffsetDateTime,
) {
    let event = TaskEvent {
        schema_version: SCHEMA_VERSION,
        task_uid: uid,
        shard: ShardId(0),
        replica: replica.into(),
        status,
        error: (status == ReplicaStatus::Failed)
            .then(|| ResponseError::new(Code::MissingDocumentId, "Document doesn't have a `id` attribute: `{}`.")),
        counts: DetailCounts::default(),
        started_at,
        finished_at,
    };
    let key = format!("{uid}/shard-0/{replica}");
    log.append(Topic::TaskEvents, &key, &key, encode(&event).into()).await.unwrap();
}

fn index_info(primary_key: Option<&str>, new_index_uid: Option<&str>) -> TaskDetails {
    TaskDetails::IndexInfo {
        primary_key: primary_key.map(str::to_owned),
        old_index_uid: None,
        new_index_uid: new_index_uid.map(str::to_owned),
    }
}

/// Six tasks: 0 creates `a` (succeeded), 1 adds to `a` (failed), 2 updates `a`'s settings
/// (processing: one replica of two reported), 3 creates `b` (enqueued), 4 swaps `a` and `b`
/// (succeeded), 5 renames `b` to `c` (succeeded). As in Meilisearch, the swap and the rename
/// rewrite the earlier tasks: 0, 1 and 2 now name `c`, 3 names `a`, 4 swapped `a` and `c`.
async fn seeded_gateway() -> TestGateway {
    let log = memory_log();
    append(&log, 0, TaskType::IndexCreation, Some("a"), index_info(Some("id"), None)).await;
    append(
        &log,
        1,
        TaskType::DocumentAdditionOrUpdate,
        Some("a"),
        TaskDetails::DocumentAdditionOrUpdate { received_documents: 1, indexed_documents: None },
    )
    .await;
    append(&log, 2, TaskType::SettingsUpdate, Some("a"), TaskDetails::SettingsUpdate { settings: serde_json::Map::new() }).await;
    append(&log, 3, TaskType::IndexCreation, Some("b"), index_info(None, None)).await;
    let swap = IndexSwap { indexes: ["a".into(), "b".into()], rename: false };
    append(&log, 4, TaskType::IndexSwap, None, TaskDetails::IndexSwap { swaps: vec![swap] }).await;
    append(&log, 5, TaskType::IndexUpdate, Some("b"), index_info(None, Some("c"))).await;
    for uid in [0, 4, 5] {
        for replica in REPLICAS {
            report(&log, uid, replica, ReplicaStatus::Succeeded).await;
        }
    }
    for replica in REPLICAS {
        report(&log, 1, replica, ReplicaStatus::Failed).await;
    }
    report(&log, 2, "n0", ReplicaStatus::Succeeded).await;

    let gateway = Setup { log, payload_limit: 100 << 20, ..Setup::default() }.start().await;
    for (uid, status) in [(0, "succeeded"), (1, "failed"), (2, "processing"), (3, "enqueued"), (4, "succeeded"), (5, "succeeded")] {
        gateway.wait_status(uid, status).await;
    }
    gateway
}

async fn uids(gateway: &TestGateway, path: &str) -> (Vec<u64>, Value) {
    let (status, body) = gateway.call("GET", path, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let uids = body["results"].as_array().unwrap().iter().map(|task| task["uid"].as_u64().unwrap()).collect();
    (uids, json!({"total": body["total"], "limit": body["limit"], "from": body["from"], "next": body["next"]}))
}

#[tokio::test]
async fn filters_and_paging_through_the_router() {
    let gateway = seeded_gateway().await;
    for (uid, index_uid) in [(0, "c"), (1, "c"), (2, "c"), (3, "a"), (5, "b")] {
        assert_eq!(gateway.call("GET", &format!("/tasks/{uid}"), None).await.1["indexUid"], index_uid, "task {uid}");
    }
    assert_eq!(gateway.call("GET", "/tasks/4", None).await.1["details"], json!({"swaps": [{"indexes": ["a", "c"], "rename": false}]}));
    // The swap concerns `a` and counts in `total`, but Meilisearch lists no multi-index task
    // when filtering by index.
    assert_eq!(uids(&gateway, "/tasks?indexUids=a").await, (vec![3], json!({"total": 2, "limit": 20, "from": 3, "next": null})));
    assert_eq!(uids(&gateway, "/tasks?indexUids=c").await.0, vec![5, 2, 1, 0], "a rename concerns its new uid");
    assert_eq!(uids(&gateway, "/tasks?statuses=PROCESSING,enqueued").await.0, vec![3, 2]);
    assert_eq!(uids(&gateway, "/tasks?batchUids=2,3").await.0, vec![2], "an enqueued task is in no batch");
    assert_eq!(uids(&gateway, "/tasks?types=indexSwap,INDEXUPDATE&reverse=true").await.0, vec![4, 5]);
    assert_eq!(uids(&gateway, "/tasks?limit=2&from=4").await, (vec![4, 3], json!({"total": 6, "limit": 2, "from": 4, "next": 2})));
    assert_eq!(uids(&gateway, "/tasks?canceledBy=0,1").await.1["total"], 0);
    assert_eq!(uids(&gateway, "/tasks?afterStartedAt=2020-01-01T00:00:21Z").await.0, vec![5, 4], "started after 00:00:21");
    assert_eq!(uids(&gateway, "/tasks?beforeFinishedAt=2020-01-02&statuses=failed").await.0, vec![1]);

    let (status, error) = gateway.call("GET", "/tasks/abc", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["message"], "Task uid `abc` is invalid. It should only contain numeric characters.");
    assert_eq!(error["code"], "invalid_task_uids");
    let (status, error) = gateway.call("GET", "/tasks?types=nope", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_task_types")));
    assert!(error["message"].as_str().unwrap().ends_with("`networkTopologyChange`, `dsrUpdate`, `dsrClear`."));
}

#[tokio::test]
async fn one_batch_per_started_task() {
    let gateway = seeded_gateway().await;
    assert_eq!(uids(&gateway, "/batches").await, (vec![5, 4, 2, 1, 0], json!({"total": 5, "limit": 20, "from": 5, "next": null})));
    assert_eq!(uids(&gateway, "/batches?statuses=enqueued").await.1["total"], 0);
    assert_eq!(uids(&gateway, "/batches?uids=3,4&batchUids=4,5").await.0, vec![4]);

    let (status, batch) = gateway.call("GET", "/batches/4", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        batch,
        json!({
            "uid": 4,
            "progress": null,
            "details": {"swaps": [{"indexes": ["a", "c"], "rename": false}]},
            "stats": {"totalNbTasks": 1, "status": {"succeeded": 1}, "types": {"indexSwap": 1}, "indexUids": {"a": 1, "c": 1}},
            "duration": "PT1S",
            "startedAt": "2020-01-01T00:00:41Z",
            "finishedAt": "2020-01-01T00:00:42Z",
            "batchStrategy": "created batch containing only task with id 4 of type `indexSwap` that cannot be batched with any other task."
        })
    );
    let (status, processing) = gateway.call("GET", "/batches/2", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((processing["finishedAt"].clone(), processing["stats"]["status"].clone()), (Value::Null, json!({"processing": 1})));

    let (status, missing) = gateway.call("GET", "/batches/3", None).await;
    assert_eq!(
        (status, missing["code"].clone(), missing["message"].clone()),
        (StatusCode::NOT_FOUND, json!("batch_not_found"), json!("Batch `3` not found."))
    );
    let (status, bad) = gateway.call("GET", "/batches/x", None).await;
    assert_eq!(
        (status, bad["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("Batch uid `x` is invalid. It should only contain numeric characters."))
    );
}

fn missing_filters_message(action: &str) -> String {
    format!("Query parameters to filter the tasks to {action} are missing. Available query parameters are: `uids`, `indexUids`, `statuses`, `types`, `canceledBy`, `beforeEnqueuedAt`, `afterEnqueuedAt`, `beforeStartedAt`, `afterStartedAt`, `beforeFinishedAt`, `afterFinishedAt`.")
}

async fn registered(gateway: &TestGateway, method: &str, path: &str, task_type: &str) -> Value {
    let (status, body) = gateway.call(method, path, None).await;
    // Meilisearch answers 200 (not 202) to cancelation and deletion.
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["taskUid", "indexUid", "status", "type", "enqueuedAt"]);
    assert_eq!(
        (body["indexUid"].clone(), body["status"].clone(), body["type"].clone()),
        (Value::Null, json!("enqueued"), json!(task_type))
    );
    gateway.wait_status(body["taskUid"].as_u64().unwrap(), "succeeded").await
}

#[tokio::test]
async fn cancelation_cancels_the_enqueued_writes_no_indexer_announced() {
    use miroir_schemas::meta_log::{MetaEnvelope, TaskChange};
    let gateway = seeded_gateway().await;
    let (status, error) = gateway.call("POST", "/tasks/cancel", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("missing_task_filters")));
    assert_eq!(error["message"], missing_filters_message("cancel"));
    let (status, error) = gateway.call("POST", "/tasks/cancel?limit=1", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("bad_request")));
    let (status, error) = gateway.call("POST", "/tasks/cancel?statuses=nope", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_task_statuses")));

    // Two document additions to `c` (it exists after the swap and the rename), both enqueued;
    // an indexer has announced 7 (it is about to reach the nodes), not 6.
    let addition = || TaskDetails::DocumentAdditionOrUpdate { received_documents: 3, indexed_documents: None };
    append(&gateway.log, 6, TaskType::DocumentAdditionOrUpdate, Some("c"), addition()).await;
    append(&gateway.log, 7, TaskType::DocumentAdditionOrUpdate, Some("c"), addition()).await;
    let started = MetaEnvelope::new(TaskChange::TasksStarted { tasks: vec![7] });
    gateway.log.append(Topic::Meta, "m", "started-7", encode(&started).into()).await.unwrap();
    gateway.wait_status(7, "enqueued").await;

    let cancelation = registered(&gateway, "POST", "/tasks/cancel?statuses=enqueued,processing", "taskCancelation").await;
    assert_eq!(cancelation["uid"], 8);
    // 2 (processing), 3 (an index creation: never canceled) and 7 (announced) go on.
    assert_eq!(cancelation["details"], json!({"matchedTasks": 4, "canceledTasks": 1, "originalFilter": "?statuses=enqueued,processing"}));
    let (_, canceled) = gateway.call("GET", "/tasks/6", None).await;
    assert_eq!((canceled["status"].clone(), canceled["canceledBy"].clone()), (json!("canceled"), json!(8)));
    assert_eq!(canceled["details"], json!({"receivedDocuments": 3, "indexedDocuments": 0}));
    assert_eq!(canceled["error"], Value::Null);
    assert_eq!(canceled["finishedAt"], cancelation["finishedAt"], "canceled in its cancelation's run");
    for (uid, status) in [(2, "processing"), (3, "enqueued"), (7, "enqueued")] {
        let (_, task) = gateway.call("GET", &format!("/tasks/{uid}"), None).await;
        assert_eq!((task["status"].clone(), task["canceledBy"].clone()), (json!(status), Value::Null), "task {uid}");
    }
    assert_eq!(uids(&gateway, "/tasks?canceledBy=8").await.0, vec![6]);
    assert_eq!(uids(&gateway, "/tasks?statuses=canceled").await.0, vec![6]);
    // A second cancelation finds nothing left to cancel; an indexer announcing 6 now is too late.
    gateway
        .log
        .append(Topic::Meta, "m", "started-6", encode(&MetaEnvelope::new(TaskChange::TasksStarted { tasks: vec![6] })).into())
        .await
        .unwrap();
    let again = registered(&gateway, "POST", "/tasks/cancel?uids=6,7", "taskCancelation").await;
    assert_eq!(again["details"], json!({"matchedTasks": 2, "canceledTasks": 0, "originalFilter": "?uids=6,7"}));
    let (_, still) = gateway.call("GET", "/tasks/6", None).await;
    assert_eq!(still["canceledBy"], 8);
    // `*` is a filter: it matches every task, finished ones included, as in Meilisearch.
    let everything = registered(&gateway, "POST", "/tasks/cancel?uids=*", "taskCancelation").await;
    assert_eq!(everything["details"]["matchedTasks"], 10);
}

/// `GET /tasks/{uid}` of a task that does not exist (any more), as Meilisearch 1.50 answers it.
async fn assert_task_not_found(gateway: &TestGateway, uid: u64) {
    let (status, error) = gateway.call("GET", &format!("/tasks/{uid}"), None).await;
    let mut recorded = exchange("task not found");
    recorded["response"]["message"] = json!(format!("Task `{uid}` not found."));
    assert_eq!((status.as_u16(), error), (recorded["status"].as_u64().unwrap() as u16, recorded["response"].clone()), "task {uid}");
}

/// What a gateway answers to the task and batch lists, for comparing two gateways.
async fn lists(gateway: &TestGateway) -> [Value; 2] {
    [gateway.call("GET", "/tasks?limit=100", None).await.1, gateway.call("GET", "/batches?limit=100", None).await.1]
}

#[tokio::test]
async fn deletion_deletes_the_finished_tasks_it_selects_on_every_gateway() {
    let gateway = seeded_gateway().await;
    let (status, error) = gateway.call("DELETE", "/tasks", None).await;
    assert_eq!((status, error["message"].clone()), (StatusCode::BAD_REQUEST, json!(missing_filters_message("delete"))));

    // The query string is kept as sent, percent-encoding included.
    let deletion = registered(&gateway, "DELETE", "/tasks?indexUids=c&statuses=succeeded%2Cfailed%2Cprocessing", "taskDeletion").await;
    assert_eq!(deletion["uid"], 6);
    assert_eq!(
        deletion["details"],
        json!({"matchedTasks": 4, "deletedTasks": 3, "originalFilter": "?indexUids=c&statuses=succeeded%2Cfailed%2Cprocessing"})
    );
    for uid in [0, 1, 5] {
        assert_task_not_found(&gateway, uid).await;
        assert_eq!(gateway.call("GET", &format!("/batches/{uid}"), None).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(uids(&gateway, "/tasks").await.0, vec![6, 4, 3, 2], "the processing task stays");
    assert_eq!(uids(&gateway, "/batches").await.0, vec![6, 4, 2]);
    assert_eq!(gateway.call("GET", "/tasks/2", None).await.1["indexUid"], "c", "the deleted rename still moved it");

    // Task 2 finishes after the deletion ran: it stays.
    let now = OffsetDateTime::now_utc();
    report_at(&gateway.log, 2, "n1", ReplicaStatus::Succeeded, now, now).await;
    gateway.wait_status(2, "succeeded").await;
    assert_eq!(gateway.call("GET", "/tasks/6", None).await.1["details"]["deletedTasks"], 3);

    // A later deletion only counts what is left, and may delete the earlier deletion too.
    let second = registered(&gateway, "DELETE", "/tasks?uids=0,2,6", "taskDeletion").await;
    assert_eq!(second["details"], json!({"matchedTasks": 2, "deletedTasks": 2, "originalFilter": "?uids=0,2,6"}));
    assert_eq!(uids(&gateway, "/tasks").await.0, vec![7, 4, 3]);

    // A gateway started now folds the same log to the same tasks, renames included; a late
    // event of a deleted task changes nothing on either.
    report(&gateway.log, 1, "n0", ReplicaStatus::Succeeded).await;
    let later = Setup { log: gateway.log.clone(), payload_limit: 100 << 20, ..Setup::default() }.start().await;
    later.wait_status(7, "succeeded").await;
    assert_eq!(lists(&later).await, lists(&gateway).await);
    assert_eq!(later.call("GET", "/tasks/3", None).await.1, gateway.call("GET", "/tasks/3", None).await.1);
    for uid in [0, 1, 2, 5, 6] {
        assert_task_not_found(&later, uid).await;
    }
}

#[tokio::test]
async fn a_full_task_store_deletes_its_oldest_finished_tasks_like_meilisearch() {
    let gateway = Setup { task_limit: 3, ..Setup::default() }.start().await;
    // Deleting a missing index: a task that is failed as soon as it is folded.
    let mut enqueued = Vec::new();
    for uid in 0..3 {
        let (status, task) = gateway.call("DELETE", &format!("/indexes/missing{uid}"), None).await;
        assert_eq!((status, task["taskUid"].clone()), (StatusCode::ACCEPTED, json!(uid)));
        enqueued.push(task["enqueuedAt"].as_str().unwrap().to_owned());
    }
    // The third filled the store: its gateway registered Meilisearch's cleanup as task 3.
    let cleanup = gateway.wait_status(3, "succeeded").await;
    let newest = OffsetDateTime::parse(&enqueued[2], &time::format_description::well_known::Rfc3339).unwrap();
    let before = (newest + Duration::nanoseconds(1)).format(&time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!((cleanup["type"].clone(), cleanup["indexUid"].clone()), (json!("taskDeletion"), Value::Null));
    assert_eq!(
        cleanup["details"],
        json!({"matchedTasks": 3, "deletedTasks": 3, "originalFilter": format!("?beforeEnqueuedAt={before}&statuses=succeeded,failed,canceled")})
    );
    assert_eq!(uids(&gateway, "/tasks").await.0, vec![3]);
    for uid in 0..3 {
        assert_task_not_found(&gateway, uid).await;
    }
    // Below the limit again: more writes register no cleanup until the store is full.
    for uid in 4..6 {
        assert_eq!(gateway.call("DELETE", &format!("/indexes/missing{uid}"), None).await.0, StatusCode::ACCEPTED);
    }
    let cleanup = gateway.wait_status(6, "succeeded").await;
    assert_eq!(cleanup["details"]["deletedTasks"], 3, "the earlier cleanup is finished too, so it goes");
    assert_eq!(uids(&gateway, "/tasks").await.0, vec![6]);
    // Every gateway keeps the same tasks, whatever its own limit.
    let later = Setup { log: gateway.log.clone(), ..Setup::default() }.start().await;
    later.wait_status(6, "succeeded").await;
    assert_eq!(lists(&later).await, lists(&gateway).await);
}

#[tokio::test]
async fn task_routes_need_the_master_key() {
    let gateway = seeded_gateway().await;
    for (method, path) in [("DELETE", "/tasks?uids=1"), ("POST", "/tasks/cancel?uids=1"), ("GET", "/tasks"), ("GET", "/batches/0")] {
        let request = axum::http::Request::builder().method(method).uri(path).body(axum::body::Body::empty()).unwrap();
        let (status, body) = gateway.send(request).await;
        assert_eq!((status, body["code"].clone()), (StatusCode::UNAUTHORIZED, json!("missing_authorization_header")), "{method} {path}");
    }
    assert_eq!(uids(&gateway, "/tasks").await.0.len(), 6, "nothing was registered");
}

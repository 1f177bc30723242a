//! The gateway's half of writes, on the in-memory log: 202 only after durable appends, one
//! `ops` envelope per shard keyed by the index, failures Meilisearch reports in tasks
//! folded as failed tasks, `/tasks` and `/indexes` answered from the fold.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::{Setup, TestGateway, MASTER_KEY};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use miroir_clients::log::{Topic, WriteLog};
use miroir_schemas::details::DetailCounts;
use miroir_schemas::envelope::Op;
use miroir_schemas::task_log::ReplicaStatus;
use miroir_schemas::topology::ShardId;
use serde_json::{json, Value};

const DONE: DetailCounts = DetailCounts::NONE;

fn documents_request(path: &str, content_type: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("Authorization", format!("Bearer {MASTER_KEY}"))
        .header("Content-Type", content_type)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn index_lifecycle_goes_through_the_log_and_the_fold() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.call("POST", "/indexes", Some(json!({"uid": "packages", "primaryKey": "id"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["taskUid", "indexUid", "status", "type", "enqueuedAt"]);
    assert_eq!(
        (body["taskUid"].clone(), body["status"].clone(), body["type"].clone()),
        (json!(0), json!("enqueued"), json!("indexCreation"))
    );

    // One createIndex per shard, keyed by index (one partition keeps an index's operations in
    // order), deduplicated by task, shard and part.
    let ops = gateway.ops().await;
    let keys: BTreeSet<String> = ops.iter().map(|(key, _)| key.clone()).collect();
    assert_eq!(keys, BTreeSet::from(["packages".to_owned()]));
    let shards: BTreeSet<ShardId> = ops.iter().map(|(_, e)| e.shard).collect();
    assert_eq!(shards.len(), 3);
    assert!(ops.iter().all(|(_, e)| e.task_uid == 0 && matches!(&e.op, Op::CreateIndex { primary_key: Some(k) } if k == "id")));

    assert_eq!(gateway.call("GET", "/tasks/0", None).await.1["status"], "enqueued");
    gateway.finish_task(0, ReplicaStatus::Succeeded, DONE).await;
    let task = gateway.wait_status(0, "succeeded").await;
    assert_eq!(task["details"], json!({"primaryKey": "id"}));

    let (status, index) = gateway.call("GET", "/indexes/packages", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(index["primaryKey"], "id");
    let (_, list) = gateway.call("GET", "/indexes?limit=5&offset=0", None).await;
    assert_eq!((list["total"].clone(), list["limit"].clone(), list["offset"].clone()), (json!(1), json!(5), json!(0)));

    // Creating it again is accepted, sends nothing to the nodes, and fails like Meilisearch.
    let (status, again) = gateway.call("POST", "/indexes", Some(json!({"uid": "packages"}))).await;
    assert_eq!((status, again["taskUid"].clone()), (StatusCode::ACCEPTED, json!(1)));
    assert_eq!(gateway.ops().await.len(), 3, "no operation for a task the fold fails");
    let failed = gateway.wait_status(1, "failed").await;
    assert_eq!(failed["error"]["code"], "index_already_exists");
    assert_eq!(failed["error"]["message"], "Index `packages` already exists.");

    // Deleting a missing index: failed task, as in the transcript.
    let (_, deletion) = gateway.call("DELETE", "/indexes/nope", None).await;
    let failed = gateway.wait_status(deletion["taskUid"].as_u64().unwrap(), "failed").await;
    assert_eq!(failed["details"], json!({"deletedDocuments": 0}));
    assert_eq!(failed["error"]["message"], "Index `nope` not found.");

    let (status, missing) = gateway.call("GET", "/indexes/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["code"], "index_not_found");
}

#[tokio::test]
async fn synchronous_errors_write_nothing() {
    let gateway = TestGateway::new().await;
    let (status, body) = gateway.call("POST", "/indexes", Some(json!({"uid": "bad uid!"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_index_uid");
    let (status, body) = gateway.call("POST", "/indexes", Some(json!({"primaryKey": "id"}))).await;
    assert_eq!((status, body["message"].clone()), (StatusCode::BAD_REQUEST, json!("Missing field `uid`")));
    let (status, body) = gateway.call("PATCH", "/indexes/packages/settings", Some(json!({"rankingRules": ["nonsense"]}))).await;
    assert_eq!((status, body["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_settings_ranking_rules")));
    let (status, body) = gateway.send(documents_request("/indexes/packages/documents", "text/plain", "[]")).await;
    assert_eq!((status, body["code"].clone()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, json!("invalid_content_type")));
    let (status, body) = gateway.send(documents_request("/indexes/packages/documents", "application/json", "")).await;
    assert_eq!((status, body["code"].clone()), (StatusCode::BAD_REQUEST, json!("missing_payload")));
    assert!(gateway.records(Topic::Tasks).await.is_empty());
    assert!(gateway.ops().await.is_empty());
}

#[tokio::test]
async fn documents_are_split_by_shard_with_one_primary_key() {
    let gateway = TestGateway::new().await;
    let docs: Vec<Value> = (0..40).map(|i| json!({"package_id": format!("p{i}"), "name": format!("n{i}")})).collect();
    let request =
        documents_request("/indexes/inferred/documents?customMetadata=log-seq-42", "application/json", &Value::Array(docs).to_string());
    let (status, body) = gateway.send(request).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["type"], "documentAdditionOrUpdate");
    assert_eq!(body["customMetadata"], "log-seq-42");

    let mut seen = BTreeSet::new();
    let mut created = BTreeSet::new();
    for (key, envelope) in gateway.ops().await {
        assert_eq!(key, "inferred");
        match envelope.op {
            Op::Documents { primary_key, documents, .. } => {
                assert_eq!(primary_key, "package_id");
                for document in documents {
                    assert!(seen.insert(document["package_id"].as_str().unwrap().to_owned()), "a document reached two shards");
                }
            }
            // A new index is created first, on every shard (also those this batch leaves empty),
            // with the primary key the gateway decided.
            Op::CreateIndex { primary_key } => {
                assert_eq!(primary_key.as_deref(), Some("package_id"));
                assert!(seen.is_empty(), "the creation comes before the documents");
                created.insert(envelope.shard);
            }
            other => panic!("unexpected op {other:?}"),
        }
    }
    assert_eq!(seen.len(), 40);
    assert_eq!(created.len(), 3);

    gateway
        .finish_task(
            0,
            ReplicaStatus::Succeeded,
            DetailCounts { indexed_documents: Some(0), deleted_documents: None, ..DetailCounts::NONE },
        )
        .await;
    gateway.wait_status(0, "succeeded").await;
    assert_eq!(gateway.call("GET", "/indexes/inferred", None).await.1["primaryKey"], "package_id");

    // NDJSON and CSV go the same way.
    let ndjson =
        documents_request("/indexes/inferred/documents", "application/x-ndjson", "{\"package_id\":\"x\"}\n{\"package_id\":\"y\"}\n");
    assert_eq!(gateway.send(ndjson).await.0, StatusCode::ACCEPTED);
    let csv = documents_request("/indexes/inferred/documents?csvDelimiter=;", "text/csv", "package_id;name\nz;zed\n");
    assert_eq!(gateway.send(csv).await.0, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn document_errors_meilisearch_reports_in_tasks_become_failed_tasks() {
    let gateway = TestGateway::new().await;
    let bad_id = documents_request("/indexes/packages/documents?primaryKey=id", "application/json", r#"[{"id": "bad id with spaces"}]"#);
    let (status, body) = gateway.send(bad_id).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = gateway.wait_status(body["taskUid"].as_u64().unwrap(), "failed").await;
    assert_eq!(task["error"]["code"], "invalid_document_id");
    assert_eq!(task["details"], json!({"receivedDocuments": 1, "indexedDocuments": 0}));

    let ambiguous = documents_request("/indexes/ambiguous/documents", "application/json", r#"[{"id": 1, "other_id": 2}]"#);
    let (_, body) = gateway.send(ambiguous).await;
    let task = gateway.wait_status(body["taskUid"].as_u64().unwrap(), "failed").await;
    assert_eq!(task["error"]["code"], "index_primary_key_multiple_candidates_found");
    // As on Meilisearch, a failed addition still creates its (empty) index: the nodes get
    // the creation of `packages` and `ambiguous`, never a document.
    let ops = gateway.ops().await;
    assert!(!ops.is_empty());
    for (key, envelope) in &ops {
        assert!(key == "ambiguous" || key == "packages", "only the new indexes are touched: {key}");
        assert!(
            matches!(&envelope.op, miroir_schemas::envelope::Op::CreateIndex { primary_key: None }),
            "only an empty index creation reaches the nodes: {:?}",
            envelope.op
        );
    }
    let (status, index) = gateway.call("GET", "/indexes/ambiguous", None).await;
    assert_eq!(status, StatusCode::OK, "a failed addition creates its index");
    assert_eq!(index["primaryKey"], Value::Null);
}

#[tokio::test]
async fn deletions_settings_and_swaps_target_the_right_shards() {
    let gateway = TestGateway::new().await;
    for uid in ["a", "b"] {
        gateway.call("POST", "/indexes", Some(json!({"uid": uid, "primaryKey": "id"}))).await;
    }
    let (_, one) = gateway.call("DELETE", "/indexes/a/documents/doc-1", None).await;
    let (_, batch) = gateway.call("POST", "/indexes/a/documents/delete-batch", Some(json!(["x", 2, "y"]))).await;
    let (_, filter) = gateway.call("POST", "/indexes/a/documents/delete", Some(json!({"filter": "genre = horror"}))).await;
    let (_, clear) = gateway.call("DELETE", "/indexes/a/documents", None).await;
    let (_, settings) = gateway.call("PUT", "/indexes/a/settings/filterable-attributes", Some(json!(["genre"]))).await;
    let (_, swap) = gateway.call("POST", "/swap-indexes", Some(json!([{"indexes": ["a", "b"]}]))).await;
    let uid = |v: &Value| v["taskUid"].as_u64().unwrap();
    let ops = gateway.ops().await;
    let of_task = |task: u64| ops.iter().filter(move |(_, e)| e.task_uid == task).collect::<Vec<_>>();

    let single = of_task(uid(&one));
    assert_eq!(single.len(), 1, "one id, one shard");
    assert!(matches!(&single[0].1.op, Op::DeleteDocuments { ids } if ids == &["doc-1".to_owned()]));
    let ids: BTreeSet<String> = of_task(uid(&batch))
        .iter()
        .flat_map(|(_, e)| match &e.op {
            Op::DeleteDocuments { ids } => ids.clone(),
            _ => panic!("not a deletion"),
        })
        .collect();
    assert_eq!(ids, BTreeSet::from(["x".into(), "2".into(), "y".into()]));
    assert_eq!(of_task(uid(&filter)).len(), 3);
    assert!(of_task(uid(&clear)).iter().all(|(_, e)| e.op == Op::ClearDocuments));
    assert!(of_task(uid(&settings))
        .iter()
        .all(|(_, e)| matches!(&e.op, Op::UpdateSettings { settings } if settings["filterableAttributes"] == json!(["genre"]))));
    assert_eq!(of_task(uid(&swap)).len(), 3);
    assert_eq!(swap["indexUid"], Value::Null);

    let (_, batch_task) = gateway.call("GET", &format!("/tasks/{}", uid(&batch)), None).await;
    assert_eq!(batch_task["details"], json!({"providedIds": 3, "deletedDocuments": null, "originalFilter": null}));
    let (_, filter_task) = gateway.call("GET", &format!("/tasks/{}", uid(&filter)), None).await;
    assert_eq!(filter_task["details"]["originalFilter"], "\"genre = horror\"");

    let (_, tasks) = gateway.call("GET", "/tasks?limit=3", None).await;
    assert_eq!(tasks["total"], 8);
    assert_eq!(tasks["results"].as_array().unwrap().iter().map(|t| t["uid"].clone()).collect::<Vec<_>>(), [json!(7), json!(6), json!(5)]);
    assert_eq!((tasks["from"].clone(), tasks["next"].clone()), (json!(7), json!(4)));
    let (status, error) = gateway.call("GET", "/tasks?statuses=nope", None).await;
    assert_eq!((status, error["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_task_statuses")));
    let (status, error) = gateway.call("GET", "/tasks/999999", None).await;
    assert_eq!((status, error["message"].clone()), (StatusCode::NOT_FOUND, json!("Task `999999` not found.")));
}

#[tokio::test]
async fn batches_show_started_tasks() {
    let gateway = TestGateway::new().await;
    gateway.call("POST", "/indexes", Some(json!({"uid": "a"}))).await;
    gateway.call("POST", "/indexes", Some(json!({"uid": "b"}))).await;
    gateway.finish_task(1, ReplicaStatus::Succeeded, DONE).await;
    gateway.wait_status(1, "succeeded").await;
    let (_, batches) = gateway.call("GET", "/batches?limit=1", None).await;
    assert_eq!(batches["total"], 1, "task 0 has not started");
    let batch = &batches["results"][0];
    assert_eq!(batch["uid"], 1);
    assert_eq!(batch["stats"]["status"], json!({"succeeded": 1}));
    assert_eq!(batch["stats"]["types"], json!({"indexCreation": 1}));
    assert_eq!(batch["stats"]["indexUids"], json!({"b": 1}));
    let (status, _) = gateway.call("GET", "/batches/0", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unavailable_log_answers_503_with_retry_after() {
    let gateway = TestGateway::new().await;
    gateway.log.set_available(false);
    let request = Request::post("/indexes")
        .header("Authorization", format!("Bearer {MASTER_KEY}"))
        .header("Content-Type", "application/json")
        .body(Body::from(json!({"uid": "movies"}).to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(gateway.router.clone(), request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    gateway.log.set_available(true);
    assert!(gateway.records(Topic::Tasks).await.is_empty(), "nothing was written");
}

#[tokio::test]
async fn oversized_payloads_are_refused() {
    let gateway = Setup { payload_limit: 100, ..Setup::default() }.start().await;
    let body = format!("[{{\"id\": \"{}\"}}]", "a".repeat(200));
    let (status, error) = gateway.send(documents_request("/indexes/a/documents", "application/json", &body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["message"], "The provided payload reached the size limit. The maximum accepted payload size is 100 B.");
}

#[tokio::test]
async fn operations_lost_to_an_outage_after_the_task_record_are_appended_once_the_log_returns() {
    let gateway = TestGateway::new().await;
    let (status, _) = gateway.call("POST", "/indexes", Some(json!({"uid": "packages", "primaryKey": "id"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let ops_before = gateway.ops().await.len();

    // The task record is stored, then `ops` refuses appends: nothing is acknowledged.
    gateway.log.set_appends_available(Topic::Ops, false);
    let documents = json!([{"id": "a", "name": "alpha"}, {"id": "b", "name": "beta"}, {"id": "c", "name": "gamma"}]);
    let (status, body) = gateway.call("POST", "/indexes/packages/documents", Some(documents)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "internal");
    assert_eq!(gateway.records(Topic::Tasks).await.len(), 2, "the task record was stored before the outage");
    assert_eq!(gateway.ops().await.len(), ops_before);

    // The gateway keeps retrying in the background: once `ops` is back, the recorded task gets
    // its operations exactly once (same dedup ids), so it completes instead of staying enqueued.
    gateway.log.set_appends_available(Topic::Ops, true);
    let mut appended = Vec::new();
    for _ in 0..500 {
        appended = gateway.ops().await.into_iter().filter(|(_, envelope)| envelope.task_uid == 1).collect();
        if !appended.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids: BTreeSet<String> = appended.iter().map(|(_, envelope)| envelope.dedup_id()).collect();
    assert_eq!(ids.len(), appended.len(), "no operation stored twice");
    let documents: usize = appended
        .iter()
        .map(|(_, envelope)| match &envelope.op {
            Op::Documents { documents, .. } => documents.len(),
            other => panic!("unexpected operation {other:?}"),
        })
        .sum();
    assert_eq!(documents, 3);
    gateway
        .finish_task(
            1,
            ReplicaStatus::Succeeded,
            DetailCounts { indexed_documents: Some(3), deleted_documents: None, ..DetailCounts::NONE },
        )
        .await;
    gateway.wait_status(1, "succeeded").await;
}

#[tokio::test]
async fn a_write_refused_for_its_size_leaves_no_task_behind() {
    let gateway = TestGateway::new().await;
    gateway.call("POST", "/indexes", Some(json!({"uid": "packages", "primaryKey": "id"}))).await;
    let tasks_before = gateway.records(Topic::Tasks).await.len();
    // One document larger than a log message: refused before anything is appended.
    let huge = "x".repeat(gateway.log.max_payload_bytes() + 1);
    let (status, body) = gateway.call("POST", "/indexes/packages/documents", Some(json!([{"id": "big", "text": huge}]))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "payload_too_large");
    assert_eq!(gateway.records(Topic::Tasks).await.len(), tasks_before);
}

/// `POST /indexes/{uid}/compact`: one `compactIndex` operation per shard, the query string and
/// body not read (as a node, not even `customMetadata`), the sizes the replicas report summed
/// over shards (each node index books its sizes on one shard), a missing index failed with
/// nothing sent, a uid no index can have refused at once.
#[tokio::test]
async fn a_compaction_is_an_index_task_on_every_shard_with_the_sizes_summed() {
    let gateway = TestGateway::new().await;
    assert_eq!(gateway.call("POST", "/indexes", Some(json!({"uid": "movies"}))).await.0, StatusCode::ACCEPTED);
    gateway.finish_task(0, ReplicaStatus::Succeeded, DONE).await;
    gateway.wait_status(0, "succeeded").await;

    let (status, body) = gateway.call("POST", "/indexes/movies/compact?customMetadata=x&foo=1", Some(json!("not read"))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        (body["taskUid"].clone(), body["indexUid"].clone(), body["type"].clone()),
        (json!(1), json!("movies"), json!("indexCompaction"))
    );
    let compactions: Vec<ShardId> = gateway
        .ops()
        .await
        .into_iter()
        .filter(|(_, e)| e.task_uid == 1)
        .map(|(_, e)| {
            assert_eq!(e.op, Op::CompactIndex);
            e.shard
        })
        .collect();
    assert_eq!(compactions.len(), 3, "one operation per shard");
    let (_, enqueued) = gateway.call("GET", "/tasks/1", None).await;
    assert_eq!((enqueued["details"].clone(), enqueued.get("customMetadata")), (json!({}), None));

    let node_index = DetailCounts { pre_compaction_bytes: Some(45_056), post_compaction_bytes: Some(40_960), ..DONE };
    gateway.finish_task(1, ReplicaStatus::Succeeded, node_index).await;
    let task = gateway.wait_status(1, "succeeded").await;
    // Three shards, each booked 44 KiB before and 40 KiB after by its first replica.
    assert_eq!(task["details"], json!({"preCompactionSize": "132 KiB", "postCompactionSize": "120 KiB"}));

    let (status, missing) = gateway.call("POST", "/indexes/nope/compact", None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let uid = missing["taskUid"].as_u64().unwrap();
    let failed = gateway.wait_status(uid, "failed").await;
    assert_eq!((failed["details"].clone(), failed["error"]["code"].clone()), (json!({}), json!("index_not_found")));
    assert!(gateway.ops().await.iter().all(|(_, e)| e.task_uid != uid), "nothing reaches the nodes");

    let (status, refused) = gateway.call("POST", "/indexes/bad%20uid/compact", None).await;
    assert_eq!((status, refused["code"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_index_uid")));

    // Enqueued and not yet started by an indexer, a compaction can be canceled, as on a node.
    let (_, again) = gateway.call("POST", "/indexes/movies/compact", None).await;
    let uid = again["taskUid"].as_u64().unwrap();
    let (status, cancelation) = gateway.call("POST", &format!("/tasks/cancel?uids={uid}"), None).await;
    assert_eq!(status, StatusCode::OK, "{cancelation}");
    let canceled = gateway.wait_status(uid, "canceled").await;
    assert_eq!(canceled["canceledBy"], cancelation["taskUid"]);
}

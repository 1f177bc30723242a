use super::*;
use miroir_clients::log::{LogConfig, MemoryLog};
use miroir_schemas::cdc::CdcChange;
use miroir_schemas::envelope::{encode, ops_key, DocumentMethod, Op};
use miroir_schemas::meta_log::MetaEnvelope;
use miroir_schemas::meta_log::TaskChange;
use miroir_schemas::task_log::{ReplicaStatus, ShardTarget, TaskEvent, TaskRecord, TaskType};
use miroir_schemas::topology::ShardId;
use serde_json::json;
use time::OffsetDateTime;

/// A task on shard 0 of `movies`, held by node `n1`: its record, then its operation.
async fn enqueue(log: &dyn WriteLog, op: Op) -> u64 {
    let mut record = TaskRecord::new(TaskType::DocumentAdditionOrUpdate, Some("movies".into()), None, OffsetDateTime::now_utc());
    record.targets = vec![ShardTarget { shard: ShardId(0), replicas: vec!["n1".into()] }];
    let uid = log.append(Topic::Tasks, "tasks", &uuid::Uuid::new_v4().to_string(), Bytes::from(encode(&record))).await.unwrap().offset;
    let envelope = OpEnvelope::new(uid, Some("movies".into()), ShardId(0), op);
    log.append(Topic::Ops, &ops_key("movies"), &envelope.dedup_id(), Bytes::from(encode(&envelope))).await.unwrap();
    uid
}

async fn report(log: &dyn WriteLog, task_uid: u64, status: ReplicaStatus) {
    let now = OffsetDateTime::now_utc();
    let event = TaskEvent {
        schema_version: 1,
        task_uid,
        shard: ShardId(0),
        replica: "n1".into(),
        status,
        error: None,
        counts: Default::default(),
        started_at: now,
        finished_at: now,
    };
    log.append(Topic::TaskEvents, &task_uid.to_string(), &format!("ev:{task_uid}"), Bytes::from(encode(&event))).await.unwrap();
}

fn documents(ids: &[&str]) -> Op {
    let documents = ids.iter().map(|id| json!({"id": id}).as_object().unwrap().clone()).collect();
    Op::Documents { method: DocumentMethod::Replace, primary_key: "id".into(), documents }
}

/// Every `cdc` record stored so far, all partitions.
async fn published(log: &dyn WriteLog) -> Vec<(String, CdcEvent)> {
    let mut all = Vec::new();
    for partition in 0..log.config().partitions(Topic::Cdc) {
        let mut reader = log.read_partition(Topic::Cdc, partition, 0).await.unwrap();
        loop {
            let batch = reader.next_batch(1000, Duration::from_millis(20)).await.unwrap();
            if batch.is_empty() {
                break;
            }
            all.extend(batch.into_iter().map(|r| (r.key, serde_json::from_slice(&r.payload).unwrap())));
        }
    }
    all
}

async fn wait_for_events(log: &dyn WriteLog, count: usize) -> Vec<(String, CdcEvent)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = published(log).await;
        if events.len() >= count || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn deleted_or_upserted(event: &CdcEvent) -> String {
    match &event.change {
        CdcChange::DocumentUpserted { document_id, .. } => format!("+{document_id}"),
        CdcChange::DocumentDeleted { document_id, .. } => format!("-{document_id}"),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn only_applied_changes_are_published_one_per_document_in_log_order() {
    let log: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(LogConfig::for_tests("rc")).unwrap());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(run_cdc(log.clone(), "rc", "m1", CdcOptions::default(), async {
        let _ = stop_rx.await;
    }));

    let applied = enqueue(log.as_ref(), documents(&["a", "b"])).await;
    let failed = enqueue(log.as_ref(), documents(&["bad"])).await;
    let canceled = enqueue(log.as_ref(), documents(&["never"])).await;
    let waiting = enqueue(log.as_ref(), Op::DeleteDocuments { ids: vec!["a".into()] }).await;
    log.append(Topic::Ops, "movies", "junk", Bytes::from_static(b"not json")).await.unwrap();
    let cancel = TaskChange::TasksCanceled { cancelation_uid: 99, tasks: vec![canceled], at: OffsetDateTime::now_utc() };
    log.append(Topic::Meta, "cancelations", "c", Bytes::from(encode(&MetaEnvelope::new(cancel)))).await.unwrap();
    report(log.as_ref(), failed, ReplicaStatus::Failed).await;
    report(log.as_ref(), applied, ReplicaStatus::Succeeded).await;

    let events = wait_for_events(log.as_ref(), 2).await;
    let seen: Vec<String> = events.iter().map(|(_, e)| deleted_or_upserted(e)).collect();
    assert_eq!(seen, ["+a", "+b"], "the delete waits for its task");
    assert!(events.iter().all(|(key, e)| key == "movies" && e.task_uid == applied));

    report(log.as_ref(), waiting, ReplicaStatus::Succeeded).await;
    let events = wait_for_events(log.as_ref(), 3).await;
    let seen: Vec<String> = events.iter().map(|(_, e)| deleted_or_upserted(e)).collect();
    assert_eq!(seen, ["+a", "+b", "-a"], "nothing of the failed or canceled task, the unreadable record skipped");
    let ids: Vec<&str> = events.iter().map(|(_, e)| e.event_id.as_str()).collect();
    let partition = events[0].1.position.partition;
    assert_eq!(ids, [format!("{partition}-0-0"), format!("{partition}-0-1"), format!("{partition}-3-0")]);

    let _ = stop_tx.send(());
    worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_restarted_publisher_resumes_after_its_commit_and_repeats_nothing_new() {
    // No broker de-duplication: a republished event would show.
    let config = LogConfig { dedup_window: Duration::ZERO, ..LogConfig::for_tests("rc") };
    let log: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(config).unwrap());
    let first = enqueue(log.as_ref(), documents(&["a"])).await;
    report(log.as_ref(), first, ReplicaStatus::Succeeded).await;
    for member in ["m1", "m2"] {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(run_cdc(log.clone(), "rc", member, CdcOptions::default(), async {
            let _ = stop_rx.await;
        }));
        wait_for_events(log.as_ref(), 1).await;
        // Give the second member time to publish anything it wrongly would.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let _ = stop_tx.send(());
        worker.await.unwrap().unwrap();
        let events = published(log.as_ref()).await;
        assert_eq!(events.len(), 1, "{member}: {events:?}");
    }
}

//! Change-data-capture: every operation appended to `ops` becomes one event on `cdc`, with the
//! same key (the index uid), so a consumer sees each index's changes in log order.

use std::time::Duration;

use bytes::Bytes;
use miroir_clients::log::{
    is_transient, retry_while_unavailable, FailurePause, GroupConsumer, LogError, NewRecord, Record, Topic, WriteLog,
};
use miroir_schemas::cdc::{CdcChange, CdcEvent, LogPosition, CDC_SCHEMA_VERSION};
use miroir_schemas::envelope::{decode, OpEnvelope};
use time::OffsetDateTime;

const POLL_MAX: usize = 500;
const POLL_WAIT: Duration = Duration::from_millis(500);

/// The `cdc` record for one `ops` record, or `None` for a record this build cannot read (it is
/// logged and skipped rather than blocking the stream). The dedup id is the ops position, so a
/// redelivered op publishes its event once.
pub fn cdc_record(record: &Record, now: OffsetDateTime) -> Option<NewRecord> {
    let envelope: OpEnvelope = match decode(&record.payload) {
        Ok(envelope) => envelope,
        Err(error) => {
            tracing::error!(?record.position, %error, "skipping an unreadable ops record");
            return None;
        }
    };
    let event = CdcEvent {
        schema_version: CDC_SCHEMA_VERSION,
        task_uid: envelope.task_uid,
        index_uid: envelope.index_uid.clone(),
        shard: Some(envelope.shard),
        position: LogPosition { partition: record.position.partition, offset: record.position.offset },
        applied_at: now,
        change: CdcChange::from_op(&envelope.op),
    };
    let payload = serde_json::to_vec(&event).expect("CDC events serialize");
    let dedup_id = format!("cdc:{}:{}", record.position.partition, record.position.offset);
    Some(NewRecord::new(record.key.clone(), dedup_id, Bytes::from(payload)))
}

/// Publishes CDC events until `stop` resolves; commits each batch only after its events are
/// durably stored, so a crash republishes (deduplicated) rather than loses. An unavailable log
/// is waited out, never a reason to exit: a batch whose publication failed is published again
/// (the dedup ids keep its events once) before anything newer is polled.
pub async fn run_cdc(log: &dyn WriteLog, group: &str, member: &str, stop: impl std::future::Future<Output = ()>) -> Result<(), LogError> {
    tokio::pin!(stop);
    let mut consumer = tokio::select! {
        () = &mut stop => return Ok(()),
        joined = retry_while_unavailable("joining the ops consumer group", || log.join_group(Topic::Ops, group, member)) => joined?,
    };
    let mut pause = FailurePause::default();
    let mut unpublished: Vec<Record> = Vec::new();
    loop {
        let step = if unpublished.is_empty() {
            tokio::select! {
                () = &mut stop => break,
                polled = consumer.poll(POLL_MAX, POLL_WAIT) => polled.map(|records| unpublished = records),
            }
        } else {
            // Not raced against `stop`: a batch is published and committed whole.
            publish_batch(log, consumer.as_mut(), &unpublished).await.map(|()| unpublished.clear())
        };
        match step {
            Ok(()) => pause.reset(),
            Err(error) if is_transient(&error) => {
                let delay = pause.next_delay();
                tracing::warn!(%error, ?delay, "following the ops log failed; retrying");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(error) => return Err(error),
        }
    }
    if let Err(error) = consumer.leave().await {
        // The group notices a member that left silently when its session expires.
        tracing::warn!(%error, "leaving the consumer group failed");
    }
    Ok(())
}

async fn publish_batch(log: &dyn WriteLog, consumer: &mut dyn GroupConsumer, records: &[Record]) -> Result<(), LogError> {
    if records.is_empty() {
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    let events: Vec<NewRecord> = records.iter().filter_map(|record| cdc_record(record, now)).collect();
    if !events.is_empty() {
        let published = events.len() as u64;
        log.append_many(Topic::Cdc, events).await?;
        metrics::counter!("miroir_cdc_events_published_total").increment(published);
    }
    let positions: Vec<_> = records.iter().map(|r| r.position).collect();
    consumer.commit(&positions).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_clients::log::{LogConfig, MemoryLog};
    use miroir_schemas::envelope::{encode, Op};
    use miroir_schemas::topology::ShardId;

    #[tokio::test]
    async fn every_op_becomes_one_cdc_event_with_its_key_and_position() {
        let log = MemoryLog::new(LogConfig::for_tests("rc")).unwrap();
        let envelope = OpEnvelope::new(7, Some("movies".into()), ShardId(2), Op::DeleteDocuments { ids: vec!["a".into()] });
        let position = log.append(Topic::Ops, "movies/shard-2", &envelope.dedup_id(), Bytes::from(encode(&envelope))).await.unwrap();
        log.append(Topic::Ops, "movies/shard-2", "junk", Bytes::from_static(b"not json")).await.unwrap();

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let worker = async {
            run_cdc(&log, "rc", "m1", async {
                let _ = stop_rx.await;
            })
            .await
        };
        let watcher = async {
            let partition = position.partition;
            // The event lands on the cdc partition of the op's key.
            let cdc_partitions = log.config().partitions(Topic::Cdc);
            let key_partition = miroir_clients::log::partition_for_key("movies/shard-2", cdc_partitions);
            let mut reader = log.read_partition(Topic::Cdc, key_partition, 0).await.unwrap();
            let mut got = Vec::new();
            while got.is_empty() {
                got = reader.next_batch(10, Duration::from_millis(200)).await.unwrap();
            }
            let _ = stop_tx.send(());
            (partition, got)
        };
        let (result, (partition, got)) = tokio::join!(worker, watcher);
        result.unwrap();
        assert_eq!(got.len(), 1, "the unreadable record is skipped");
        assert_eq!(got[0].key, "movies/shard-2");
        let event: serde_json::Value = serde_json::from_slice(&got[0].payload).unwrap();
        assert_eq!(event["taskUid"], 7);
        assert_eq!(event["change"], serde_json::json!({"type": "documentsDeleted", "ids": ["a"]}));
        assert_eq!(event["position"]["partition"], partition);
        assert_eq!(event["position"]["offset"], position.offset);
    }
}

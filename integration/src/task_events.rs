//! Playing the indexer in tests whose gateways run without one: the task events it would append.

use miroir_clients::log::{NewRecord, Topic, WriteLog};
use miroir_schemas::envelope::{encode, SCHEMA_VERSION};
use miroir_schemas::task_log::{ReplicaStatus, TaskEvent};
use miroir_schemas::topology::ShardId;
use time::OffsetDateTime;

/// The `task-events` record saying `replica` applied task `uid` on shard 0 (the only shard of a
/// one-shard cluster).
pub fn applied_on_shard_0_record(uid: u64, replica: &str) -> NewRecord {
    let now = OffsetDateTime::now_utc();
    let event = TaskEvent {
        schema_version: SCHEMA_VERSION,
        task_uid: uid,
        shard: ShardId(0),
        replica: replica.into(),
        status: ReplicaStatus::Succeeded,
        error: None,
        counts: Default::default(),
        started_at: now,
        finished_at: now,
    };
    let key = format!("{uid}/shard-0/{replica}");
    NewRecord::new(key.clone(), key, encode(&event))
}

/// Appends that `replica` applied task `uid` on shard 0.
pub async fn applied_on_shard_0(log: &dyn WriteLog, uid: u64, replica: &str) {
    log.append_many(Topic::TaskEvents, vec![applied_on_shard_0_record(uid, replica)]).await.expect("append a task event");
}

//! Every log a Miroir process opens is wrapped here, so append latency and failures are
//! measured once for all backends (`docs/metrics.md`).

use std::time::Instant;

use async_trait::async_trait;
use tracing::Instrument;

use super::{GroupConsumer, GroupPartition, LogConfig, LogError, NewRecord, PartitionReader, Position, Topic, WriteLog};

/// A [`WriteLog`] that records `miroir_log_append_seconds` around every append.
pub struct MeteredLog(pub Box<dyn WriteLog>);

#[async_trait]
impl WriteLog for MeteredLog {
    fn config(&self) -> &LogConfig {
        self.0.config()
    }

    fn max_payload_bytes(&self) -> usize {
        self.0.max_payload_bytes()
    }

    async fn append_many(&self, topic: Topic, records: Vec<NewRecord>) -> Result<Vec<Position>, LogError> {
        let started = Instant::now();
        let span = tracing::info_span!("log_append", topic = topic.name(), records = records.len());
        let stored = self.0.append_many(topic, records).instrument(span).await;
        let outcome = if stored.is_ok() { "stored" } else { "failed" };
        metrics::histogram!("miroir_log_append_seconds", "topic" => topic.name(), "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        stored
    }

    async fn end_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError> {
        self.0.end_offset(topic, partition).await
    }

    async fn first_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError> {
        self.0.first_offset(topic, partition).await
    }

    async fn trim(&self, topic: Topic, partition: u32, before: u64) -> Result<u64, LogError> {
        self.0.trim(topic, partition, before).await
    }

    async fn read_partition(&self, topic: Topic, partition: u32, from: u64) -> Result<Box<dyn PartitionReader>, LogError> {
        self.0.read_partition(topic, partition, from).await
    }

    async fn join_group(&self, topic: Topic, group: &str, member: &str) -> Result<Box<dyn GroupConsumer>, LogError> {
        self.0.join_group(topic, group, member).await
    }

    async fn group_status(&self, topic: Topic, group: &str) -> Result<Vec<GroupPartition>, LogError> {
        self.0.group_status(topic, group).await
    }
}

//! The write log: one trait, three implementations.
//!
//! Miroir keeps its state in a partitioned, durable log (see ARCHITECTURE.md). [`WriteLog`] is the
//! contract every backend meets identically — in-memory ([`MemoryLog`], for fast tests), NATS
//! JetStream ([`NatsLog`]) and Kafka ([`KafkaLog`]); `integration/tests/log_contract.rs` runs one
//! shared suite against all three.
//!
//! Semantics:
//! * `append` returns only after the broker stored the record durably, with its [`Position`].
//! * the same key always lands on the same partition ([`partition_for_key`]), in append order;
//!   offsets in a partition start at 0 and are contiguous (so on `tasks` a position is a task uid).
//! * a repeated dedup id inside the dedup window is stored once (see each backend for its window).
//! * group consumers split partitions; a partition's new owner starts at the group's committed
//!   position, so delivered-but-uncommitted records are delivered again (at-least-once).
//! * a payload above [`WriteLog::max_payload_bytes`] is refused with [`LogError::MessageTooLarge`].

mod assignment;
mod config;
mod dedup_window;
mod error;
mod kafka;
mod kafka_group;
mod memory;
mod metered;
mod nats;
mod nats_group;
mod nats_reader;
mod patience;
mod record;
mod tail;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub use assignment::assign_partitions;
pub use config::{key_for_partition, partition_for_key, LogConfig, Topic, TopicRetention, WEBHOOK_CALLS_GROUP};
pub(crate) use config::{BROKER_MESSAGE_BYTES, ENVELOPE_RESERVE_BYTES};
pub use error::LogError;
pub use kafka::KafkaLog;
pub(crate) use kafka::{client_config as kafka_client_config, kafka_error};
pub use memory::MemoryLog;
pub use metered::MeteredLog;
pub use nats::NatsLog;
pub(crate) use nats::{connect_jetstream, unavailable};
pub use patience::{is_transient, retry_while_unavailable, FailurePause};
pub use record::{GroupPartition, NewRecord, Position, Record};
pub use tail::tail_partition;

/// The partitioned, durable log Miroir writes its state to.
#[async_trait]
pub trait WriteLog: Send + Sync + 'static {
    /// Names, partition counts and timings this log was opened with.
    fn config(&self) -> &LogConfig;

    /// Largest payload an append accepts (bytes), with key and dedup id up to
    /// [`config::MAX_KEY_BYTES`] each. Callers split bigger batches below this.
    fn max_payload_bytes(&self) -> usize;

    /// Stores one record and returns its position once the broker acknowledged it durably.
    async fn append(&self, topic: Topic, key: &str, dedup_id: &str, payload: Bytes) -> Result<Position, LogError> {
        let mut positions = self.append_many(topic, vec![NewRecord::new(key, dedup_id, payload)]).await?;
        positions.pop().ok_or_else(|| LogError::Broker("the append returned no position".into()))
    }

    /// Stores many records with their acknowledgements in flight concurrently; positions come back
    /// in input order. Records with the same key keep their input order. On error, some records
    /// may be stored: retrying with the same dedup ids stores them once.
    async fn append_many(&self, topic: Topic, records: Vec<NewRecord>) -> Result<Vec<Position>, LogError>;

    /// The offset the next record appended to this partition will get (0 when empty).
    async fn end_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError>;

    /// The offset of the oldest record retention kept in this partition (0 when nothing was
    /// ever trimmed; the end offset when everything was).
    async fn first_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError>;

    /// Removes the records below `before` (clamped to the end offset, so offsets stay
    /// contiguous) and returns the partition's first kept offset afterwards. Idempotent; a
    /// `before` at or below the first kept offset removes nothing.
    async fn trim(&self, topic: Topic, partition: u32, before: u64) -> Result<u64, LogError>;

    /// Reads one partition from `from` (inclusive) onwards and keeps tailing it. No group, no
    /// commits: for replica catch-up replays and for gateways folding `tasks` / `meta`.
    /// Records below the first kept offset are never skipped silently: opening at such a
    /// `from`, or a tail that retention overtakes, fails with [`LogError::Trimmed`].
    async fn read_partition(&self, topic: Topic, partition: u32, from: u64) -> Result<Box<dyn PartitionReader>, LogError>;

    /// Joins consumer group `group` on `topic` as `member`. Members of a group split the topic's
    /// partitions; each owner starts at the group's committed position.
    async fn join_group(&self, topic: Topic, group: &str, member: &str) -> Result<Box<dyn GroupConsumer>, LogError>;

    /// Where consumer group `group` stands on `topic`, every partition in order: its committed
    /// position and current owner. Only reads: it neither joins the group nor creates it (a group
    /// nobody joined yet stands at 0 with no owner). For operators' lag reports.
    async fn group_status(&self, topic: Topic, group: &str) -> Result<Vec<GroupPartition>, LogError>;
}

/// A cursor on one partition.
#[async_trait]
pub trait PartitionReader: Send {
    /// Waits up to `wait` for at least one record, then returns up to `max` consecutive records.
    /// An empty batch means nothing new arrived in time.
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError>;
}

/// One member of a consumer group.
#[async_trait]
pub trait GroupConsumer: Send {
    /// Waits up to `wait` for records of the partitions this member owns; returns up to `max`.
    /// Per partition, records come in offset order.
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError>;

    /// Marks every record up to and including each position as processed (durably, when this
    /// returns). Positions of partitions this member no longer owns are ignored: their new owner
    /// has started from the previous commit and will deliver those records again.
    async fn commit(&mut self, upto: &[Position]) -> Result<(), LogError>;

    /// Partitions this member owns right now (changes as members join and leave).
    fn assignment(&self) -> Vec<u32>;

    /// Leaves the group so the remaining members take over at once. Dropping a consumer without
    /// calling this behaves like a crash on NATS (its partitions move after the lease expires)
    /// and like a clean leave on Kafka (librdkafka closes the consumer on drop).
    async fn leave(self: Box<Self>) -> Result<(), LogError>;
}

//! NATS JetStream backend.
//!
//! Layout: one stream per partition, `<prefix>_<topic>_<p>` on subject `<prefix>.<topic>.<p>`, file
//! storage, `duplicate_window` = [`LogConfig::dedup_window`]. One stream per partition makes a
//! record's offset its stream sequence minus one: contiguous from 0 (task uids). The key travels in
//! the `Miroir-Key` header, the dedup id in `Nats-Msg-Id` (server-side dedup, also across server
//! restarts within the window). Consumer groups live in `nats_group.rs`.

use std::collections::{HashSet, VecDeque};
use std::fmt::Display;
use std::future::IntoFuture;

use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use async_nats::jetstream::{self, Context};
use async_trait::async_trait;
use tokio::sync::Mutex;

use super::config::{check_append, ENVELOPE_RESERVE_BYTES};
use super::nats_group::NatsGroupConsumer;
use super::nats_reader::{open_ordered, NatsReader};
use super::{partition_for_key, GroupConsumer, GroupPartition, LogConfig, LogError, NewRecord, PartitionReader, Position, Topic, WriteLog};

pub(crate) const KEY_HEADER: &str = "Miroir-Key";

/// Publish acks awaited at once by `append_many` (the context allows 5000 before backpressure).
const ACKS_IN_FLIGHT: usize = 2048;

pub struct NatsLog {
    js: Context,
    config: LogConfig,
    max_payload: usize,
    /// Topics whose partition streams exist (created on first use).
    ready_topics: Mutex<HashSet<Topic>>,
}

pub(crate) fn stream_name(config: &LogConfig, topic: Topic, partition: u32) -> String {
    format!("{}_{}_{partition}", config.prefix, topic.name())
}

fn subject(config: &LogConfig, topic: Topic, partition: u32) -> String {
    format!("{}.{}.{partition}", config.prefix, topic.name())
}

pub(crate) fn unavailable(error: impl Display) -> LogError {
    LogError::Unavailable(error.to_string())
}

/// A client and its JetStream context on `url`, timed by `config` (validated first).
pub(crate) async fn connect_jetstream(url: &str, config: &LogConfig) -> Result<(async_nats::Client, Context), LogError> {
    config.validate()?;
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(config.request_timeout)
        .request_timeout(Some(config.request_timeout))
        .connect(url)
        .await
        .map_err(unavailable)?;
    let js = jetstream::ContextBuilder::new().timeout(config.request_timeout).ack_timeout(config.request_timeout).build(client.clone());
    Ok((client, js))
}

impl NatsLog {
    /// Connects to `url` (e.g. `nats://127.0.0.1:4222`). Streams are created on first use.
    pub async fn connect(url: &str, config: LogConfig) -> Result<Self, LogError> {
        let (client, js) = connect_jetstream(url, &config).await?;
        let max_payload = client.server_info().max_payload.saturating_sub(ENVELOPE_RESERVE_BYTES);
        Ok(Self { js, config, max_payload, ready_topics: Mutex::new(HashSet::new()) })
    }

    async fn ensure_topic(&self, topic: Topic) -> Result<(), LogError> {
        let mut ready = self.ready_topics.lock().await;
        if ready.contains(&topic) {
            return Ok(());
        }
        // Only `cdc` has a broker-side limit; `ops` is trimmed by the reconciler (docs/retention.md).
        let retention = if topic == Topic::Cdc { self.config.cdc_retention } else { Default::default() };
        for partition in 0..self.config.partitions(topic) {
            self.js
                .get_or_create_stream(StreamConfig {
                    name: stream_name(&self.config, topic, partition),
                    subjects: vec![subject(&self.config, topic, partition)],
                    storage: StorageType::File,
                    // JetStream refuses a dedup window longer than the stream's max age (10052).
                    duplicate_window: retention.max_age.map_or(self.config.dedup_window, |age| age.min(self.config.dedup_window)),
                    max_age: retention.max_age.unwrap_or_default(),
                    max_bytes: retention.max_bytes.map_or(-1, |bytes| bytes.min(i64::MAX as u64) as i64),
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?;
        }
        ready.insert(topic);
        Ok(())
    }

    /// The partition's first kept offset and end offset. A stream's first sequence is 0 while it
    /// is new, the oldest kept sequence after that, and last + 1 once everything was purged.
    async fn stream_state(&self, topic: Topic, partition: u32) -> Result<(u64, u64), LogError> {
        self.config.check_partition(topic, partition)?;
        self.ensure_topic(topic).await?;
        let stream = self.js.get_stream(stream_name(&self.config, topic, partition)).await.map_err(unavailable)?;
        let state = stream.get_info().await.map_err(unavailable)?.state;
        Ok((state.first_sequence.saturating_sub(1), state.last_sequence))
    }

    fn publish_error(&self, error: PublishError, size: usize) -> LogError {
        match error.kind() {
            PublishErrorKind::MaxPayloadExceeded => LogError::MessageTooLarge { size, limit: self.max_payload },
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe | PublishErrorKind::Other => unavailable(error),
            _ => LogError::Broker(error.to_string()),
        }
    }
}

#[async_trait]
impl WriteLog for NatsLog {
    fn config(&self) -> &LogConfig {
        &self.config
    }

    fn max_payload_bytes(&self) -> usize {
        self.max_payload
    }

    async fn append_many(&self, topic: Topic, records: Vec<NewRecord>) -> Result<Vec<Position>, LogError> {
        for record in &records {
            check_append(&record.key, &record.dedup_id, record.payload.len(), self.max_payload)?;
        }
        self.ensure_topic(topic).await?;
        let partitions = self.config.partitions(topic);
        let mut positions = Vec::with_capacity(records.len());
        let mut in_flight = VecDeque::new();
        // Sends go out one after another on one connection (so per-key order holds); only the
        // acks are awaited concurrently, in a sliding window.
        for record in records {
            let partition = partition_for_key(&record.key, partitions);
            let size = record.payload.len();
            let message =
                PublishMessage::build().payload(record.payload).message_id(&record.dedup_id).header(KEY_HEADER, record.key.as_str());
            let ack =
                self.js.send_publish(subject(&self.config, topic, partition), message).await.map_err(|e| self.publish_error(e, size))?;
            in_flight.push_back((partition, size, ack.into_future()));
            if in_flight.len() >= ACKS_IN_FLIGHT {
                positions.push(self.settle(in_flight.pop_front().expect("non-empty")).await?);
            }
        }
        while let Some(pending) = in_flight.pop_front() {
            positions.push(self.settle(pending).await?);
        }
        Ok(positions)
    }

    async fn end_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError> {
        Ok(self.stream_state(topic, partition).await?.1)
    }

    async fn first_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError> {
        Ok(self.stream_state(topic, partition).await?.0)
    }

    async fn trim(&self, topic: Topic, partition: u32, before: u64) -> Result<u64, LogError> {
        let (first, end) = self.stream_state(topic, partition).await?;
        // A purge past the last sequence would move the stream's next sequence on, leaving a
        // hole in the offsets: never past the end.
        let before = before.min(end);
        if before <= first {
            return Ok(first);
        }
        let stream = self.js.get_stream(stream_name(&self.config, topic, partition)).await.map_err(unavailable)?;
        // Purging "up to sequence S" keeps S and later: offset `before` is sequence `before + 1`.
        stream.purge().sequence(before + 1).await.map_err(unavailable)?;
        Ok(self.stream_state(topic, partition).await?.0)
    }

    async fn read_partition(&self, topic: Topic, partition: u32, from: u64) -> Result<Box<dyn PartitionReader>, LogError> {
        let (first, _) = self.stream_state(topic, partition).await?;
        if from < first {
            return Err(LogError::Trimmed { first_kept: first });
        }
        let messages = open_ordered(&self.js, &self.config, topic, partition, from).await?;
        Ok(Box::new(NatsReader { messages, partition, next: from }))
    }

    async fn join_group(&self, topic: Topic, group: &str, member: &str) -> Result<Box<dyn GroupConsumer>, LogError> {
        self.ensure_topic(topic).await?;
        let consumer = NatsGroupConsumer::join(self.js.clone(), self.config.clone(), topic, group, member).await?;
        Ok(Box::new(consumer))
    }

    async fn group_status(&self, topic: Topic, group: &str) -> Result<Vec<GroupPartition>, LogError> {
        super::nats_group::group_status(&self.js, &self.config, topic, group).await
    }
}

type AckFuture = <jetstream::context::PublishAckFuture as IntoFuture>::IntoFuture;

impl NatsLog {
    async fn settle(&self, (partition, size, ack): (u32, usize, AckFuture)) -> Result<Position, LogError> {
        let ack = ack.await.map_err(|e| self.publish_error(e, size))?;
        Ok(Position { partition, offset: ack.sequence - 1 })
    }
}

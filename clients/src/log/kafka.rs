//! Kafka backend (rdkafka / librdkafka).
//!
//! Layout: topic `<prefix>.<topic>` with the configured partition count, created at connect.
//! Miroir picks the partition itself ([`partition_for_key`]). The key is the Kafka key; the dedup
//! id travels in the `miroir-dedup-id` header.
//!
//! Dedup: the producer is idempotent (`enable.idempotence`, `acks=all`), so librdkafka's own
//! retries never store a record twice. On top, an application retry of the same dedup id through
//! the same `KafkaLog` within [`LogConfig::dedup_window`] returns the first append's position
//! without sending anything (an in-flight first attempt is shared). Kafka itself keeps no dedup
//! index: the same dedup id appended again by another process (or after a restart) is stored
//! twice; consumers must treat a repeated dedup id as already applied (Miroir's ops are
//! idempotent upserts/deletes and task records are keyed by dedup id).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::config::{check_append, BROKER_MESSAGE_BYTES, ENVELOPE_RESERVE_BYTES};
use super::dedup_window::DedupWindow;
use super::kafka_group::KafkaGroupConsumer;
use super::{
    partition_for_key, GroupConsumer, GroupPartition, LogConfig, LogError, NewRecord, PartitionReader, Position, Record, Topic, WriteLog,
};

pub(crate) const DEDUP_HEADER: &str = "miroir-dedup-id";

type SharedAppend = Shared<BoxFuture<'static, Result<Position, LogError>>>;

pub struct KafkaLog {
    bootstrap: String,
    config: LogConfig,
    producer: FutureProducer,
    /// For watermarks (`first_offset`, `end_offset`).
    metadata: Arc<BaseConsumer>,
    /// For `DeleteRecords` (`trim`).
    admin: AdminClient<DefaultClientContext>,
    recent: Mutex<DedupWindow<SharedAppend>>,
}

pub(crate) fn kafka_error(error: KafkaError) -> LogError {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) | Some(RDKafkaErrorCode::InvalidMessageSize) => {
            LogError::MessageTooLarge { size: 0, limit: BROKER_MESSAGE_BYTES - ENVELOPE_RESERVE_BYTES }
        }
        _ => LogError::Unavailable(error.to_string()),
    }
}

/// Client settings shared by producers and consumers.
pub(crate) fn client_config(bootstrap: &str, config: &LogConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", bootstrap)
        .set("socket.timeout.ms", config.request_timeout.as_millis().max(10).to_string())
        .set("message.max.bytes", (BROKER_MESSAGE_BYTES + 64 * 1024).to_string())
        .set("log_level", "3");
    client
}

impl KafkaLog {
    /// The partition's (low, high) watermarks: first kept offset and end offset.
    async fn watermarks(&self, topic: Topic, partition: u32) -> Result<(u64, u64), LogError> {
        self.config.check_partition(topic, partition)?;
        self.partition_watermarks(topic, partition).fetch().await
    }

    fn partition_watermarks(&self, topic: Topic, partition: u32) -> Watermarks {
        Watermarks {
            metadata: Arc::clone(&self.metadata),
            topic: self.config.qualified_name(topic),
            partition,
            timeout: self.config.request_timeout,
        }
    }

    /// Connects to `bootstrap` (`host:port[,…]`) and creates the five topics if missing.
    pub async fn connect(bootstrap: &str, config: LogConfig) -> Result<Self, LogError> {
        config.validate()?;
        let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, &config).create().map_err(kafka_error)?;
        let names: Vec<String> = Topic::ALL.iter().map(|t| config.qualified_name(*t)).collect();
        let cdc_age = config.cdc_retention.max_age.map(|age| age.as_millis().to_string());
        let cdc_bytes = config.cdc_retention.max_bytes.map(|bytes| bytes.to_string());
        let new_topics: Vec<NewTopic<'_>> = Topic::ALL
            .iter()
            .zip(&names)
            .map(|(topic, name)| {
                let new = NewTopic::new(name, config.partitions(*topic) as i32, TopicReplication::Fixed(1));
                // Only `cdc` has a broker-side limit; `ops` is trimmed by the reconciler.
                match topic {
                    Topic::Cdc => {
                        let new = match &cdc_age {
                            Some(ms) => new.set("retention.ms", ms),
                            None => new,
                        };
                        match &cdc_bytes {
                            Some(bytes) => new.set("retention.bytes", bytes),
                            None => new,
                        }
                    }
                    _ => new,
                }
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(config.request_timeout));
        let results = admin.create_topics(&new_topics, &options).await.map_err(kafka_error)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(LogError::Unavailable(format!("creating topic {name}: {code}"))),
            }
        }
        let producer: FutureProducer = client_config(bootstrap, &config)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "1000000")
            .set("message.timeout.ms", config.request_timeout.as_millis().max(10).to_string())
            .create()
            .map_err(kafka_error)?;
        let metadata: BaseConsumer = client_config(bootstrap, &config).create().map_err(kafka_error)?;
        Ok(Self {
            bootstrap: bootstrap.to_owned(),
            recent: Mutex::new(DedupWindow::new(config.dedup_window)),
            config,
            producer,
            metadata: Arc::new(metadata),
            admin,
        })
    }

    /// Enqueues one record (in call order, so per-key order holds) and returns its delivery.
    async fn enqueue(&self, topic: Topic, record: NewRecord) -> Result<SharedAppend, LogError> {
        let dedup_key = format!("{}\u{0}{}", topic.name(), record.dedup_id);
        if let Some(first) = self.lock_recent().get(&dedup_key, Instant::now()) {
            return Ok(first);
        }
        let partition = partition_for_key(&record.key, self.config.partitions(topic));
        let name = self.config.qualified_name(topic);
        let headers = OwnedHeaders::new().insert(Header { key: DEDUP_HEADER, value: Some(record.dedup_id.as_str()) });
        let mut pending =
            FutureRecord::to(&name).partition(partition as i32).key(record.key.as_str()).payload(record.payload.as_ref()).headers(headers);
        let delivery = loop {
            match self.producer.send_result(pending) {
                Ok(delivery) => break delivery,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The local queue is full: let deliveries drain, then retry the same record.
                    pending = back;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err((error, _)) => return Err(kafka_error(error)),
            }
        };
        let size = record.payload.len();
        let append = deliver(delivery, size).boxed().shared();
        self.lock_recent().insert(&dedup_key, append.clone(), Instant::now());
        Ok(append)
    }

    fn lock_recent(&self) -> std::sync::MutexGuard<'_, DedupWindow<SharedAppend>> {
        self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget_failed(&self, topic: Topic, dedup_id: &str) {
        self.lock_recent().remove(&format!("{}\u{0}{dedup_id}", topic.name()));
    }
}

async fn deliver(delivery: DeliveryFuture, size: usize) -> Result<Position, LogError> {
    match delivery.await {
        Ok(Ok(delivered)) => Ok(Position { partition: delivered.partition as u32, offset: delivered.offset as u64 }),
        Ok(Err((error, _))) => match kafka_error(error) {
            LogError::MessageTooLarge { limit, .. } => Err(LogError::MessageTooLarge { size, limit }),
            other => Err(other),
        },
        Err(_) => Err(LogError::Unavailable("the Kafka producer was dropped".into())),
    }
}

#[async_trait]
impl WriteLog for KafkaLog {
    fn config(&self) -> &LogConfig {
        &self.config
    }

    fn max_payload_bytes(&self) -> usize {
        BROKER_MESSAGE_BYTES - ENVELOPE_RESERVE_BYTES
    }

    async fn append_many(&self, topic: Topic, records: Vec<NewRecord>) -> Result<Vec<Position>, LogError> {
        for record in &records {
            check_append(&record.key, &record.dedup_id, record.payload.len(), self.max_payload_bytes())?;
        }
        let mut pending = Vec::with_capacity(records.len());
        for record in records {
            let dedup_id = record.dedup_id.clone();
            pending.push((dedup_id, self.enqueue(topic, record).await?));
        }
        let mut positions = Vec::with_capacity(pending.len());
        let mut first_error = None;
        for (dedup_id, append) in pending {
            match append.await {
                Ok(position) => positions.push(position),
                Err(error) => {
                    // Not known to be stored: a retry must really send again.
                    self.forget_failed(topic, &dedup_id);
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(positions),
        }
    }

    async fn end_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError> {
        Ok(self.watermarks(topic, partition).await?.1)
    }

    async fn first_offset(&self, topic: Topic, partition: u32) -> Result<u64, LogError> {
        Ok(self.watermarks(topic, partition).await?.0)
    }

    async fn trim(&self, topic: Topic, partition: u32, before: u64) -> Result<u64, LogError> {
        let (first, end) = self.watermarks(topic, partition).await?;
        let before = before.min(end);
        if before <= first {
            return Ok(first);
        }
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&self.config.qualified_name(topic), partition as i32, Offset::Offset(before as i64))
            .map_err(kafka_error)?;
        let options = AdminOptions::new().operation_timeout(Some(self.config.request_timeout));
        let refused = |error: KafkaError| {
            // Tansu 0.6.0 advertises DeleteRecords but its memory engine panics on it and drops
            // the connection, which librdkafka reports as a transport failure (docs/retention.md).
            tracing::warn!(topic = topic.name(), partition, before, %error, "the Kafka broker did not delete records; nothing trimmed");
            LogError::Broker(format!("DeleteRecords on {} partition {partition} refused: {error}", topic.name()))
        };
        let result = self.admin.delete_records(&offsets, &options).await.map_err(refused)?;
        for element in result.elements() {
            if let Err(error) = element.error() {
                return Err(refused(error));
            }
        }
        Ok(self.watermarks(topic, partition).await?.0)
    }

    async fn read_partition(&self, topic: Topic, partition: u32, from: u64) -> Result<Box<dyn PartitionReader>, LogError> {
        let (first, _) = self.watermarks(topic, partition).await?;
        if from < first {
            return Err(LogError::Trimmed { first_kept: first });
        }
        // A group id is required by librdkafka, but `assign` never joins or commits to it.
        let consumer: StreamConsumer = client_config(&self.bootstrap, &self.config)
            .set("group.id", format!("{}-reader-{}", self.config.prefix, uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // An offset retention removed meanwhile is an error, never a silent jump.
            .set("auto.offset.reset", "error")
            .create()
            .map_err(kafka_error)?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&self.config.qualified_name(topic), partition as i32, Offset::Offset(from as i64))
            .map_err(kafka_error)?;
        consumer.assign(&assignment).map_err(kafka_error)?;
        let watermarks = self.partition_watermarks(topic, partition);
        Ok(Box::new(KafkaReader { consumer, next: from, watermarks }))
    }

    async fn join_group(&self, topic: Topic, group: &str, member: &str) -> Result<Box<dyn GroupConsumer>, LogError> {
        let consumer = KafkaGroupConsumer::join(&self.bootstrap, &self.config, topic, group, member)?;
        Ok(Box::new(consumer))
    }

    async fn group_status(&self, topic: Topic, group: &str) -> Result<Vec<GroupPartition>, LogError> {
        let (bootstrap, config, group) = (self.bootstrap.clone(), self.config.clone(), group.to_owned());
        tokio::task::spawn_blocking(move || super::kafka_group::group_status(&bootstrap, &config, topic, &group))
            .await
            .map_err(|e| LogError::Broker(e.to_string()))?
    }
}

pub(crate) fn to_record(message: &BorrowedMessage<'_>) -> Record {
    let dedup_id = message
        .headers()
        .and_then(|headers| headers.iter().find(|h| h.key == DEDUP_HEADER))
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    Record {
        position: Position { partition: message.partition() as u32, offset: message.offset() as u64 },
        key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
        dedup_id,
        payload: Bytes::copy_from_slice(message.payload().unwrap_or_default()),
    }
}

/// Takes up to `max` records: the first may take up to `wait`, the rest only if already fetched.
pub(crate) async fn receive_batch(consumer: &StreamConsumer, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
    let mut out = Vec::new();
    let mut budget = wait;
    while out.len() < max {
        match tokio::time::timeout(budget, consumer.recv()).await {
            Ok(Ok(message)) => out.push(to_record(&message)),
            Ok(Err(error)) if out.is_empty() => return Err(kafka_error(error)),
            Ok(Err(_)) | Err(_) => break,
        }
        budget = Duration::ZERO;
    }
    Ok(out)
}

struct KafkaReader {
    consumer: StreamConsumer,
    /// The offset the next record must have (a gap means retention removed records).
    next: u64,
    /// Where the partition starts now, for the error of a reader retention overtook.
    watermarks: Watermarks,
}

/// Fetches one partition's (low, high) watermarks: its first kept offset and its end.
struct Watermarks {
    metadata: Arc<BaseConsumer>,
    topic: String,
    partition: u32,
    timeout: Duration,
}

impl Watermarks {
    async fn fetch(&self) -> Result<(u64, u64), LogError> {
        let (metadata, topic, partition, timeout) = (Arc::clone(&self.metadata), self.topic.clone(), self.partition as i32, self.timeout);
        let (low, high) = tokio::task::spawn_blocking(move || metadata.fetch_watermarks(&topic, partition, timeout))
            .await
            .map_err(|e| LogError::Broker(e.to_string()))?
            .map_err(kafka_error)?;
        Ok((low.max(0) as u64, high.max(0) as u64))
    }

    /// The error of a reader whose next offset retention removed.
    async fn trimmed(&self) -> LogError {
        match self.fetch().await {
            Ok((first_kept, _)) => LogError::Trimmed { first_kept },
            Err(error) => error,
        }
    }
}

#[async_trait]
impl PartitionReader for KafkaReader {
    async fn next_batch(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let records = match receive_batch(&self.consumer, max, wait).await {
            // `auto.offset.reset=error` reports the removed position as a consumer error.
            Err(LogError::Unavailable(message)) if message.contains("Offset out of range") || message.contains("offset reset") => {
                return Err(self.watermarks.trimmed().await);
            }
            other => other?,
        };
        if let Some(first) = records.first().filter(|r| r.position.offset > self.next) {
            return Err(LogError::Trimmed { first_kept: first.position.offset });
        }
        if let Some(last) = records.last() {
            self.next = last.position.offset + 1;
        }
        Ok(records)
    }
}

//! Snapshots on Kafka: two single-partition topics, `<prefix>.snapshot-chunks` (the bytes, in
//! chunks under the broker's message limit) and `<prefix>.snapshots` (one small manifest per
//! snapshot, keyed by its name; a tombstone deletes it). Layout and checks: [`super::kafka_layout`].
//!
//! Both topics are created with `cleanup.policy=compact`, so on Kafka and Redpanda a deleted
//! snapshot's records (tombstoned) and replaced manifests go away; a broker that refuses the
//! setting (Tansu) gets plain topics and keeps everything (the test broker keeps it in memory).
//! Listing reads the manifest topic only; reading a snapshot reads the chunk topic between the
//! offsets its manifest names.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::kafka_layout::{chunk_key, live_manifests, Manifest, ManifestRecord, Summing};
use super::{SnapshotName, SnapshotReader, SnapshotStore};
use crate::log::{kafka_client_config, kafka_error, LogConfig, LogError, BROKER_MESSAGE_BYTES, ENVELOPE_RESERVE_BYTES};

/// Largest chunk: the log's own payload limit, so a chunk fits wherever a log record fits.
const CHUNK_BYTES: usize = BROKER_MESSAGE_BYTES - ENVELOPE_RESERVE_BYTES;

pub struct KafkaSnapshotStore {
    bootstrap: String,
    config: LogConfig,
    manifests: String,
    chunks: String,
    producer: FutureProducer,
    metadata: Arc<BaseConsumer>,
}

/// A record read back: its key and payload (`None`: a tombstone).
struct Read {
    key: String,
    payload: Option<Vec<u8>>,
}

impl KafkaSnapshotStore {
    /// Connects to `bootstrap` and creates the two snapshot topics if missing.
    pub async fn connect(bootstrap: &str, config: &LogConfig) -> Result<Self, LogError> {
        let manifests = format!("{}.snapshots", config.prefix);
        let chunks = format!("{}.snapshot-chunks", config.prefix);
        let admin: AdminClient<DefaultClientContext> = kafka_client_config(bootstrap, config).create().map_err(kafka_error)?;
        for topic in [&manifests, &chunks] {
            create_topic(&admin, topic, config).await?;
        }
        let producer: FutureProducer = kafka_client_config(bootstrap, config)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", config.request_timeout.as_millis().max(10).to_string())
            .create()
            .map_err(kafka_error)?;
        let metadata: BaseConsumer = kafka_client_config(bootstrap, config).create().map_err(kafka_error)?;
        Ok(Self { bootstrap: bootstrap.to_owned(), config: config.clone(), manifests, chunks, producer, metadata: Arc::new(metadata) })
    }

    async fn send(&self, topic: &str, key: &str, payload: Option<&[u8]>) -> Result<u64, LogError> {
        let mut record = FutureRecord::<str, [u8]>::to(topic).partition(0).key(key);
        if let Some(payload) = payload {
            record = record.payload(payload);
        }
        match self.producer.send(record, self.config.request_timeout).await {
            Ok(delivered) => Ok(delivered.offset as u64),
            Err((error, _)) => Err(kafka_error(error)),
        }
    }

    /// The offsets `[low, high)` partition 0 of `topic` holds.
    async fn watermarks(&self, topic: &str) -> Result<(u64, u64), LogError> {
        let (metadata, topic, timeout) = (Arc::clone(&self.metadata), topic.to_owned(), self.config.request_timeout);
        let (low, high) = tokio::task::spawn_blocking(move || metadata.fetch_watermarks(&topic, 0, timeout))
            .await
            .map_err(|error| LogError::Broker(error.to_string()))?
            .map_err(kafka_error)?;
        Ok((low.max(0) as u64, high.max(0) as u64))
    }

    /// Every record of `topic` from `from` up to `until` (exclusive) that is still stored.
    async fn read(&self, topic: &str, from: u64, until: u64) -> Result<Vec<Read>, LogError> {
        let mut out = Vec::new();
        if from >= until {
            return Ok(out);
        }
        let consumer: StreamConsumer = kafka_client_config(&self.bootstrap, &self.config)
            .set("group.id", format!("{}-snapshots-{}", self.config.prefix, uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .create()
            .map_err(kafka_error)?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(topic, 0, Offset::Offset(from as i64)).map_err(kafka_error)?;
        consumer.assign(&assignment).map_err(kafka_error)?;
        // Records may be compacted away: stop at the first record at or past `until`, or at the
        // partition's end.
        let patience = self.config.request_timeout.max(Duration::from_secs(1));
        loop {
            let message = match tokio::time::timeout(patience, consumer.recv()).await {
                Ok(Ok(message)) => message,
                Ok(Err(KafkaError::PartitionEOF(_))) => return Ok(out),
                Ok(Err(error)) => return Err(kafka_error(error)),
                Err(_) => {
                    return Err(LogError::Unavailable(format!("reading {topic}: nothing arrived for {patience:?} before offset {until}")));
                }
            };
            let offset = message.offset() as u64;
            if offset >= until {
                return Ok(out);
            }
            out.push(Read {
                key: message.key().map(|key| String::from_utf8_lossy(key).into_owned()).unwrap_or_default(),
                payload: message.payload().map(<[u8]>::to_vec),
            });
            if offset + 1 >= until {
                return Ok(out);
            }
        }
    }

    /// The snapshots the manifest topic holds now.
    async fn manifests(&self) -> Result<BTreeMap<SnapshotName, Manifest>, LogError> {
        let (low, high) = self.watermarks(&self.manifests).await?;
        let records = self.read(&self.manifests, low, high).await?;
        Ok(live_manifests(records.iter().map(|record| ManifestRecord { key: &record.key, payload: record.payload.as_deref() })))
    }

    /// Tombstones the chunks of `manifest` (so compaction removes them).
    async fn forget_chunks(&self, manifest: &Manifest) -> Result<(), LogError> {
        for index in 0..manifest.chunks {
            self.send(&self.chunks, &manifest.chunk_key(index), None).await?;
        }
        Ok(())
    }
}

/// Creates `topic` (one partition) compacted, or plain where the broker refuses the setting.
async fn create_topic(admin: &AdminClient<DefaultClientContext>, topic: &str, config: &LogConfig) -> Result<(), LogError> {
    let options = AdminOptions::new().operation_timeout(Some(config.request_timeout));
    let compacted = NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    let plain = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    let mut refusal = None;
    for new_topic in [compacted, plain] {
        let results = admin.create_topics([&new_topic], &options).await.map_err(kafka_error)?;
        match results.into_iter().next() {
            Some(Ok(_)) | Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => return Ok(()),
            Some(Err((_, code))) => {
                tracing::info!(topic, %code, "the broker refused a compacted snapshot topic; trying a plain one");
                refusal = Some(code);
            }
        }
    }
    Err(LogError::Unavailable(format!("creating topic {topic}: {}", refusal.map_or_else(String::new, |code| code.to_string()))))
}

#[async_trait]
impl SnapshotStore for KafkaSnapshotStore {
    async fn put_reader(&self, name: &SnapshotName, body: &mut (dyn AsyncRead + Send + Unpin)) -> Result<(), LogError> {
        let replaced = self.manifests().await?.remove(name);
        let write = uuid::Uuid::new_v4().simple().to_string();
        let mut summing = Summing::default();
        let mut offsets = Vec::new();
        // One chunk in memory at a time: full chunks until a shorter one (an empty snapshot is
        // one empty chunk; an empty read after a full chunk is no chunk).
        loop {
            let mut piece = Vec::with_capacity(CHUNK_BYTES);
            (&mut *body)
                .take(CHUNK_BYTES as u64)
                .read_to_end(&mut piece)
                .await
                .map_err(|error| LogError::Broker(format!("reading snapshot {name} to store: {error}")))?;
            if piece.is_empty() && !offsets.is_empty() {
                break;
            }
            summing.update(&piece);
            offsets.push(self.send(&self.chunks, &chunk_key(&write, offsets.len() as u32), Some(&piece)).await?);
            if piece.len() < CHUNK_BYTES {
                break;
            }
        }
        let (first, last) = (offsets.first().copied().unwrap_or(0), offsets.last().copied().unwrap_or(0));
        let manifest = Manifest::of(&summing, &write, offsets.len() as u32, first, last);
        self.send(&self.manifests, &name.to_string(), Some(&manifest.to_bytes())).await?;
        if let Some(replaced) = replaced {
            self.forget_chunks(&replaced).await?;
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SnapshotName>, LogError> {
        Ok(self.manifests().await?.into_keys().collect())
    }

    async fn get(&self, name: &SnapshotName) -> Result<Option<Bytes>, LogError> {
        let Some(manifest) = self.manifests().await?.remove(name) else { return Ok(None) };
        let records = self.read(&self.chunks, manifest.first_offset, manifest.last_offset + 1).await?;
        let chunks: BTreeMap<String, Vec<u8>> = records.into_iter().filter_map(|record| Some((record.key, record.payload?))).collect();
        Ok(Some(manifest.assemble(name, &chunks)?.into()))
    }

    /// Kafka's snapshots are read whole (then verified against their manifest), not streamed.
    async fn open(&self, name: &SnapshotName) -> Result<Option<SnapshotReader>, LogError> {
        Ok(self.get(name).await?.map(|bytes| Box::new(std::io::Cursor::new(bytes)) as SnapshotReader))
    }

    async fn delete(&self, name: &SnapshotName) -> Result<(), LogError> {
        let Some(manifest) = self.manifests().await?.remove(name) else { return Ok(()) };
        self.send(&self.manifests, &name.to_string(), None).await?;
        self.forget_chunks(&manifest).await
    }
}

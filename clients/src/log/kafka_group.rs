//! Kafka consumer groups: librdkafka's group protocol splits the partitions; commits are
//! synchronous offset commits (`offset + 1`), so a new owner starts right after the last commit.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use super::config::check_name;
use super::kafka::{client_config, kafka_error, receive_batch};
use super::{GroupConsumer, LogConfig, LogError, Position, Record, Topic};

pub(crate) struct KafkaGroupConsumer {
    consumer: Arc<StreamConsumer>,
    topic_name: String,
}

impl KafkaGroupConsumer {
    pub(crate) fn join(bootstrap: &str, config: &LogConfig, topic: Topic, group: &str, member: &str) -> Result<Self, LogError> {
        check_name("group", group)?;
        check_name("member", member)?;
        let session_ms = config.group_session.as_millis().max(1000) as u64;
        let topic_name = config.qualified_name(topic);
        let consumer: StreamConsumer = client_config(bootstrap, config)
            // Kafka group ids are global: scope them by prefix like the topics.
            .set("group.id", format!("{}.{}.{group}", config.prefix, topic.name()))
            .set("client.id", member)
            .set("session.timeout.ms", session_ms.to_string())
            .set("heartbeat.interval.ms", (session_ms / 6).max(100).to_string())
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()
            .map_err(kafka_error)?;
        consumer.subscribe(&[&topic_name]).map_err(kafka_error)?;
        Ok(Self { consumer: Arc::new(consumer), topic_name })
    }
}

#[async_trait]
impl GroupConsumer for KafkaGroupConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        receive_batch(&self.consumer, max, wait).await
    }

    async fn commit(&mut self, upto: &[Position]) -> Result<(), LogError> {
        let owned = self.assignment();
        let mut offsets = TopicPartitionList::new();
        for position in upto.iter().filter(|p| owned.contains(&p.partition)) {
            let next = position.offset as i64 + 1;
            let partition = position.partition as i32;
            let higher = match offsets.find_partition(&self.topic_name, partition).map(|e| e.offset()) {
                Some(Offset::Offset(existing)) => next > existing,
                _ => true,
            };
            if higher {
                offsets.add_partition_offset(&self.topic_name, partition, Offset::Offset(next)).map_err(kafka_error)?;
            }
        }
        if offsets.count() == 0 {
            return Ok(());
        }
        let consumer = Arc::clone(&self.consumer);
        // A synchronous commit blocks its thread until the broker stored it.
        tokio::task::spawn_blocking(move || consumer.commit(&offsets, CommitMode::Sync))
            .await
            .map_err(|e| LogError::Broker(e.to_string()))?
            .map_err(kafka_error)
    }

    fn assignment(&self) -> Vec<u32> {
        let mut owned: Vec<u32> =
            self.consumer.assignment().map(|list| list.elements().iter().map(|e| e.partition() as u32).collect()).unwrap_or_default();
        owned.sort_unstable();
        owned
    }

    async fn leave(self: Box<Self>) -> Result<(), LogError> {
        self.consumer.unsubscribe();
        let consumer = self.consumer;
        // Dropping closes the consumer (leaves the group); it polls while closing, so off the runtime.
        tokio::task::spawn_blocking(move || drop(consumer)).await.map_err(|e| LogError::Broker(e.to_string()))
    }
}

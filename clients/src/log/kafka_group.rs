//! Kafka consumer groups: librdkafka's group protocol splits the partitions; commits are
//! synchronous offset commits (`offset + 1`), so a new owner starts right after the last commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use super::config::check_name;
use super::kafka::{client_config, kafka_error, receive_batch};
use super::{GroupConsumer, GroupPartition, LogConfig, LogError, Position, Record, Topic};

/// Kafka group ids are global: scoped by prefix and topic like the topics.
fn group_id(config: &LogConfig, topic: Topic, group: &str) -> String {
    format!("{}.{}.{group}", config.prefix, topic.name())
}

/// The group's committed offsets (an offset fetch, without joining) and each partition's owner
/// as the group coordinator describes its members (`client.id` is the member's name); a broker
/// that does not describe groups leaves owners unknown. Blocking: run off the async threads.
pub(crate) fn group_status(bootstrap: &str, config: &LogConfig, topic: Topic, group: &str) -> Result<Vec<GroupPartition>, LogError> {
    check_name("group", group)?;
    let group_id = group_id(config, topic, group);
    let topic_name = config.qualified_name(topic);
    let consumer: BaseConsumer = client_config(bootstrap, config).set("group.id", &group_id).create().map_err(kafka_error)?;
    let mut wanted = TopicPartitionList::new();
    for partition in 0..config.partitions(topic) {
        wanted.add_partition(&topic_name, partition as i32);
    }
    let committed = consumer.committed_offsets(wanted, config.request_timeout).map_err(kafka_error)?;
    let mut owners: BTreeMap<u32, String> = BTreeMap::new();
    if let Ok(groups) = consumer.fetch_group_list(Some(&group_id), config.request_timeout) {
        for member in groups.groups().iter().flat_map(|g| g.members()) {
            for partition in member.assignment().map(|bytes| assigned_partitions(bytes, &topic_name)).unwrap_or_default() {
                owners.insert(partition, member.client_id().to_owned());
            }
        }
    }
    Ok((0..config.partitions(topic))
        .map(|partition| {
            let next_offset = match committed.find_partition(&topic_name, partition as i32).map(|e| e.offset()) {
                Some(Offset::Offset(next)) => next.max(0) as u64,
                _ => 0,
            };
            GroupPartition { partition, next_offset, owner: owners.remove(&partition) }
        })
        .collect())
}

/// The partitions of `topic` in a consumer-protocol member assignment: version (i16), then
/// topics (i32 count; each a string — i16 length and bytes — and i32 partitions), then user data.
fn assigned_partitions(bytes: &[u8], topic: &str) -> Vec<u32> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (bytes.get(..n)?, bytes.get(n..)?);
        *bytes = rest;
        Some(head)
    }
    let read = |bytes: &mut &[u8]| -> Option<Vec<u32>> {
        take(bytes, 2)?;
        let topics = i32::from_be_bytes(take(bytes, 4)?.try_into().ok()?);
        let mut found = Vec::new();
        for _ in 0..topics.max(0) {
            let length = i16::from_be_bytes(take(bytes, 2)?.try_into().ok()?);
            let name = take(bytes, length.max(0) as usize)?;
            let count = i32::from_be_bytes(take(bytes, 4)?.try_into().ok()?);
            for _ in 0..count.max(0) {
                let partition = i32::from_be_bytes(take(bytes, 4)?.try_into().ok()?);
                if name == topic.as_bytes() {
                    found.push(partition.max(0) as u32);
                }
            }
        }
        Some(found)
    };
    read(&mut &bytes[..]).unwrap_or_default()
}

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
            .set("group.id", group_id(config, topic, group))
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

#[cfg(test)]
mod tests {
    use super::assigned_partitions;

    /// A consumer-protocol assignment: version 1, topics `a` → [0, 2] and `bb` → [1], user data.
    fn assignment() -> Vec<u8> {
        let mut bytes = vec![0, 1, 0, 0, 0, 2];
        bytes.extend([0, 1, b'a', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2]);
        bytes.extend([0, 2, b'b', b'b', 0, 0, 0, 1, 0, 0, 0, 1]);
        bytes.extend([0, 0, 0, 0]);
        bytes
    }

    #[test]
    fn member_assignments_are_read_per_topic() {
        assert_eq!(assigned_partitions(&assignment(), "a"), vec![0, 2]);
        assert_eq!(assigned_partitions(&assignment(), "bb"), vec![1]);
        assert_eq!(assigned_partitions(&assignment(), "c"), Vec::<u32>::new());
        // cut short: what was read before the cut is not trusted
        assert_eq!(assigned_partitions(&assignment()[..12], "a"), Vec::<u32>::new());
        assert_eq!(assigned_partitions(&[], "a"), Vec::<u32>::new());
    }
}

//! Topic names, partition counts and timings, and the key → partition rule (pure).

use std::time::Duration;

use super::LogError;

/// Longest key and longest dedup id an append accepts (bytes). Bounding them lets
/// [`super::WriteLog::max_payload_bytes`] be a fixed number that callers can split against.
pub const MAX_KEY_BYTES: usize = 256;

/// Bytes kept free under the broker's message limit for key, dedup id, headers and framing.
pub(crate) const ENVELOPE_RESERVE_BYTES: usize = 4 * 1024;

/// The broker message size Miroir configures (Kafka `message.max.bytes`; NATS' default `max_payload`).
pub(crate) const BROKER_MESSAGE_BYTES: usize = 1024 * 1024;

/// The consumer group on `tasks` whose owner calls the webhooks (gateways join it). Its commit
/// is where `tasks` retention may trim to at most: every task before it was delivered.
pub const WEBHOOK_CALLS_GROUP: &str = "webhook-calls";

/// Miroir's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Document and settings operations, keyed by index uid (one partition per index).
    Ops,
    /// One record per task; exactly one partition, the offset is the task uid.
    Tasks,
    /// Per shard × replica outcomes written by indexers.
    TaskEvents,
    /// API keys and other cluster metadata; one partition.
    Meta,
    /// Change-data-capture events for the data team.
    Cdc,
}

impl Topic {
    pub const ALL: [Topic; 5] = [Topic::Ops, Topic::Tasks, Topic::TaskEvents, Topic::Meta, Topic::Cdc];

    /// The topic's name without prefix.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Ops => "ops",
            Topic::Tasks => "tasks",
            Topic::TaskEvents => "task-events",
            Topic::Meta => "meta",
            Topic::Cdc => "cdc",
        }
    }
}

/// How a log is named, partitioned and timed. Every process of a cluster must use the same values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Prepended to every topic/stream/bucket name (`[A-Za-z0-9_-]+`); tests use unique prefixes.
    pub prefix: String,
    pub ops_partitions: u32,
    pub task_events_partitions: u32,
    pub cdc_partitions: u32,
    /// A repeated dedup id within this window is stored once (JetStream `duplicate_window`; the
    /// memory log's window; the Kafka producer's in-process window).
    pub dedup_window: Duration,
    /// A group member silent for this long loses its partitions (NATS lease; Kafka
    /// `session.timeout.ms`).
    pub group_session: Duration,
    /// How long an append or broker request may wait before it fails as [`LogError::Unavailable`].
    pub request_timeout: Duration,
    /// What the broker keeps of the `cdc` topic, set when its streams/topic are created.
    pub cdc_retention: TopicRetention,
}

/// A broker-side retention limit of a topic, per partition (JetStream stream `max_age` /
/// `max_bytes`, Kafka `retention.ms` / `retention.bytes`); `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicRetention {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
}

impl LogConfig {
    /// Production defaults under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            ops_partitions: 8,
            task_events_partitions: 4,
            cdc_partitions: 4,
            dedup_window: Duration::from_secs(120),
            group_session: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            cdc_retention: TopicRetention::default(),
        }
    }

    /// Short sessions and timeouts so tests notice dead members and dead brokers in seconds.
    pub fn for_tests(prefix: impl Into<String>) -> Self {
        Self { group_session: Duration::from_millis(2000), request_timeout: Duration::from_secs(3), ..Self::new(prefix) }
    }

    pub fn partitions(&self, topic: Topic) -> u32 {
        match topic {
            Topic::Ops => self.ops_partitions,
            Topic::Tasks | Topic::Meta => 1,
            Topic::TaskEvents => self.task_events_partitions,
            Topic::Cdc => self.cdc_partitions,
        }
    }

    /// `<prefix>.<topic>`: the Kafka topic name.
    pub fn qualified_name(&self, topic: Topic) -> String {
        format!("{}.{}", self.prefix, topic.name())
    }

    pub fn validate(&self) -> Result<(), LogError> {
        check_name("prefix", &self.prefix)?;
        for topic in Topic::ALL {
            if self.partitions(topic) == 0 {
                return Err(LogError::Invalid(format!("topic {} needs at least one partition", topic.name())));
            }
        }
        Ok(())
    }

    pub(crate) fn check_partition(&self, topic: Topic, partition: u32) -> Result<(), LogError> {
        let partitions = self.partitions(topic);
        if partition < partitions {
            Ok(())
        } else {
            Err(LogError::Invalid(format!("partition {partition} does not exist: topic {} has {partitions}", topic.name())))
        }
    }
}

/// Group, member and prefix names end up in stream, bucket and key names on every broker.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), LogError> {
    let ok = !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(LogError::Invalid(format!("{what} `{name}` must be 1-64 characters of [A-Za-z0-9_-]")))
    }
}

/// Checks an append's key, dedup id and payload size against `limit`.
pub(crate) fn check_append(key: &str, dedup_id: &str, payload_len: usize, limit: usize) -> Result<(), LogError> {
    for (what, value) in [("key", key), ("dedup id", dedup_id)] {
        if value.is_empty() || value.len() > MAX_KEY_BYTES || value.contains(['\r', '\n']) {
            return Err(LogError::Invalid(format!("{what} must be 1-{MAX_KEY_BYTES} bytes without line breaks")));
        }
    }
    if payload_len > limit {
        return Err(LogError::MessageTooLarge { size: payload_len, limit });
    }
    Ok(())
}

/// The partition a key belongs to: XXH3-64 of the key modulo the partition count. Computed by
/// Miroir itself (not the broker's partitioner) so all backends route identically.
pub fn partition_for_key(key: &str, partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    (xxhash_rust::xxh3::xxh3_64(key.as_bytes()) % u64::from(partitions)) as u32
}

/// A key [`partition_for_key`] maps to `partition`: records that must land in one given
/// partition (a topology change's barriers, one per `ops` partition) are keyed with it.
pub fn key_for_partition(partition: u32, partitions: u32) -> String {
    assert!(partition < partitions, "partition {partition} of {partitions}");
    (0u64..)
        .map(|n| format!("miroir-partition-{partition}-{n}"))
        .find(|key| partition_for_key(key, partitions) == partition)
        .expect("some key hashes to every partition")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_partition_has_a_key() {
        for partitions in 1..40 {
            for partition in 0..partitions {
                assert_eq!(partition_for_key(&key_for_partition(partition, partitions), partitions), partition);
            }
        }
    }

    proptest! {
        #[test]
        fn a_key_maps_to_one_partition_in_range(key in ".{1,40}", partitions in 1u32..64) {
            let p = partition_for_key(&key, partitions);
            prop_assert!(p < partitions);
            prop_assert_eq!(p, partition_for_key(&key, partitions));
        }

        #[test]
        fn valid_names_pass_and_others_fail(name in "[A-Za-z0-9_-]{1,64}", bad in "[A-Za-z0-9]{0,10}[. *>/][A-Za-z0-9]{0,10}") {
            prop_assert!(check_name("x", &name).is_ok());
            prop_assert!(check_name("x", &bad).is_err());
        }
    }

    #[test]
    fn keys_spread_over_partitions() {
        let used: std::collections::BTreeSet<u32> = (0..64).map(|i| partition_for_key(&format!("movies/shard-{i}"), 8)).collect();
        assert_eq!(used.len(), 8);
    }

    #[test]
    fn single_partition_topics() {
        let config = LogConfig::new("m");
        assert_eq!(config.partitions(Topic::Tasks), 1);
        assert_eq!(config.partitions(Topic::Meta), 1);
        assert_eq!(config.qualified_name(Topic::TaskEvents), "m.task-events");
    }

    #[test]
    fn oversize_payload_reports_size_and_limit() {
        assert_eq!(check_append("k", "d", 11, 10), Err(LogError::MessageTooLarge { size: 11, limit: 10 }));
        assert!(check_append("k", "d", 10, 10).is_ok());
        assert!(matches!(check_append("", "d", 1, 10), Err(LogError::Invalid(_))));
    }
}

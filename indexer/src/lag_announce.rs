//! Telling gateways which replicas lag, so their reads go to replicas that have every write
//! (`schemas::meta_log::replica_lag`). The main loop says which replicas of its partitions lag
//! after every poll; this announces a replica when it starts lagging, again every
//! [`REANNOUNCE_EVERY`] while it lags, and once when it has caught up. Announcements are
//! appended to `meta` by one background task, in the order they were made.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use miroir_clients::log::{retry_while_unavailable, Topic, WriteLog};
use miroir_schemas::envelope::encode;
use miroir_schemas::meta_log::replica_lag::{ReplicaLagChange, REANNOUNCE_EVERY};
use miroir_schemas::meta_log::MetaEnvelope;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Routing key of the announcements in `meta` (one partition).
const META_KEY: &str = "replica-lag";

pub struct LagAnnouncer {
    sender: mpsc::UnboundedSender<ReplicaLagChange>,
    appender: JoinHandle<()>,
    /// (partition, node) → when it was last announced lagging.
    announced: std::sync::Mutex<BTreeMap<(u32, String), Instant>>,
}

impl LagAnnouncer {
    /// Starts the appender (call inside a Tokio runtime).
    pub fn start(log: Arc<dyn WriteLog>) -> LagAnnouncer {
        let (sender, mut receiver) = mpsc::unbounded_channel::<ReplicaLagChange>();
        let appender = tokio::spawn(async move {
            while let Some(change) = receiver.recv().await {
                let payload = Bytes::from(encode(&MetaEnvelope::new(change)));
                let dedup_id = format!("lag:{}", uuid::Uuid::new_v4().simple());
                let append = || log.append(Topic::Meta, META_KEY, &dedup_id, payload.clone());
                if let Err(error) = retry_while_unavailable("announcing a lagging replica", append).await {
                    // Gateways then read that replica as any other until the next announcement.
                    tracing::warn!(%error, "a replica lag announcement was not stored");
                }
            }
        });
        LagAnnouncer { sender, appender, announced: Default::default() }
    }

    /// Announces what changed since the last call for `partition`, whose lagging replicas are
    /// now `lagging`.
    pub fn update(&self, partition: u32, lagging: &BTreeSet<String>) {
        let now = Instant::now();
        let at = OffsetDateTime::now_utc();
        let mut announced = self.announced.lock().expect("lag announcer lock");
        for node in lagging {
            let last = announced.get(&(partition, node.clone()));
            if last.is_none_or(|last| now.duration_since(*last) >= REANNOUNCE_EVERY) {
                announced.insert((partition, node.clone()), now);
                let _ = self.sender.send(ReplicaLagChange::ReplicaLagging { node: node.clone(), partition, at });
            }
        }
        let caught_up: Vec<String> =
            announced.keys().filter(|(p, node)| *p == partition && !lagging.contains(node)).map(|(_, node)| node.clone()).collect();
        for node in caught_up {
            announced.remove(&(partition, node.clone()));
            let _ = self.sender.send(ReplicaLagChange::ReplicaCaughtUp { node, partition, at });
        }
    }
}

impl Drop for LagAnnouncer {
    fn drop(&mut self) {
        self.appender.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_clients::log::MemoryLog;
    use miroir_schemas::envelope::decode;

    async fn announced(log: &dyn WriteLog, count: usize) -> Vec<ReplicaLagChange> {
        let mut reader = log.read_partition(Topic::Meta, 0, 0).await.unwrap();
        let mut changes = Vec::new();
        while changes.len() < count {
            for record in reader.next_batch(100, std::time::Duration::from_millis(100)).await.unwrap() {
                changes.extend(decode::<MetaEnvelope>(&record.payload).unwrap().replica_lag_change());
            }
        }
        changes
    }

    #[tokio::test]
    async fn a_replica_is_announced_once_when_it_starts_lagging_and_once_caught_up() {
        let log: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(miroir_clients::log::LogConfig::for_tests("t")).unwrap());
        let announcer = LagAnnouncer::start(log.clone());
        let lagging = BTreeSet::from(["n1".to_owned()]);
        announcer.update(3, &lagging);
        announcer.update(3, &lagging);
        announcer.update(4, &BTreeSet::new());
        announcer.update(3, &BTreeSet::new());
        let changes = announced(log.as_ref(), 2).await;
        assert!(matches!(&changes[0], ReplicaLagChange::ReplicaLagging { node, partition: 3, .. } if node == "n1"), "{changes:?}");
        assert!(matches!(&changes[1], ReplicaLagChange::ReplicaCaughtUp { node, partition: 3, .. } if node == "n1"), "{changes:?}");
        assert_eq!(changes.len(), 2);
    }
}

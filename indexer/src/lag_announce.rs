//! Telling gateways which replicas lag, so their reads go to replicas that have every write
//! (`schemas::meta_log::replica_lag`). The main loop says which replicas of its partitions lag
//! after every poll; this announces a replica when it starts lagging, again every
//! [`REANNOUNCE_EVERY`] while it lags, and once when it has caught up. Announcements are
//! appended to `meta` by one background task, in the order they were made.

use std::collections::BTreeMap;
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
    /// (partition, node) → when it was last announced lagging, and the position announced.
    announced: std::sync::Mutex<BTreeMap<(u32, String), (Instant, u64)>>,
    /// (partition, node) → the earliest position a stored lagging announcement gives, since the
    /// last stored caught-up one: what a partition's next owner will read.
    stored: Arc<std::sync::Mutex<BTreeMap<(u32, String), u64>>>,
}

impl LagAnnouncer {
    /// Starts the appender (call inside a Tokio runtime).
    pub fn start(log: Arc<dyn WriteLog>) -> LagAnnouncer {
        let (sender, mut receiver) = mpsc::unbounded_channel::<ReplicaLagChange>();
        let stored: Arc<std::sync::Mutex<BTreeMap<(u32, String), u64>>> = Arc::default();
        let recording = stored.clone();
        let appender = tokio::spawn(async move {
            while let Some(change) = receiver.recv().await {
                let payload = Bytes::from(encode(&MetaEnvelope::new(change.clone())));
                let dedup_id = format!("lag:{}", uuid::Uuid::new_v4().simple());
                let append = || log.append(Topic::Meta, META_KEY, &dedup_id, payload.clone());
                match retry_while_unavailable("announcing a lagging replica", append).await {
                    Ok(_) => record_stored(&mut recording.lock().expect("stored lag marks lock"), &change),
                    // Gateways then read that replica as any other until the next announcement,
                    // and the commit waits for it.
                    Err(error) => tracing::warn!(%error, "a replica lag announcement was not stored"),
                }
            }
        });
        LagAnnouncer { sender, appender, announced: Default::default(), stored }
    }

    /// Announces what changed since the last call for `partition`, whose lagging replicas are
    /// now `lagging` (each with the first position it may miss): a replica that starts lagging,
    /// or whose mark moved earlier, at once; one still lagging every [`REANNOUNCE_EVERY`].
    pub fn update(&self, partition: u32, lagging: &BTreeMap<String, u64>) {
        let now = Instant::now();
        let at = OffsetDateTime::now_utc();
        let mut announced = self.announced.lock().expect("lag announcer lock");
        for (node, &from) in lagging {
            let last = announced.get(&(partition, node.clone()));
            if last.is_none_or(|(last, announced_from)| now.duration_since(*last) >= REANNOUNCE_EVERY || from < *announced_from) {
                announced.insert((partition, node.clone()), (now, from));
                let _ = self.sender.send(ReplicaLagChange::ReplicaLagging { node: node.clone(), partition, at, from: Some(from) });
            }
        }
        let caught_up: Vec<String> =
            announced.keys().filter(|(p, node)| *p == partition && !lagging.contains_key(node)).map(|(_, node)| node.clone()).collect();
        for node in caught_up {
            announced.remove(&(partition, node.clone()));
            let _ = self.sender.send(ReplicaLagChange::ReplicaCaughtUp { node, partition, at });
        }
    }
}

impl LagAnnouncer {
    /// The earliest position of `node`'s lag on `partition` that a stored announcement gives.
    pub fn stored_from(&self, partition: u32, node: &str) -> Option<u64> {
        self.stored.lock().expect("stored lag marks lock").get(&(partition, node.to_owned())).copied()
    }
}

/// What a stored announcement tells a partition's next owner, kept for [`LagAnnouncer::stored_from`].
fn record_stored(stored: &mut BTreeMap<(u32, String), u64>, change: &ReplicaLagChange) {
    match change {
        ReplicaLagChange::ReplicaLagging { node, partition, from: Some(from), .. } => {
            let mark = stored.entry((*partition, node.clone())).or_insert(*from);
            *mark = (*mark).min(*from);
        }
        ReplicaLagChange::ReplicaLagging { from: None, .. } => {}
        ReplicaLagChange::ReplicaCaughtUp { node, partition, .. } => {
            stored.remove(&(*partition, node.clone()));
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
        let lagging = BTreeMap::from([("n1".to_owned(), 40)]);
        announcer.update(3, &lagging);
        announcer.update(3, &lagging);
        announcer.update(4, &BTreeMap::new());
        announced(log.as_ref(), 1).await;
        // Recorded by the appender just after the append returns.
        for _ in 0..100 {
            if announcer.stored_from(3, "n1").is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(announcer.stored_from(3, "n1"), Some(40), "stored, so the commit may pass it");
        announcer.update(3, &BTreeMap::from([("n1".to_owned(), 30)]));
        announcer.update(3, &BTreeMap::from([("n1".to_owned(), 35)]));
        announcer.update(3, &BTreeMap::new());
        let changes = announced(log.as_ref(), 3).await;
        assert!(
            matches!(&changes[0], ReplicaLagChange::ReplicaLagging { node, partition: 3, from: Some(40), .. } if node == "n1"),
            "{changes:?}"
        );
        assert!(matches!(&changes[1], ReplicaLagChange::ReplicaLagging { from: Some(30), .. }), "an earlier mark at once: {changes:?}");
        assert!(matches!(&changes[2], ReplicaLagChange::ReplicaCaughtUp { node, partition: 3, .. } if node == "n1"), "{changes:?}");
        assert_eq!(changes.len(), 3);
        for _ in 0..100 {
            if announcer.stored_from(3, "n1").is_none() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(announcer.stored_from(3, "n1"), None, "caught up");
    }
}

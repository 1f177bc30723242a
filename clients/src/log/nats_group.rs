//! Consumer groups on JetStream, built on a KV bucket per group and topic
//! (`<prefix>_grp_<topic>_<group>`):
//!
//! * `m.<member>` = heartbeat expiry (unix ms), put every `group_session / 4` by a background task;
//! * `l.<partition>` = `<member> <expiry ms>`: the partition's lease, taken and renewed with
//!   compare-and-set on the KV revision, so a partition has at most one owner at a time;
//! * `c.<partition>` = next offset to deliver (the committed position + 1), only ever raised.
//!
//! Every tick a member computes the round-robin split over the live members
//! ([`assign_partitions`]), releases leases it should no longer hold, and claims its partitions
//! whose lease is free, expired or held by a member whose heartbeat stopped. A claimed partition
//! is read with an ordered consumer from `c.<partition>`: delivered-but-uncommitted records are
//! delivered again to the next owner. A member killed with -9 loses its partitions when its
//! lease expires (one `group_session`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv::{self, UpdateErrorKind};
use async_nats::jetstream::Context;
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::check_name;
use super::nats::unavailable;
use super::nats_reader::{open_ordered, to_record};
use super::{assign_partitions, GroupConsumer, GroupPartition, LogConfig, LogError, Position, Record, Topic};

/// Records buffered between the partition readers and `poll`.
const DELIVERY_BUFFER: usize = 4096;
/// How often a failed reader is reopened.
const READER_RETRY: Duration = Duration::from_millis(500);

pub(crate) struct NatsGroupConsumer {
    shared: Arc<GroupShared>,
    deliveries: mpsc::Receiver<Delivery>,
    ticker: JoinHandle<()>,
}

struct Delivery {
    partition: u32,
    generation: u64,
    record: Result<Record, LogError>,
}

struct GroupShared {
    js: Context,
    kv: kv::Store,
    config: LogConfig,
    topic: Topic,
    member: String,
    owned: Mutex<BTreeMap<u32, Owned>>,
    deliveries: mpsc::Sender<Delivery>,
    generations: AtomicU64,
}

struct Owned {
    generation: u64,
    lease_revision: u64,
    lease_until_ms: u64,
    reader: JoinHandle<()>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn member_key(member: &str) -> String {
    format!("m.{member}")
}

fn lease_key(partition: u32) -> String {
    format!("l.{partition}")
}

fn bucket_name(config: &LogConfig, topic: Topic, group: &str) -> String {
    format!("{}_grp_{}_{group}", config.prefix, topic.name())
}

/// Reads the group's commits and live leases without joining (see `WriteLog::group_status`).
pub(crate) async fn group_status(js: &Context, config: &LogConfig, topic: Topic, group: &str) -> Result<Vec<GroupPartition>, LogError> {
    check_name("group", group)?;
    let partitions = 0..config.partitions(topic);
    // No bucket yet: nobody ever joined the group.
    let Ok(kv) = js.get_key_value(bucket_name(config, topic, group)).await else {
        return Ok(partitions.map(|partition| GroupPartition { partition, next_offset: 0, owner: None }).collect());
    };
    let now = now_ms();
    let mut out = Vec::new();
    for partition in partitions {
        let next_offset = kv.get(commit_key(partition)).await.map_err(unavailable)?.as_deref().and_then(parse_u64).unwrap_or(0);
        let lease = kv.get(lease_key(partition)).await.map_err(unavailable)?;
        let owner = lease.as_deref().and_then(parse_lease).filter(|(_, until)| *until > now).map(|(member, _)| member);
        out.push(GroupPartition { partition, next_offset, owner });
    }
    Ok(out)
}

fn commit_key(partition: u32) -> String {
    format!("c.{partition}")
}

/// Parses a lease value `<member> <expiry ms>`; an empty value is a released lease.
fn parse_lease(value: &[u8]) -> Option<(String, u64)> {
    let text = std::str::from_utf8(value).ok()?;
    let (member, until) = text.split_once(' ')?;
    Some((member.to_owned(), until.parse().ok()?))
}

fn parse_u64(value: &[u8]) -> Option<u64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

impl NatsGroupConsumer {
    pub(crate) async fn join(js: Context, config: LogConfig, topic: Topic, group: &str, member: &str) -> Result<Self, LogError> {
        check_name("group", group)?;
        check_name("member", member)?;
        let bucket = bucket_name(&config, topic, group);
        let kv = match js.get_key_value(&bucket).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket,
                    history: 1,
                    storage: async_nats::jetstream::stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?,
        };
        let (sender, deliveries) = mpsc::channel(DELIVERY_BUFFER);
        let shared = Arc::new(GroupShared {
            js,
            kv,
            config,
            topic,
            member: member.to_owned(),
            owned: Mutex::new(BTreeMap::new()),
            deliveries: sender,
            generations: AtomicU64::new(0),
        });
        // The first tick runs before join returns, so the member is visible and owns what it can.
        shared.tick().await?;
        let ticker = tokio::spawn(Arc::clone(&shared).tick_forever());
        Ok(Self { shared, deliveries, ticker })
    }
}

impl GroupShared {
    fn session_ms(&self) -> u64 {
        self.config.group_session.as_millis() as u64
    }

    async fn tick_forever(self: Arc<Self>) {
        let interval = self.config.group_session / 4;
        loop {
            tokio::time::sleep(interval).await;
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, member = %self.member, "log group: tick failed");
                self.drop_expired_leases();
            }
        }
    }

    /// One round of heartbeat, rebalance and lease renewal.
    async fn tick(&self) -> Result<(), LogError> {
        let now = now_ms();
        let until = now + self.session_ms();
        self.kv.put(member_key(&self.member), until.to_string().into()).await.map_err(unavailable)?;
        let members = self.live_members(now).await?;
        let mine = assign_partitions(self.config.partitions(self.topic), &members).remove(&self.member).unwrap_or_default();
        let held: Vec<(u32, u64)> = self.lock_owned().iter().map(|(p, owned)| (*p, owned.lease_revision)).collect();
        for (partition, revision) in &held {
            if !mine.contains(partition) {
                self.stop_reading(*partition);
                // Best effort: if this fails, the lease simply expires.
                let _ = self.kv.update(lease_key(*partition), Vec::new().into(), *revision).await;
            }
        }
        for partition in mine {
            match held.iter().find(|(p, _)| *p == partition) {
                Some((_, revision)) => self.renew(partition, *revision, until).await?,
                None => self.try_claim(partition, until, now, &members).await?,
            }
        }
        Ok(())
    }

    async fn live_members(&self, now: u64) -> Result<Vec<String>, LogError> {
        let keys: Vec<String> = self.kv.keys().await.map_err(unavailable)?.try_collect().await.map_err(unavailable)?;
        let mut members = vec![self.member.clone()];
        for key in keys {
            let Some(member) = key.strip_prefix("m.") else {
                continue;
            };
            if member == self.member {
                continue;
            }
            let value = self.kv.get(key.clone()).await.map_err(unavailable)?;
            if value.as_deref().and_then(parse_u64).is_some_and(|until| until > now) {
                members.push(member.to_owned());
            }
        }
        Ok(members)
    }

    async fn renew(&self, partition: u32, revision: u64, until: u64) -> Result<(), LogError> {
        let value = format!("{} {until}", self.member);
        match self.kv.update(lease_key(partition), value.into(), revision).await {
            Ok(revision) => {
                if let Some(owned) = self.lock_owned().get_mut(&partition) {
                    owned.lease_revision = revision;
                    owned.lease_until_ms = until;
                }
                Ok(())
            }
            Err(error) if error.kind() == UpdateErrorKind::WrongLastRevision => {
                // Someone took it over (our lease had expired): stop at once.
                self.stop_reading(partition);
                Ok(())
            }
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn try_claim(&self, partition: u32, until: u64, now: u64, members: &[String]) -> Result<(), LogError> {
        let value = format!("{} {until}", self.member);
        let claimed = match self.kv.entry(lease_key(partition)).await.map_err(unavailable)? {
            None => self.kv.create(lease_key(partition), value.into()).await.ok(),
            Some(entry) => {
                let free = match parse_lease(&entry.value) {
                    None => true,
                    Some((owner, owner_until)) => owner == self.member || owner_until <= now || !members.contains(&owner),
                };
                if !free {
                    return Ok(()); // its owner releases it on its next tick
                }
                self.kv.update(lease_key(partition), value.into(), entry.revision).await.ok()
            }
        };
        let Some(lease_revision) = claimed else {
            return Ok(());
        }; // lost the race
        let from = self.committed(partition).await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let reader = tokio::spawn(read_partition(
            self.js.clone(),
            self.config.clone(),
            self.topic,
            partition,
            from,
            generation,
            self.deliveries.clone(),
        ));
        let owned = Owned { generation, lease_revision, lease_until_ms: until, reader };
        if let Some(previous) = self.lock_owned().insert(partition, owned) {
            previous.reader.abort();
        }
        Ok(())
    }

    async fn committed(&self, partition: u32) -> Result<u64, LogError> {
        let value = self.kv.get(commit_key(partition)).await.map_err(unavailable)?;
        Ok(value.as_deref().and_then(parse_u64).unwrap_or(0))
    }

    /// Raises `c.<partition>` to `next` unless it is already there (compare-and-set loop).
    async fn raise_commit(&self, partition: u32, next: u64) -> Result<(), LogError> {
        for _ in 0..8 {
            let entry = self.kv.entry(commit_key(partition)).await.map_err(unavailable)?;
            let stored = entry.as_ref().and_then(|e| parse_u64(&e.value)).unwrap_or(0);
            if stored >= next {
                return Ok(());
            }
            let written = match entry {
                None => self.kv.create(commit_key(partition), next.to_string().into()).await.is_ok(),
                Some(entry) => self.kv.update(commit_key(partition), next.to_string().into(), entry.revision).await.is_ok(),
            };
            if written {
                return Ok(());
            }
        }
        Err(LogError::Unavailable(format!("could not store the commit of partition {partition}")))
    }

    fn lock_owned(&self) -> std::sync::MutexGuard<'_, BTreeMap<u32, Owned>> {
        self.owned.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stop_reading(&self, partition: u32) {
        if let Some(owned) = self.lock_owned().remove(&partition) {
            owned.reader.abort();
        }
    }

    /// When the broker cannot be reached, a lease we cannot renew is no longer ours once it expires.
    fn drop_expired_leases(&self) {
        let now = now_ms();
        self.lock_owned().retain(|_, owned| {
            let keep = owned.lease_until_ms > now;
            if !keep {
                owned.reader.abort();
            }
            keep
        });
    }

    fn stop_all(&self) {
        for (_, owned) in std::mem::take(&mut *self.lock_owned()) {
            owned.reader.abort();
        }
    }
}

/// Forwards a partition's records to `poll` until aborted; reopens the reader after errors from
/// the last forwarded offset.
async fn read_partition(
    js: Context,
    config: LogConfig,
    topic: Topic,
    partition: u32,
    mut next: u64,
    generation: u64,
    deliveries: mpsc::Sender<Delivery>,
) {
    loop {
        let error = match open_ordered(&js, &config, topic, partition, next).await {
            Ok(mut messages) => loop {
                match messages.next().await {
                    Some(Ok(message)) => {
                        let record = to_record(&message, partition);
                        if let Ok(record) = &record {
                            next = record.position.offset + 1;
                        }
                        if deliveries.send(Delivery { partition, generation, record }).await.is_err() {
                            return; // the consumer is gone
                        }
                    }
                    Some(Err(error)) => break unavailable(error),
                    None => break LogError::Unavailable("the partition stream ended".into()),
                }
            },
            Err(error) => error,
        };
        if deliveries.send(Delivery { partition, generation, record: Err(error) }).await.is_err() {
            return;
        }
        tokio::time::sleep(READER_RETRY).await;
    }
}

impl NatsGroupConsumer {
    /// A delivery counts only if its partition is still owned under the same generation.
    fn current(&self, delivery: &Delivery) -> bool {
        self.shared.lock_owned().get(&delivery.partition).is_some_and(|o| o.generation == delivery.generation)
    }
}

#[async_trait]
impl GroupConsumer for NatsGroupConsumer {
    async fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Record>, LogError> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        while out.len() < max {
            let next = if out.is_empty() {
                match tokio::time::timeout_at(deadline, self.deliveries.recv()).await {
                    Ok(next) => next,
                    Err(_) => break,
                }
            } else {
                match self.deliveries.try_recv() {
                    Ok(next) => Some(next),
                    Err(_) => break,
                }
            };
            let Some(delivery) = next else { break };
            if !self.current(&delivery) {
                continue;
            }
            match delivery.record {
                Ok(record) => out.push(record),
                Err(error) if out.is_empty() => return Err(error),
                Err(error) => tracing::warn!(%error, "log group: reader error, reopening"),
            }
        }
        Ok(out)
    }

    async fn commit(&mut self, upto: &[Position]) -> Result<(), LogError> {
        let mut highest: BTreeMap<u32, u64> = BTreeMap::new();
        for position in upto {
            let next = highest.entry(position.partition).or_insert(0);
            *next = (*next).max(position.offset + 1);
        }
        let owned: Vec<u32> = self.shared.lock_owned().keys().copied().collect();
        for (partition, next) in highest {
            if owned.contains(&partition) {
                self.shared.raise_commit(partition, next).await?;
            }
        }
        Ok(())
    }

    fn assignment(&self) -> Vec<u32> {
        self.shared.lock_owned().keys().copied().collect()
    }

    async fn leave(self: Box<Self>) -> Result<(), LogError> {
        self.ticker.abort();
        let held: Vec<(u32, u64)> = self.shared.lock_owned().iter().map(|(p, owned)| (*p, owned.lease_revision)).collect();
        self.shared.stop_all();
        for (partition, revision) in held {
            let _ = self.shared.kv.update(lease_key(partition), Vec::new().into(), revision).await;
        }
        self.shared.kv.put(member_key(&self.shared.member), "0".into()).await.map_err(unavailable)?;
        Ok(())
    }
}

impl Drop for NatsGroupConsumer {
    /// Like a crash: the leases stay until they expire.
    fn drop(&mut self) {
        self.ticker.abort();
        self.shared.stop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_values_round_trip() {
        assert_eq!(parse_lease(b"worker-1 1700000000000"), Some(("worker-1".into(), 1_700_000_000_000)));
        assert_eq!(parse_lease(b""), None);
        assert_eq!(parse_lease(b"garbage"), None);
    }
}

//! Where snapshots of folded state are kept: one small trait, [`SnapshotStore`], next to the log
//! they summarize (design: `docs/design-state-snapshots.md`).
//!
//! A store holds whole snapshots under names ([`SnapshotName`]: the positions covered and a
//! digest of the bytes). It does not read them: the gateway verifies what it gets and falls
//! back to an older snapshot (or a full fold) when one is corrupt or missing.
//! Implementations: in-memory ([`MemorySnapshotStore`], tests), a JetStream object store
//! ([`NatsSnapshotStore`]) and two Kafka topics, chunks and manifests ([`KafkaSnapshotStore`]).
//!
//! Several writers at once are harmless, so no lease is taken: a name depends on the bytes (the
//! same positions give the same bytes and the same name; a put replaces an object whole), and
//! pruning keeps the newest names whoever wrote them.

mod header;
mod kafka;
mod kafka_layout;
mod memory;
mod name;
mod nats;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

pub use header::{SnapshotCovers, SnapshotError, SnapshotHeader, HEADER_MAX_BYTES, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};
pub use kafka::KafkaSnapshotStore;
pub use memory::MemorySnapshotStore;
pub use name::{newest_first, SnapshotName};
pub use nats::NatsSnapshotStore;

use crate::cluster_config::{LogArgs, LogBackend};
use crate::log::{LogConfig, LogError};

/// A stored snapshot's bytes, read as they arrive.
pub type SnapshotReader = Box<dyn AsyncRead + Send + Unpin>;

/// Named blobs kept by the log system.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// Stores what `body` yields (to its end) under `name`, replacing what the name held, once
    /// durably stored. A store reads `body` a piece at a time where it can, so a snapshot is
    /// never held whole in memory.
    async fn put_reader(&self, name: &SnapshotName, body: &mut (dyn AsyncRead + Send + Unpin)) -> Result<(), LogError>;

    /// Stores `bytes` under `name` (see [`SnapshotStore::put_reader`]).
    async fn put(&self, name: &SnapshotName, bytes: Bytes) -> Result<(), LogError> {
        self.put_reader(name, &mut bytes.as_ref()).await
    }

    /// Every name stored (any order; names that are not snapshot names are left out).
    async fn list(&self) -> Result<Vec<SnapshotName>, LogError>;

    /// The bytes stored under `name` as a reader (NATS: fetched chunk by chunk as it is read);
    /// `None` when there are none (deleted meanwhile). A failure while reading is an I/O error.
    async fn open(&self, name: &SnapshotName) -> Result<Option<SnapshotReader>, LogError>;

    /// The bytes stored under `name`, whole; `None` when there are none (deleted meanwhile).
    async fn get(&self, name: &SnapshotName) -> Result<Option<Bytes>, LogError> {
        read_up_to(self.open(name).await?, name, u64::MAX).await
    }

    /// At most the first `max_bytes` stored under `name` (enough for its header line), without
    /// reading the rest where the store allows; `None` when there are none.
    async fn head(&self, name: &SnapshotName, max_bytes: usize) -> Result<Option<Bytes>, LogError> {
        read_up_to(self.open(name).await?, name, max_bytes as u64).await
    }

    /// Removes `name`; removing a name that is not there succeeds.
    async fn delete(&self, name: &SnapshotName) -> Result<(), LogError>;
}

/// At most `max_bytes` of an opened snapshot.
async fn read_up_to(reader: Option<SnapshotReader>, name: &SnapshotName, max_bytes: u64) -> Result<Option<Bytes>, LogError> {
    let Some(reader) = reader else { return Ok(None) };
    let mut bytes = Vec::new();
    reader.take(max_bytes).read_to_end(&mut bytes).await.map_err(|error| LogError::Broker(format!("reading snapshot {name}: {error}")))?;
    Ok(Some(bytes.into()))
}

/// Stores a snapshot, then deletes all but the `kept` newest (at least this one is kept).
/// Returns the names deleted.
pub async fn put_and_prune(
    store: &dyn SnapshotStore,
    name: &SnapshotName,
    bytes: Bytes,
    kept: usize,
) -> Result<Vec<SnapshotName>, LogError> {
    store.put(name, bytes).await?;
    prune(store, name, kept).await
}

/// After `name` was stored: deletes all but the `kept` newest snapshots (at least `name` is
/// kept; nothing newer than `name` is deleted). Returns the names deleted.
pub async fn prune(store: &dyn SnapshotStore, name: &SnapshotName, kept: usize) -> Result<Vec<SnapshotName>, LogError> {
    let mut names = store.list().await?;
    names.sort_unstable_by(|a, b| b.cmp(a));
    let older: Vec<SnapshotName> = names.into_iter().skip(kept.max(1)).filter(|older| older < name).collect();
    for older in &older {
        store.delete(older).await?;
    }
    Ok(older)
}

/// The header of the snapshot stored under `name`: `Ok(None)` when it is gone, `Ok(Some(Err))`
/// when its first line is no header this build reads.
pub async fn read_header(
    store: &dyn SnapshotStore,
    name: &SnapshotName,
) -> Result<Option<Result<SnapshotHeader, SnapshotError>>, LogError> {
    Ok(store.head(name, HEADER_MAX_BYTES).await?.map(|bytes| SnapshotHeader::read(&bytes).map(|(header, _)| header)))
}

/// The snapshot store of the configured log backend, `None` where it could not outlive the
/// process anyway (the in-memory log). Not retried: snapshots
/// only speed up a start, so a caller goes on without them rather than wait.
pub async fn open_snapshot_store(args: &LogArgs, config: &LogConfig) -> Result<Option<Arc<dyn SnapshotStore>>, LogError> {
    match (args.log_backend, args.log_url.as_deref()) {
        (LogBackend::Nats, Some(url)) => Ok(Some(Arc::new(NatsSnapshotStore::connect(url, config).await?))),
        (LogBackend::Kafka, Some(bootstrap)) => Ok(Some(Arc::new(KafkaSnapshotStore::connect(bootstrap, config).await?))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests;

//! Snapshots in a map, for tests: the same contract as the brokers' stores.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::{SnapshotName, SnapshotReader, SnapshotStore};
use crate::log::LogError;

#[derive(Default)]
pub struct MemorySnapshotStore {
    objects: Mutex<BTreeMap<SnapshotName, Bytes>>,
}

impl MemorySnapshotStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<SnapshotName, Bytes>> {
        self.objects.lock().expect("snapshot map lock poisoned")
    }
}

#[async_trait]
impl SnapshotStore for MemorySnapshotStore {
    async fn put_reader(&self, name: &SnapshotName, body: &mut (dyn AsyncRead + Send + Unpin)) -> Result<(), LogError> {
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes).await.map_err(|error| LogError::Broker(format!("reading snapshot {name} to store: {error}")))?;
        self.objects().insert(name.clone(), bytes.into());
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SnapshotName>, LogError> {
        Ok(self.objects().keys().cloned().collect())
    }

    async fn open(&self, name: &SnapshotName) -> Result<Option<SnapshotReader>, LogError> {
        Ok(self.objects().get(name).cloned().map(|bytes| Box::new(std::io::Cursor::new(bytes)) as SnapshotReader))
    }

    async fn delete(&self, name: &SnapshotName) -> Result<(), LogError> {
        self.objects().remove(name);
        Ok(())
    }
}

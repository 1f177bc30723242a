//! Snapshots in a map, for tests: the same contract as the brokers' stores.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::{SnapshotName, SnapshotStore};
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
    async fn put(&self, name: &SnapshotName, bytes: Bytes) -> Result<(), LogError> {
        self.objects().insert(name.clone(), bytes);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SnapshotName>, LogError> {
        Ok(self.objects().keys().cloned().collect())
    }

    async fn get(&self, name: &SnapshotName) -> Result<Option<Bytes>, LogError> {
        Ok(self.objects().get(name).cloned())
    }

    async fn delete(&self, name: &SnapshotName) -> Result<(), LogError> {
        self.objects().remove(name);
        Ok(())
    }
}

//! Snapshots in a JetStream object store, bucket `<prefix>_snapshots`: objects are chunked, so a
//! snapshot may be far bigger than the 1 MiB message limit, and NATS checks each object's own
//! digest when it is read back.

use async_nats::jetstream::object_store::{Config as BucketConfig, DeleteErrorKind, GetErrorKind, ObjectStore};
use async_nats::jetstream::stream::StorageType;
use async_trait::async_trait;
use futures::TryStreamExt;
use tokio::io::AsyncRead;

use super::{SnapshotName, SnapshotReader, SnapshotStore};
use crate::log::{connect_jetstream, unavailable, LogConfig, LogError};

pub struct NatsSnapshotStore {
    bucket: ObjectStore,
}

impl NatsSnapshotStore {
    /// Connects to `url` and opens (or creates) the cluster's snapshot bucket.
    pub async fn connect(url: &str, config: &LogConfig) -> Result<Self, LogError> {
        let (_, js) = connect_jetstream(url, config).await?;
        let name = format!("{}_snapshots", config.prefix);
        let bucket = match js.get_object_store(&name).await {
            Ok(bucket) => bucket,
            Err(_) => js
                .create_object_store(BucketConfig {
                    bucket: name,
                    description: Some("Miroir: snapshots of the folded catalog".into()),
                    storage: StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?,
        };
        Ok(Self { bucket })
    }
}

#[async_trait]
impl SnapshotStore for NatsSnapshotStore {
    async fn put_reader(&self, name: &SnapshotName, body: &mut (dyn AsyncRead + Send + Unpin)) -> Result<(), LogError> {
        // The object store reads `body` one chunk at a time and publishes each.
        self.bucket.put(name.to_string().as_str(), &mut { body }).await.map_err(unavailable)?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<SnapshotName>, LogError> {
        let objects: Vec<_> = self.bucket.list().await.map_err(unavailable)?.try_collect().await.map_err(unavailable)?;
        Ok(objects.iter().filter_map(|object| object.name.parse().ok()).collect())
    }

    async fn open(&self, name: &SnapshotName) -> Result<Option<SnapshotReader>, LogError> {
        // The object fetches its chunks as it is read (NATS checks the object's digest at its end).
        match self.bucket.get(name.to_string()).await {
            Ok(object) => Ok(Some(Box::new(object))),
            Err(error) if error.kind() == GetErrorKind::NotFound => Ok(None),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn delete(&self, name: &SnapshotName) -> Result<(), LogError> {
        match self.bucket.delete(name.to_string()).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == DeleteErrorKind::NotFound => Ok(()),
            Err(error) => Err(unavailable(error)),
        }
    }
}

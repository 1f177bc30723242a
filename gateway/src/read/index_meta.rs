//! What the read path needs to know about an index besides its data: its primary key (to
//! narrow primary-key filters to their shards) and the settings the merge depends on. Read
//! from a replica of `shard-0` and cached for `index_meta_ttl` (5 s): a settings change reaches
//! the merge within that time, as it reaches the nodes' own search asynchronously.

use super::error::ReadError;
use super::executor::ReadExecutor;
use super::fanout::Failure;
use super::rewrite::{client_error, ClientRequest};
use super::transport::NodeCall;
use crate::search::IndexSearchSettings;
use miroir_schemas::topology::ShardId;
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub struct IndexMeta {
    pub primary_key: Option<String>,
    pub settings: IndexSearchSettings,
}

impl ReadExecutor {
    /// The index's primary key and search settings: the cached value while fresh, else read
    /// from a replica of `shard-0` (an unknown index answers Meilisearch's `index_not_found`).
    pub async fn index_meta(&self, index_uid: &str) -> Result<IndexMeta, ReadError> {
        let ttl = self.config().index_meta_ttl;
        if let Some((read_at, meta)) = self.inner().meta_cache.lock().expect("meta lock").get(index_uid) {
            if read_at.elapsed() < ttl {
                return Ok(meta.clone());
            }
        }
        let meta = self.read_index_meta(index_uid).await?;
        self.inner().meta_cache.lock().expect("meta lock").insert(index_uid.to_owned(), (Instant::now(), meta.clone()));
        Ok(meta)
    }

    /// Reads the metadata from a replica of `shard-0`, else of the next shard, and so on: every
    /// node index of an index carries the same primary key and settings.
    async fn read_index_meta(&self, index_uid: &str) -> Result<IndexMeta, ReadError> {
        let mut unavailable = None;
        for shard in self.all_shards(index_uid) {
            match self.read_index_meta_from(index_uid, shard).await {
                Err(error @ ReadError::ShardsUnavailable { .. }) => unavailable = Some(error),
                other => return other,
            }
        }
        Err(unavailable.unwrap_or_else(|| ReadError::Internal("a topology has at least one shard".into())))
    }

    async fn read_index_meta_from(&self, index_uid: &str, shard: ShardId) -> Result<IndexMeta, ReadError> {
        let inner = self.inner();
        let view = inner.view(index_uid);
        let gathered = inner
            .gather(&view, index_uid, &[shard], |node, _| {
                let node_index = ReadExecutor::node_index_of(&view, index_uid, node, shard);
                async move {
                    let rewrite = |error: &_| client_error(error, ClientRequest::SingleIndex, |_| None);
                    let index = inner
                        .transport
                        .call(node, &NodeCall::Index { node_index: node_index.clone() })
                        .await
                        .map_err(|e| Failure::from_node_error(e, rewrite))?;
                    let settings = inner
                        .transport
                        .call(node, &NodeCall::Settings { node_index })
                        .await
                        .map_err(|e| Failure::from_node_error(e, rewrite))?;
                    Ok((index, settings))
                }
            })
            .await?;
        let (index, settings) = gathered
            .answers
            .into_iter()
            .next()
            .map(|answered| answered.value)
            .ok_or_else(|| ReadError::ShardsUnavailable { index: index_uid.to_owned(), shards: vec![shard] })?;
        Ok(IndexMeta {
            primary_key: index.get("primaryKey").and_then(Value::as_str).map(str::to_owned),
            settings: IndexSearchSettings::from_settings(&settings),
        })
    }
}

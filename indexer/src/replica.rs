//! What the indexer needs from one Meilisearch node, behind a small trait so the apply logic
//! can be tested against an in-memory node.

use crate::checkpoint::{evidence, Evidence, Marker};
use crate::request::NodeRequest;
use async_trait::async_trait;
use miroir_clients::node::{DocumentsMethod, NodeClient, NodeError, TaskFilter, TaskView, WriteParams};
use miroir_schemas::envelope::DocumentMethod;
use serde_json::{json, Value};
use std::time::Duration;

#[async_trait]
pub trait ReplicaNode: Send + Sync {
    fn id(&self) -> &str;
    /// Enqueues `request` on `node_index`; returns the node task uid.
    async fn send(&self, node_index: &str, request: &NodeRequest, metadata: Option<&str>) -> Result<u64, NodeError>;
    /// Waits until the node task is finished.
    async fn wait(&self, task_uid: u64) -> Result<TaskView, NodeError>;
    /// One page of the node index's tasks, newest first, starting at `from`.
    async fn tasks_of(&self, node_index: &str, from: Option<u64>) -> Result<(Vec<TaskView>, Option<u64>), NodeError>;
    /// A quick probe, without retries.
    async fn healthy(&self) -> bool;
    /// The node index's `filterableAttributes` setting.
    async fn filterable_attributes(&self, node_index: &str) -> Result<Value, NodeError>;
    /// How many times this node was seen losing its data ([`NodeError::Reset`]): a checkpoint
    /// remembered under an older count is void.
    fn resets(&self) -> u64 {
        0
    }
}

/// How far `node_index` on `node` has applied `partition`: the newest Miroir task of that
/// partition, waiting for it first when it is still queued. `None`: nothing applied yet.
pub async fn read_checkpoint(node: &dyn ReplicaNode, node_index: &str, partition: u32) -> Result<Option<u64>, NodeError> {
    Ok(read_history(node, node_index, partition, u64::MAX).await?.checkpoint)
}

/// A replica's checkpoint and the node tasks that carried the positions from `since` on.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub checkpoint: Option<u64>,
    /// Every task of the node index, newest first, back to the first Miroir task of the
    /// partition below `since` (or the oldest task).
    pub tasks: Vec<TaskView>,
}

/// Reads the checkpoint like [`read_checkpoint`] and keeps the tasks newer than the first
/// marker below `since`: after a crash, they say how the operations the replica already has
/// ended, so their task events can be reported again.
pub async fn read_history(node: &dyn ReplicaNode, node_index: &str, partition: u32, since: u64) -> Result<History, NodeError> {
    'restart: loop {
        let mut history = History::default();
        let mut decided = false;
        let mut from = None;
        loop {
            let (tasks, next) = node.tasks_of(node_index, from).await?;
            for task in tasks {
                let marker = task.custom_metadata.as_deref().and_then(Marker::parse).filter(|m| m.partition == partition);
                if !decided {
                    match evidence(&task, partition) {
                        Evidence::Unrelated => {}
                        Evidence::AppliedThrough(position) => {
                            history.checkpoint = position;
                            decided = true;
                        }
                        Evidence::Pending { task_uid } => {
                            node.wait(task_uid).await?;
                            continue 'restart;
                        }
                    }
                }
                let below = marker.is_some_and(|m| m.last < since);
                history.tasks.push(task);
                if decided && below {
                    return Ok(history);
                }
            }
            match next {
                Some(n) => from = Some(n),
                None => return Ok(history),
            }
        }
    }
}

/// A real node over HTTP.
pub struct HttpReplica {
    pub client: NodeClient,
    pub poll_interval: Duration,
    pub task_timeout: Duration,
    pub uids: TaskUidWatch,
}

/// Meilisearch numbers tasks from 0 in a new database and never reuses a number, so a node that
/// numbers a new task at or below a number it had given before the request was even sent has
/// lost its database: the only sign of it a node gives (its address and key are the same).
/// (Comparing with the number seen before the request, not the highest seen by its answer, keeps
/// requests sent at the same time, answered in any order, from looking like a reset.)
#[derive(Debug, Default)]
pub struct TaskUidWatch {
    highest: std::sync::Mutex<Option<u64>>,
    resets: std::sync::atomic::AtomicU64,
}

impl TaskUidWatch {
    /// The highest task uid seen so far: take it before sending a request.
    pub fn before_sending(&self) -> Option<u64> {
        *self.highest.lock().expect("task uid watch lock")
    }

    /// Notes the uid a request sent after `before` got; `Err(seen)` when it is not above `seen`.
    pub fn enqueued(&self, before: Option<u64>, uid: u64) -> Result<(), u64> {
        let mut highest = self.highest.lock().expect("task uid watch lock");
        match before {
            Some(seen) if uid <= seen => {
                *highest = Some(uid);
                self.resets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(seen)
            }
            _ => {
                *highest = (*highest).max(Some(uid));
                Ok(())
            }
        }
    }

    pub fn resets(&self) -> u64 {
        self.resets.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn method(m: DocumentMethod) -> DocumentsMethod {
    match m {
        DocumentMethod::Replace => DocumentsMethod::Replace,
        DocumentMethod::Update => DocumentsMethod::Update,
    }
}

#[async_trait]
impl ReplicaNode for HttpReplica {
    fn id(&self) -> &str {
        self.client.node_id()
    }

    async fn send(&self, node_index: &str, request: &NodeRequest, metadata: Option<&str>) -> Result<u64, NodeError> {
        let c = &self.client;
        let before = self.uids.before_sending();
        let meta = WriteParams { primary_key: None, custom_metadata: metadata.map(str::to_owned) };
        let info = match request {
            NodeRequest::Documents { method: m, primary_key, ndjson, .. } => {
                let params = WriteParams { primary_key: Some(primary_key.clone()), ..meta };
                c.add_documents_ndjson(node_index, method(*m), ndjson.clone(), &params).await?
            }
            NodeRequest::DeleteIds(ids) => c.delete_documents_by_ids(node_index, ids, &meta).await?,
            NodeRequest::DeleteByFilter(filter) => c.delete_documents_by_filter(node_index, filter, &meta).await?,
            NodeRequest::EditDocuments(body) => {
                c.enable_document_edition().await?;
                c.edit_documents(node_index, body, &meta).await?
            }
            NodeRequest::UpdateSettings(settings) => c.update_settings(node_index, &Value::Object(settings.clone())).await?,
            NodeRequest::ResetSettings => c.reset_settings(node_index).await?,
            NodeRequest::CreateIndex { primary_key } => c.create_index(node_index, primary_key.as_deref()).await?,
            NodeRequest::UpdateIndex { primary_key, new_node_index } => {
                let mut changes = json!({});
                if let Some(pk) = primary_key {
                    changes["primaryKey"] = pk.clone().into();
                }
                if let Some(uid) = new_node_index {
                    changes["uid"] = uid.clone().into();
                }
                c.update_index(node_index, &changes).await?
            }
            NodeRequest::DeleteIndex => c.delete_index(node_index).await?,
            NodeRequest::Compact => c.compact_index(node_index).await?,
            NodeRequest::Swap(pairs) => c.swap_indexes(pairs).await?,
        };
        match self.uids.enqueued(before, info.task_uid) {
            Ok(()) => Ok(info.task_uid),
            Err(seen) => Err(NodeError::Reset { node: self.id().to_owned(), task_uid: info.task_uid, seen }),
        }
    }

    async fn wait(&self, task_uid: u64) -> Result<TaskView, NodeError> {
        self.client.wait_for_task(task_uid, self.poll_interval, self.task_timeout).await
    }

    async fn tasks_of(&self, node_index: &str, from: Option<u64>) -> Result<(Vec<TaskView>, Option<u64>), NodeError> {
        let filter = TaskFilter { index_uids: vec![node_index.to_owned()], limit: Some(100), from, ..TaskFilter::default() };
        let page = self.client.get_tasks(&filter).await?;
        Ok((page.results, page.next))
    }

    async fn healthy(&self) -> bool {
        self.client.probe_health().await
    }

    async fn filterable_attributes(&self, node_index: &str) -> Result<Value, NodeError> {
        Ok(self.client.get_settings(node_index).await?.get("filterableAttributes").cloned().unwrap_or(Value::Null))
    }

    fn resets(&self) -> u64 {
        self.uids.resets()
    }
}

#[cfg(test)]
mod tests {
    use super::TaskUidWatch;

    #[test]
    fn requests_answered_out_of_order_are_no_reset() {
        let watch = TaskUidWatch::default();
        watch.enqueued(watch.before_sending(), 7).unwrap();
        // Two requests sent together: the one numbered 9 is answered first.
        let (first, second) = (watch.before_sending(), watch.before_sending());
        watch.enqueued(second, 9).unwrap();
        watch.enqueued(first, 8).unwrap();
        assert_eq!(watch.before_sending(), Some(9));
        assert_eq!(watch.resets(), 0);
    }

    #[test]
    fn a_number_not_above_one_seen_before_sending_is_a_reset_once() {
        let watch = TaskUidWatch::default();
        watch.enqueued(watch.before_sending(), 40).unwrap();
        assert_eq!(watch.enqueued(watch.before_sending(), 0), Err(40));
        assert_eq!(watch.resets(), 1);
        // Numbering goes on from the new database's first task.
        watch.enqueued(watch.before_sending(), 1).unwrap();
        assert_eq!(watch.resets(), 1);
    }
}

//! Node tasks: reading them, filtering them, waiting for them.

use super::client::{NodeClient, Request};
use super::error::NodeError;
use miroir_schemas::error::ResponseError;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub use miroir_schemas::tasks::TaskStatus;

/// The `202` answer to a write: the node task it enqueued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    pub task_uid: u64,
    pub index_uid: Option<String>,
    pub status: TaskStatus,
    #[serde(rename = "type")]
    pub kind: String,
    pub enqueued_at: String,
}

/// A node task as `GET /tasks/{uid}` shows it. `details` stays raw JSON: its shape depends on
/// the task type and Miroir only reads counts out of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub uid: u64,
    #[serde(default)]
    pub batch_uid: Option<u64>,
    #[serde(default)]
    pub index_uid: Option<String>,
    pub status: TaskStatus,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    #[serde(default)]
    pub error: Option<ResponseError>,
    #[serde(default)]
    pub duration: Option<String>,
    pub enqueued_at: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub custom_metadata: Option<String>,
}

/// `GET /tasks` filters. Empty lists mean "no filter".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    pub uids: Vec<u64>,
    pub index_uids: Vec<String>,
    pub statuses: Vec<TaskStatus>,
    pub types: Vec<String>,
    pub limit: Option<u32>,
    /// Start listing at this uid (downwards unless `reverse`).
    pub from: Option<u64>,
    pub reverse: bool,
}

impl TaskFilter {
    fn to_query(&self) -> Vec<(&'static str, String)> {
        fn join<T: ToString>(items: &[T]) -> String {
            items.iter().map(T::to_string).collect::<Vec<_>>().join(",")
        }
        let mut q = Vec::new();
        if !self.uids.is_empty() {
            q.push(("uids", join(&self.uids)));
        }
        if !self.index_uids.is_empty() {
            q.push(("indexUids", self.index_uids.join(",")));
        }
        if !self.statuses.is_empty() {
            q.push(("statuses", self.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")));
        }
        if !self.types.is_empty() {
            q.push(("types", self.types.join(",")));
        }
        if let Some(limit) = self.limit {
            q.push(("limit", limit.to_string()));
        }
        if let Some(from) = self.from {
            q.push(("from", from.to_string()));
        }
        if self.reverse {
            q.push(("reverse", "true".into()));
        }
        q
    }
}

/// One page of `GET /tasks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskPage {
    pub results: Vec<TaskView>,
    #[serde(default)]
    pub total: Option<u64>,
    pub limit: u32,
    #[serde(default)]
    pub from: Option<u64>,
    #[serde(default)]
    pub next: Option<u64>,
}

impl NodeClient {
    pub async fn get_task(&self, task_uid: u64) -> Result<TaskView, NodeError> {
        self.send_json(Request::new(Method::GET, format!("/tasks/{task_uid}"))).await
    }

    pub async fn get_tasks(&self, filter: &TaskFilter) -> Result<TaskPage, NodeError> {
        let mut req = Request::new(Method::GET, "/tasks");
        req.query = filter.to_query();
        self.send_json(req).await
    }

    /// Polls the task until it is succeeded, failed or canceled. The poll interval starts
    /// small (most node tasks of a small batch finish within milliseconds) and doubles up to
    /// `max_interval`.
    pub async fn wait_for_task(&self, task_uid: u64, max_interval: Duration, timeout: Duration) -> Result<TaskView, NodeError> {
        let started = Instant::now();
        let mut interval = Duration::from_millis(5).min(max_interval);
        loop {
            let task = self.get_task(task_uid).await?;
            if task.status.is_finished() {
                return Ok(task);
            }
            if started.elapsed() >= timeout {
                return Err(NodeError::TaskWaitTimeout { node: self.node_id().to_owned(), task_uid, waited: started.elapsed() });
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(max_interval);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_query() {
        let filter = TaskFilter {
            uids: vec![1, 2],
            index_uids: vec!["a__rank-0".into(), "b".into()],
            statuses: vec![TaskStatus::Succeeded, TaskStatus::Failed],
            limit: Some(1),
            from: Some(9),
            reverse: true,
            ..TaskFilter::default()
        };
        assert_eq!(
            filter.to_query(),
            vec![
                ("uids", "1,2".to_string()),
                ("indexUids", "a__rank-0,b".into()),
                ("statuses", "succeeded,failed".into()),
                ("limit", "1".into()),
                ("from", "9".into()),
                ("reverse", "true".into()),
            ]
        );
        assert!(TaskFilter::default().to_query().is_empty());
    }

    #[test]
    fn parses_a_real_failed_task() {
        let json = r#"{"uid":7,"batchUid":7,"indexUid":"movies","status":"failed","type":"documentAdditionOrUpdate",
          "canceledBy":null,"details":{"receivedDocuments":2,"indexedDocuments":0},
          "error":{"message":"Document identifier `x y` is invalid.","code":"invalid_document_id","type":"invalid_request","link":"https://docs.meilisearch.com/errors#invalid_document_id"},
          "duration":"PT0.01S","enqueuedAt":"2025-01-01T00:00:00Z","startedAt":"2025-01-01T00:00:00Z","finishedAt":"2025-01-01T00:00:00Z",
          "customMetadata":"miroir:3:41"}"#;
        let task: TaskView = serde_json::from_str(json).unwrap();
        assert_eq!(task.status, TaskStatus::Failed);
        assert_eq!(task.error.unwrap().code, "invalid_document_id");
        assert_eq!(task.custom_metadata.as_deref(), Some("miroir:3:41"));
        assert_eq!(task.details.unwrap()["receivedDocuments"], 2);
    }
}

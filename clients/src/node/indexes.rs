//! Index lifecycle and settings.

use super::client::{segment, NodeClient, Request};
use super::error::NodeError;
use super::tasks::TaskInfo;
use reqwest::Method;
use serde_json::{json, Value};

fn index_path(index_uid: &str) -> String {
    format!("/indexes/{}", segment(index_uid))
}

impl NodeClient {
    pub async fn create_index(&self, index_uid: &str, primary_key: Option<&str>) -> Result<TaskInfo, NodeError> {
        let body = json!({ "uid": index_uid, "primaryKey": primary_key });
        self.send_json(Request::new(Method::POST, "/indexes").json(&body)).await
    }

    /// `PATCH /indexes/{uid}`: sets the primary key (and, on recent versions, renames with `uid`).
    pub async fn update_index(&self, index_uid: &str, changes: &Value) -> Result<TaskInfo, NodeError> {
        self.send_json(Request::new(Method::PATCH, index_path(index_uid)).json(changes)).await
    }

    pub async fn delete_index(&self, index_uid: &str) -> Result<TaskInfo, NodeError> {
        self.send_json(Request::new(Method::DELETE, index_path(index_uid))).await
    }

    /// `POST /indexes/{uid}/compact`: an `indexCompaction` task whose details give the index's
    /// size before and after (`preCompactionSize`, `postCompactionSize`).
    pub async fn compact_index(&self, index_uid: &str) -> Result<TaskInfo, NodeError> {
        self.send_json(Request::new(Method::POST, format!("{}/compact", index_path(index_uid)))).await
    }

    /// `POST /swap-indexes` with one entry per `(a, b, rename)`; `rename` renames `a` to `b`
    /// instead of swapping.
    pub async fn swap_indexes(&self, swaps: &[(String, String, bool)]) -> Result<TaskInfo, NodeError> {
        let body: Vec<Value> = swaps
            .iter()
            .map(|(a, b, rename)| {
                let mut entry = json!({ "indexes": [a, b] });
                if *rename {
                    entry["rename"] = Value::Bool(true);
                }
                entry
            })
            .collect();
        self.send_json(Request::new(Method::POST, "/swap-indexes").json(&body)).await
    }

    /// `PATCH /indexes/{uid}/settings` with a (partial) settings object.
    pub async fn update_settings(&self, index_uid: &str, settings: &Value) -> Result<TaskInfo, NodeError> {
        let path = format!("{}/settings", index_path(index_uid));
        self.send_json(Request::new(Method::PATCH, path).json(settings)).await
    }

    /// `DELETE /indexes/{uid}/settings`: every setting back to its default.
    pub async fn reset_settings(&self, index_uid: &str) -> Result<TaskInfo, NodeError> {
        let path = format!("{}/settings", index_path(index_uid));
        self.send_json(Request::new(Method::DELETE, path)).await
    }

    pub async fn get_settings(&self, index_uid: &str) -> Result<Value, NodeError> {
        let path = format!("{}/settings", index_path(index_uid));
        self.send_json(Request::new(Method::GET, path)).await
    }
}

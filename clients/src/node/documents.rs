//! Document writes. Every write takes [`WriteParams`]: the primary key Miroir decided once,
//! centrally, and the `customMetadata` the node stores atomically with the task.

use super::client::{segment, NodeClient, Request};
use super::error::NodeError;
use super::tasks::TaskInfo;
use bytes::Bytes;
use reqwest::Method;
use serde_json::json;

/// `POST` replaces whole documents, `PUT` merges fields into existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DocumentsMethod {
    Replace,
    Update,
}

/// Query parameters of a document write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteParams {
    pub primary_key: Option<String>,
    pub custom_metadata: Option<String>,
}

impl WriteParams {
    fn apply<'a>(&self, req: Request<'a>) -> Request<'a> {
        req.query_opt("primaryKey", self.primary_key.clone()).query_opt("customMetadata", self.custom_metadata.clone())
    }

    /// Only `customMetadata`: deletions take no primary key.
    fn apply_metadata<'a>(&self, req: Request<'a>) -> Request<'a> {
        req.query_opt("customMetadata", self.custom_metadata.clone())
    }
}

fn documents_path(index_uid: &str) -> String {
    format!("/indexes/{}/documents", segment(index_uid))
}

impl NodeClient {
    /// Adds (replace) or updates documents given as NDJSON (one JSON object per line).
    pub async fn add_documents_ndjson(
        &self,
        index_uid: &str,
        method: DocumentsMethod,
        ndjson: Bytes,
        params: &WriteParams,
    ) -> Result<TaskInfo, NodeError> {
        let http_method = match method {
            DocumentsMethod::Replace => Method::POST,
            DocumentsMethod::Update => Method::PUT,
        };
        let req = Request::new(http_method, documents_path(index_uid)).body(ndjson, "application/x-ndjson");
        self.send_json(params.apply(req)).await
    }

    /// Deletes the documents with these ids (strings or integers, as JSON).
    pub async fn delete_documents_by_ids(
        &self,
        index_uid: &str,
        ids: &[serde_json::Value],
        params: &WriteParams,
    ) -> Result<TaskInfo, NodeError> {
        let req = Request::new(Method::POST, format!("{}/delete-batch", documents_path(index_uid))).json(&ids);
        self.send_json(params.apply_metadata(req)).await
    }

    /// Deletes the documents matching `filter` (string or array form).
    pub async fn delete_documents_by_filter(
        &self,
        index_uid: &str,
        filter: &serde_json::Value,
        params: &WriteParams,
    ) -> Result<TaskInfo, NodeError> {
        let req = Request::new(Method::POST, format!("{}/delete", documents_path(index_uid))).json(&json!({ "filter": filter }));
        self.send_json(params.apply_metadata(req)).await
    }

    /// `POST /indexes/{uid}/documents/edit` (the `editDocumentsByFunction` experimental
    /// feature): `body` holds `function`, and optionally `filter` and `context`.
    pub async fn edit_documents(&self, index_uid: &str, body: &serde_json::Value, params: &WriteParams) -> Result<TaskInfo, NodeError> {
        let req = Request::new(Method::POST, format!("{}/edit", documents_path(index_uid))).json(body);
        self.send_json(params.apply_metadata(req)).await
    }

    /// Turns on the `editDocumentsByFunction` experimental feature (a node keeps it in its
    /// database, so a node that came back empty has it off again; turning it on is harmless).
    pub async fn enable_document_edition(&self) -> Result<(), NodeError> {
        self.request_json(Method::PATCH, "/experimental-features", &[], Some(&json!({"editDocumentsByFunction": true}))).await?;
        Ok(())
    }

    /// Deletes every document of the index.
    pub async fn clear_documents(&self, index_uid: &str, params: &WriteParams) -> Result<TaskInfo, NodeError> {
        let req = Request::new(Method::DELETE, documents_path(index_uid));
        self.send_json(params.apply_metadata(req)).await
    }
}

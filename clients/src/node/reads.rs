//! Reads: stats, documents, search.

use super::client::{segment, NodeClient, Request};
use super::error::NodeError;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::Value;

impl NodeClient {
    /// `GET /stats`.
    pub async fn stats(&self) -> Result<Value, NodeError> {
        self.send_json(Request::new(Method::GET, "/stats")).await
    }

    /// `GET /indexes/{uid}/stats`.
    pub async fn index_stats(&self, index_uid: &str) -> Result<Value, NodeError> {
        self.send_json(Request::new(Method::GET, format!("/indexes/{}/stats", segment(index_uid)))).await
    }

    /// `POST /indexes/{uid}/documents/fetch` with `{filter, ids, fields, offset, limit, …}`;
    /// answers `{results, offset, limit, total}`.
    pub async fn fetch_documents(&self, index_uid: &str, query: &Value) -> Result<Value, NodeError> {
        let path = format!("/indexes/{}/documents/fetch", segment(index_uid));
        self.send_json(Request::new(Method::POST, path).json(query).read_only()).await
    }

    /// Every document of an index, paging through `documents/fetch` (for checks and repair,
    /// not for big indexes).
    pub async fn all_documents(&self, index_uid: &str, page_size: u32) -> Result<Vec<Value>, NodeError> {
        let mut out = Vec::new();
        loop {
            let page = self.fetch_documents(index_uid, &serde_json::json!({ "offset": out.len(), "limit": page_size })).await?;
            let results = page.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
            let done = results.len() < page_size as usize;
            out.extend(results);
            if done {
                return Ok(out);
            }
        }
    }

    /// `POST /multi-search` with extra headers (the gateway sends `Meili-Proxy-Search: true`).
    pub async fn multi_search(&self, body: &Value, extra_headers: &[(HeaderName, HeaderValue)]) -> Result<Value, NodeError> {
        let mut req = Request::new(Method::POST, "/multi-search").json(body).read_only();
        for (name, value) in extra_headers {
            req.headers.insert(name.clone(), value.clone());
        }
        self.send_json(req).await
    }
}

//! The connection to one node: base URL, key, HTTP pool, retries.

use super::error::NodeError;
use super::redact::redact_url;
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;
use tracing::Instrument;

/// How to talk to a node. The defaults suit a node on the same network.
#[derive(Clone)]
pub struct NodeClientConfig {
    /// Name used in errors and logs (never the URL, which may hold credentials).
    pub node_id: String,
    pub base_url: String,
    pub api_key: Option<String>,
    /// Deadline of one HTTP exchange.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Retries after a transport failure (0 = try once).
    pub max_retries: usize,
    pub retry_min_delay: Duration,
    pub retry_max_delay: Duration,
}

impl NodeClientConfig {
    pub fn new(node_id: impl Into<String>, base_url: impl Into<String>, api_key: Option<String>) -> Self {
        NodeClientConfig {
            node_id: node_id.into(),
            base_url: base_url.into(),
            api_key,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            max_retries: 3,
            retry_min_delay: Duration::from_millis(50),
            retry_max_delay: Duration::from_secs(1),
        }
    }
}

// Hand-written so neither the key nor URL credentials end up in logs.
impl fmt::Debug for NodeClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeClientConfig")
            .field("node_id", &self.node_id)
            .field("base_url", &redact_url(&self.base_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

/// Whether resending a request after an ambiguous transport failure (the request may have
/// reached the node) is acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Reads: resend after any transport failure or timeout.
    Always,
    /// Writes: resend only when the connection was never made, so a write is never enqueued twice
    /// by the client itself.
    OnlyIfNotSent,
}

/// One request, cheap to rebuild for every attempt.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'a str, String)>,
    pub body: Option<(Bytes, &'static str)>,
    pub headers: HeaderMap,
    pub resend: Resend,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        let resend = if method == Method::GET { Resend::Always } else { Resend::OnlyIfNotSent };
        Request { method, path: path.into(), query: Vec::new(), body: None, headers: HeaderMap::new(), resend }
    }

    pub fn json(mut self, value: &impl serde::Serialize) -> Self {
        let bytes = serde_json::to_vec(value).expect("serializing a JSON value cannot fail");
        self.body = Some((Bytes::from(bytes), "application/json"));
        self
    }

    pub fn body(mut self, bytes: Bytes, content_type: &'static str) -> Self {
        self.body = Some((bytes, content_type));
        self
    }

    pub fn query(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    pub fn query_opt(self, name: &'a str, value: Option<impl Into<String>>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Marks a POST that only reads (search, fetch) as safe to resend.
    pub fn read_only(mut self) -> Self {
        self.resend = Resend::Always;
        self
    }
}

/// Client for one Meilisearch node. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct NodeClient {
    http: reqwest::Client,
    config: std::sync::Arc<NodeClientConfig>,
    base: std::sync::Arc<str>,
}

impl fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeClient").field("config", &self.config).finish()
    }
}

impl NodeClient {
    pub fn new(config: NodeClientConfig) -> Result<NodeClient, NodeError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| NodeError::UnexpectedResponse {
                node: config.node_id.clone(),
                status: 0,
                body: "the node key is not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(90))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| NodeError::from_reqwest(&config.node_id, e))?;
        let base: std::sync::Arc<str> = config.base_url.trim_end_matches('/').into();
        Ok(NodeClient { http, config: std::sync::Arc::new(config), base })
    }

    pub fn node_id(&self) -> &str {
        &self.config.node_id
    }

    /// Sends `req`, retrying transport failures as its [`Resend`] allows, and returns the raw
    /// 2xx answer body. Non-2xx answers become [`NodeError::Meilisearch`] (not retried: the node
    /// made a decision).
    pub(crate) async fn send(&self, req: Request<'_>) -> Result<(u16, Bytes), NodeError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.config.retry_min_delay)
            .with_max_delay(self.config.retry_max_delay)
            .with_max_times(self.config.max_retries)
            .with_jitter();
        let resend = req.resend;
        // Under the caller's span (a gateway request, an indexer job), so a trace shows each node
        // call of a request; the path names node indexes and documents, never keys.
        let span = tracing::info_span!("node_call", node = %self.config.node_id, method = %req.method, path = %req.path);
        let attempt = || self.send_once(&req);
        attempt
            .retry(backoff)
            .when(|e: &NodeError| match resend {
                Resend::Always => e.is_unavailable(),
                Resend::OnlyIfNotSent => e.is_connect(),
            })
            .notify(|e, delay| tracing::debug!(node = %self.config.node_id, error = %e, ?delay, "retrying node request"))
            .instrument(span)
            .await
    }

    async fn send_once(&self, req: &Request<'_>) -> Result<(u16, Bytes), NodeError> {
        let node = self.config.node_id.as_str();
        let url = format!("{}{}", self.base, req.path);
        let mut builder = self.http.request(req.method.clone(), url).headers(req.headers.clone());
        if !req.query.is_empty() {
            builder = builder.query(&req.query);
        }
        if let Some((bytes, content_type)) = &req.body {
            builder = builder.header(CONTENT_TYPE, *content_type).body(bytes.clone());
        }
        let response = builder.send().await.map_err(|e| NodeError::from_reqwest(node, e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| NodeError::from_reqwest(node, e))?;
        if (200..300).contains(&status) {
            Ok((status, body))
        } else {
            Err(NodeError::from_body(node, status, &body))
        }
    }

    /// One `GET /health` within the client's request timeout and without retries: whether the
    /// node answers right now (a probe must not wait out a backoff on a stopped node).
    pub async fn probe_health(&self) -> bool {
        let req = Request::new(Method::GET, "/health");
        match self.send_once(&req).await {
            Ok((_, body)) => serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|v| v.get("status").and_then(serde_json::Value::as_str) == Some("available")),
            Err(_) => false,
        }
    }

    /// Sends `req` and decodes the JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(&self, req: Request<'_>) -> Result<T, NodeError> {
        let (status, body) = self.send(req).await?;
        serde_json::from_slice(&body).map_err(|e| NodeError::UnexpectedResponse {
            node: self.config.node_id.clone(),
            status,
            body: format!("undecodable answer ({e})"),
        })
    }

    /// Any request, for routes this client has no method for: `(status, JSON body)` on 2xx
    /// (`Value::Null` for an empty body). Treated as a write for retries unless `method` is GET.
    pub async fn request_json(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), NodeError> {
        let mut req = Request::new(method, path);
        req.query = query.iter().map(|(k, v)| (*k, v.clone())).collect();
        if let Some(body) = body {
            req = req.json(body);
        }
        let (status, bytes) = self.send(req).await?;
        if bytes.is_empty() {
            return Ok((status, serde_json::Value::Null));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| NodeError::UnexpectedResponse {
            node: self.config.node_id.clone(),
            status,
            body: format!("undecodable answer ({e})"),
        })?;
        Ok((status, value))
    }
}

/// Percent-encodes one path segment (index uids are `[A-Za-z0-9_-]`, but a user's document id
/// or a bad uid must not break the path).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_key_and_url_credentials() {
        let config = NodeClientConfig::new("n1", "http://user:pw@host:7700", Some("masterKey123".into()));
        let client = NodeClient::new(config).unwrap();
        let shown = format!("{client:?}");
        assert!(!shown.contains("masterKey123"), "{shown}");
        assert!(!shown.contains("pw"), "{shown}");
        assert!(shown.contains("n1"));
    }

    #[test]
    fn segments_are_escaped() {
        assert_eq!(segment("movies__rank-1"), "movies__rank-1");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}

//! The Meilisearch an export sends to, called as a node calls it (watched on the real binary):
//! `Authorization: Bearer <apiKey>` when a key was given, JSON bodies, documents as gzipped
//! NDJSON; each request given 5 s; 408, 429, 5xx answers and transport errors retried with an
//! exponential backoff for up to 15 minutes in all; any other error answer ends the export.

use std::io::Write as _;
use std::time::{Duration, Instant};

use miroir_schemas::error::{Code, ResponseError};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request is retried, as the `backoff` crate's default a node uses.
const RETRY_FOR: Duration = Duration::from_secs(15 * 60);
const FIRST_WAIT: Duration = Duration::from_millis(500);
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Why a request to the remote failed for good.
#[derive(Debug)]
pub enum RemoteError {
    /// The remote answered a Meilisearch error.
    Answered { code: String, error_type: String, message: String, link: String },
    /// No usable answer within the retry budget.
    Unreachable(String),
}

impl RemoteError {
    /// The task's error, worded as a node words it.
    pub fn into_task_error(self) -> ResponseError {
        match self {
            RemoteError::Answered { code, error_type, message, link } => ResponseError::new(
                Code::Internal,
                format!("Failed to export documents to remote server {code} ({error_type}): {message} <{link}>"),
            ),
            RemoteError::Unreachable(reason) => {
                ResponseError::new(Code::Internal, format!("Failed to export to the remote server: {reason}"))
            }
        }
    }

    pub fn is_index_not_found(&self) -> bool {
        matches!(self, RemoteError::Answered { code, .. } if code == "index_not_found")
    }
}

/// The remote: its base URL and key.
pub struct Remote {
    client: reqwest::Client,
    base_url: String,
    bearer: Option<String>,
}

/// A request body.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    /// NDJSON, gzipped before sending.
    Documents(&'a [u8]),
}

impl Remote {
    pub fn new(base_url: &str, api_key: Option<&str>) -> Result<Remote, ResponseError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| ResponseError::new(Code::Internal, format!("Cannot build an HTTP client: {error}")))?;
        Ok(Remote { client, base_url: base_url.to_owned(), bearer: api_key.map(|key| format!("Bearer {key}")) })
    }

    /// Sends `body` to `path` until it succeeds or fails for good; the successful answer's body.
    pub async fn call(&self, method: Method, path: &str, body: Body<'_>) -> Result<Value, RemoteError> {
        let compressed = match body {
            Body::Documents(documents) => Some(gzip(documents).map_err(|error| RemoteError::Unreachable(error.to_string()))?),
            _ => None,
        };
        let started = Instant::now();
        let mut wait = FIRST_WAIT;
        loop {
            let mut request = self.client.request(method.clone(), format!("{}{path}", self.base_url));
            if let Some(bearer) = &self.bearer {
                request = request.header(reqwest::header::AUTHORIZATION, bearer);
            }
            request = match (&body, &compressed) {
                (Body::Json(value), _) => request.json(value),
                (Body::Documents(_), Some(compressed)) => request
                    .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
                    .header(reqwest::header::CONTENT_ENCODING, "gzip")
                    .body(compressed.clone()),
                _ => request,
            };
            let retry_reason = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response.json().await.unwrap_or(Value::Null)),
                Ok(response) if retried(response.status()) => format!("the remote answered {}", response.status()),
                Ok(response) => return Err(answered(response).await),
                Err(error) => without_url(&error),
            };
            if started.elapsed() + wait > RETRY_FOR {
                return Err(RemoteError::Unreachable(retry_reason));
            }
            tracing::debug!(path, reason = %retry_reason, "export request retried");
            tokio::time::sleep(wait).await;
            wait = wait.mul_f64(1.5).min(LONGEST_WAIT);
        }
    }
}

fn retried(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

async fn answered(response: reqwest::Response) -> RemoteError {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    match (field("code"), field("type"), field("message"), field("link")) {
        (Some(code), Some(error_type), Some(message), Some(link)) => RemoteError::Answered { code, error_type, message, link },
        _ => RemoteError::Unreachable(format!("the remote answered {status} without a Meilisearch error")),
    }
}

/// A transport error's text without its URL (it may carry credentials).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<remote>");
    }
    text
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes)?;
    encoder.finish()
}

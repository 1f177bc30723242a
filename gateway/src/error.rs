//! The one error type of the gateway's HTTP layer. Every variant leaves as Meilisearch's
//! `{message, code, type, link}` object, its code and status taken from the shared table in
//! `miroir_schemas::error`, so a client cannot tell a Miroir error from a node's.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use miroir_clients::log::LogError;
use miroir_schemas::error::{Code, ResponseError};

/// Seconds a client is asked to wait before retrying after a `503`.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// An error Meilisearch itself would answer (bad input, missing index, auth, …).
    #[error("{0}")]
    Meili(ResponseError),
    /// The log did not durably store a write: nothing was acknowledged, the client may retry.
    #[error("the write log is unavailable: {0}")]
    LogUnavailable(String),
    /// The request body is bigger than `--payload-limit`.
    #[error("payload larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A bug or an unexpected state inside Miroir.
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// Shorthand for an error Meilisearch answers with `code` and `message`.
    pub fn meili(code: Code, message: impl Into<String>) -> Self {
        GatewayError::Meili(ResponseError::new(code, message))
    }

    /// The error object and status this error is answered with.
    pub fn response_error(&self) -> ResponseError {
        match self {
            GatewayError::Meili(error) => error.clone(),
            GatewayError::LogUnavailable(_) => ResponseError::new(
                Code::Internal,
                "Miroir's write log is unavailable, so the request was not accepted. Nothing was written; retry later.",
            )
            .with_http_status(503),
            GatewayError::PayloadTooLarge { limit } => crate::documents::payload::payload_too_large(*limit as u64),
            GatewayError::Internal(reason) => ResponseError::new(Code::Internal, reason.clone()),
        }
    }
}

impl From<ResponseError> for GatewayError {
    fn from(error: ResponseError) -> Self {
        GatewayError::Meili(error)
    }
}

impl From<LogError> for GatewayError {
    fn from(error: LogError) -> Self {
        match error {
            LogError::Unavailable(reason) | LogError::Broker(reason) => GatewayError::LogUnavailable(reason),
            // Writes are split below the broker limit and names are ours: either is a bug. Only
            // `ops` and `cdc` are trimmed, and a gateway reads neither.
            other @ (LogError::MessageTooLarge { .. } | LogError::Invalid(_) | LogError::Trimmed { .. }) => {
                GatewayError::Internal(other.to_string())
            }
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        if let GatewayError::LogUnavailable(reason) | GatewayError::Internal(reason) = &self {
            tracing::warn!(%reason, "request failed");
        }
        error_response(&self.response_error())
    }
}

/// An error of Miroir's own (no Meilisearch code says it) in Meilisearch's shape: SDKs surface
/// unknown codes as they are. Every such code is listed in `docs/miroir-headers.md`.
pub fn miroir_error(
    code: &str,
    error_type: miroir_schemas::error::ErrorType,
    http_status: u16,
    message: impl Into<String>,
) -> ResponseError {
    ResponseError {
        message: message.into(),
        code: code.to_owned(),
        error_type: error_type.as_str().to_owned(),
        link: format!("https://docs.meilisearch.com/errors#{code}"),
        http_status,
    }
}

/// The HTTP response carrying `error`, with `Retry-After` when it is a `503`.
pub fn error_response(error: &ResponseError) -> Response {
    let status = StatusCode::from_u16(error.http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Codes come from Meilisearch's closed vocabulary, so the label stays bounded.
    metrics::counter!("miroir_errors_total", "code" => error.code.clone()).increment(1);
    let mut response = (status, axum::Json(error)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use serde_json::{json, Value};

    async fn body_and_status(error: GatewayError) -> (StatusCode, Option<HeaderValue>, Value) {
        let response = error.into_response();
        let status = response.status();
        let retry = response.headers().get(header::RETRY_AFTER).cloned();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn meilisearch_errors_keep_their_object_and_status() {
        let (status, retry, body) = body_and_status(GatewayError::meili(Code::IndexNotFound, "Index `nope` not found.")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(retry.is_none());
        assert_eq!(
            body,
            json!({"message": "Index `nope` not found.", "code": "index_not_found", "type": "invalid_request",
                   "link": "https://docs.meilisearch.com/errors#index_not_found"})
        );
    }

    #[tokio::test]
    async fn an_unavailable_log_is_a_503_with_retry_after() {
        let (status, retry, body) = body_and_status(LogError::Unavailable("broker down".into()).into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(retry.unwrap(), "1");
        assert_eq!(body["code"], "internal");
        assert_eq!(body["type"], "internal");
        assert!(!body["message"].as_str().unwrap().contains("broker down"), "internal reasons stay in our logs");
    }

    #[tokio::test]
    async fn payload_too_large_reads_like_meilisearch() {
        let (status, _, body) = body_and_status(GatewayError::PayloadTooLarge { limit: DEFAULT_LIMIT }).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["message"], "The provided payload reached the size limit. The maximum accepted payload size is 100 MB.");
        assert_eq!(body["code"], "payload_too_large");
    }

    const DEFAULT_LIMIT: usize = crate::config::DEFAULT_PAYLOAD_LIMIT;
}

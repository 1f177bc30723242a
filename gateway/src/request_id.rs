//! Request ids: every API request gets one, the client's `X-Request-Id` when it is a plain
//! token (so a caller's own id follows the request), else a new UUID v7. It is returned in the
//! `X-Request-Id` response header, and everything the gateway logs while serving the request
//! (node calls, log appends, errors) happens inside a `request` span carrying it.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being served, in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

tokio::task_local! {
    /// The id of the request the current task serves (set by [`with_request_id`]).
    static CURRENT: String;
}

/// The id of the request being served on this task, if any: a write's task record carries it.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Middleware: assigns the id, serves the request inside its span, returns the id.
pub async fn with_request_id(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_plain_token(value))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = CURRENT.scope(id.clone(), next.run(request).instrument(span)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// A client id is kept only when it cannot forge log lines or grow without bound.
fn is_plain_token(value: &str) -> bool {
    (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_current_id_is_the_scoped_one() {
        assert_eq!(current(), None);
        assert_eq!(CURRENT.scope("r-1".to_owned(), async { current() }).await.as_deref(), Some("r-1"));
    }

    #[test]
    fn only_plain_tokens_are_kept() {
        for kept in ["abc", "0193d5a2-7c1e-7f3a-9b8e-2f1d4c5b6a7e", "trace:1.2_x"] {
            assert!(is_plain_token(kept), "{kept}");
        }
        for replaced in ["", "a b", "x\ny", "é", &"a".repeat(129)] {
            assert!(!is_plain_token(replaced), "{replaced:?}");
        }
    }
}

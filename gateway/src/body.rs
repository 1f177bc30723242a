//! Request bodies: the payload size limit and JSON bodies, refused as Meilisearch refuses them.

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderMap;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::error::Category;
use serde_json::Value;

use crate::error::GatewayError;

/// Reads the whole body, refusing it with `payload_too_large` as soon as it passes `limit`
/// bytes (nothing more is read).
pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut collected = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| GatewayError::meili(Code::BadRequest, "The provided payload is incomplete and cannot be parsed"))?;
        if collected.len() + chunk.len() > limit {
            return Err(GatewayError::PayloadTooLarge { limit });
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(collected))
}

/// The `Content-Type` header, when readable.
pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(CONTENT_TYPE).map(|value| value.to_str().unwrap_or("unknown"))
}

/// A JSON body for a route that accepts only `application/json`.
pub fn json_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Value, ResponseError> {
    match content_type(headers) {
        None => {
            return Err(ResponseError::new(
                Code::MissingContentType,
                "A Content-Type header is missing. Accepted values for the Content-Type header are: `application/json`",
            ))
        }
        Some(value) if !is_json(value) => {
            return Err(ResponseError::new(
                Code::InvalidContentType,
                format!("The Content-Type `{value}` is invalid. Accepted values for the Content-Type header are: `application/json`"),
            ))
        }
        Some(_) => {}
    }
    parse_json(bytes)
}

fn is_json(content_type: &str) -> bool {
    content_type.parse::<mime::Mime>().is_ok_and(|m| m.essence_str() == "application/json")
}

/// Parses JSON the way Meilisearch's JSON extractor reports problems: an empty body is
/// `missing_payload`, a syntax error `malformed_payload`.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ResponseError> {
    serde_json::from_slice(bytes).map_err(|error| {
        if error.classify() == Category::Eof && error.line() == 1 && error.column() == 0 {
            ResponseError::new(Code::MissingPayload, "A json payload is missing.")
        } else {
            ResponseError::new(Code::MalformedPayload, format!("The json payload provided is malformed. `{error}`."))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(content_type: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn code(result: Result<Value, ResponseError>) -> String {
        result.unwrap_err().code
    }

    #[test]
    fn json_bodies_are_checked_like_meilisearch() {
        assert_eq!(json_body(&headers(Some("application/json")), br#"{"uid":"a"}"#).unwrap()["uid"], "a");
        assert_eq!(json_body(&headers(Some("application/json; charset=utf-8")), b"[]").unwrap(), Value::Array(vec![]));
        assert_eq!(code(json_body(&headers(None), b"{}")), "missing_content_type");
        let invalid = json_body(&headers(Some("text/plain")), b"{}").unwrap_err();
        assert_eq!(invalid.code, "invalid_content_type");
        assert_eq!(invalid.http_status, 415);
        assert_eq!(
            invalid.message,
            "The Content-Type `text/plain` is invalid. Accepted values for the Content-Type header are: `application/json`"
        );
        assert_eq!(code(json_body(&headers(Some("application/json")), b"")), "missing_payload");
        let malformed = json_body(&headers(Some("application/json")), b"{\"uid\":").unwrap_err();
        assert_eq!(malformed.code, "malformed_payload");
        assert!(malformed.message.starts_with("The json payload provided is malformed. `"), "{}", malformed.message);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_payload_too_large() {
        let error = read_limited(Body::from(vec![b'x'; 11]), 10).await.unwrap_err();
        assert!(matches!(error, GatewayError::PayloadTooLarge { limit: 10 }));
        assert_eq!(read_limited(Body::from("0123456789"), 10).await.unwrap().len(), 10);
    }
}

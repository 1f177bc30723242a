//! The stand-in's one error type: a Meilisearch error object plus the HTTP status it goes out with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use miroir_schemas::error::{Code, ResponseError};

/// An error answered to the client exactly as a Meilisearch node would.
#[derive(Debug, Clone)]
pub struct ApiError(pub ResponseError);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError(ResponseError::new(code, message))
    }

    pub fn index_not_found(uid: &str) -> Self {
        ApiError::new(Code::IndexNotFound, format!("Index `{uid}` not found."))
    }

    /// `Unknown field `x`: expected one of `a`, `b`` (deserr's wording), as `bad_request`.
    pub fn unknown_field(field: &str, expected: &[&str]) -> Self {
        let list = expected.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
        ApiError::new(Code::BadRequest, format!("Unknown field `{field}`: expected one of {list}"))
    }

    /// `Invalid value type at `.path`: expected a X, but found Y: `v`` for a JSON body field.
    pub fn invalid_type(code: Code, path: &str, expected: &str, found: &serde_json::Value) -> Self {
        ApiError::new(
            code,
            format!(
                "Invalid value type at `.{path}`: expected {expected}, but found {}: `{}`",
                json_kind(found),
                found
            ),
        )
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.0.http_status = status;
        self
    }

    /// Prefixes the message, as `/multi-search` does with `Inside `.queries[i]`: `.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.0.message = format!("{prefix}{}", self.0.message);
        self
    }
}

/// deserr's name for a JSON value's kind in type errors.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_f64() => "a float",
        serde_json::Value::Number(n) if n.is_i64() && n.as_i64().unwrap_or(0) < 0 => {
            "a negative integer"
        }
        serde_json::Value::Number(_) => "a positive integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a sequence",
        serde_json::Value::Object(_) => "a map",
    }
}

impl From<ResponseError> for ApiError {
    fn from(e: ResponseError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

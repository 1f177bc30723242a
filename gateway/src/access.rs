//! The master-key-only guard of [`crate::app::router`] (tests, embedding): it accepts exactly
//! the master key, with Meilisearch's errors for a missing or wrong key. The gateway process
//! uses the `auth` middleware instead (API keys, tenant tokens).

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use miroir_schemas::error::Code;

use crate::auth::AuthContext;
use crate::error::GatewayError;
use crate::state::AppState;

/// Middleware guarding every route it wraps with the master key (open when none is set).
pub async fn require_master_key(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match check_master_key(state.master_key(), request.headers()) {
        Ok(()) => {
            // Handlers that read the `auth::Auth` verdict see the master key's.
            request.extensions_mut().insert(AuthContext::Unrestricted);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// Meilisearch's answer to the `Authorization` header when only the master key is valid.
pub fn check_master_key(master_key: Option<&str>, headers: &HeaderMap) -> Result<(), GatewayError> {
    let Some(master_key) = master_key else { return Ok(()) };
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(GatewayError::meili(
            Code::MissingAuthorizationHeader,
            "The Authorization header is missing. It must use the bearer authorization method.",
        ));
    };
    let presented = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    match presented {
        Some(key) if constant_time_eq(key.as_bytes(), master_key.as_bytes()) => Ok(()),
        _ => Err(GatewayError::meili(Code::InvalidApiKey, "The provided API key is invalid.")),
    }
}

/// Compares without stopping at the first differing byte, so timing does not leak the key.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn code(result: Result<(), GatewayError>) -> Option<String> {
        result.err().map(|e| e.response_error().code)
    }

    #[test]
    fn master_key_rules() {
        assert_eq!(code(check_master_key(None, &HeaderMap::new())), None);
        assert_eq!(code(check_master_key(Some("k"), &with_auth("Bearer k"))), None);
        assert_eq!(code(check_master_key(Some("k"), &HeaderMap::new())).as_deref(), Some("missing_authorization_header"));
        for wrong in ["Bearer x", "Bearer kk", "k", "Basic k"] {
            assert_eq!(code(check_master_key(Some("k"), &with_auth(wrong))).as_deref(), Some("invalid_api_key"), "{wrong}");
        }
    }
}

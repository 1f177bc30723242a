//! Idempotent writes: a write sent with an `Idempotency-Key` header is registered once. A
//! retry with the same key and the same request (method, path and query, content type, body),
//! through any gateway and within the window, gets the first answer (same status, same
//! summarized task, same `taskUid`) and registers nothing; the same key with another request
//! is refused (`idempotency_key_reused`, `422`, as the IETF `Idempotency-Key` draft answers).
//!
//! The reservation lives in the `tasks` log: the task record carries the key and the request's
//! digest, and the fold (`miroir_schemas::idempotency`) keeps the first record of a key and drops
//! later ones. A gateway therefore appends the task record first, folds up to it, and appends
//! the task's operations only when its record was the first; otherwise it answers with the
//! first record's task (ARCHITECTURE.md, "A write, end to end"). Keys are scoped by the API key
//! that sent them.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use miroir_schemas::error::{ErrorType, ResponseError};
use miroir_schemas::idempotency::Reservation;
use miroir_schemas::task_log::IdempotencyClaim;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::auth::AuthContext;
use crate::body::read_limited;
use crate::error::{miroir_error, GatewayError};
use crate::state::AppState;

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Refused: the key was used within its window for another request.
pub const KEY_REUSED_CODE: &str = "idempotency_key_reused";
/// Refused: the header's value is not a key.
pub const INVALID_KEY_CODE: &str = "invalid_idempotency_key";
/// Longest key accepted, in bytes.
pub const MAX_KEY_BYTES: usize = 255;
/// How long a key stays reserved unless `--idempotency-window-secs` says otherwise.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// How long a keyed write waits for this gateway's catalog to reach the end of `tasks`, and
/// then its own record, before deciding.
const CATCH_UP: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, clap::Args)]
pub struct IdempotencyArgs {
    /// How long an `Idempotency-Key` stays reserved after its first write (seconds, at most 30
    /// days). Every gateway of a cluster should use the same value; the fold honours the
    /// window each record carries.
    #[arg(long, env = "MIROIR_IDEMPOTENCY_WINDOW_SECS", default_value_t = DEFAULT_WINDOW.as_secs())]
    pub idempotency_window_secs: u64,
}

impl IdempotencyArgs {
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.idempotency_window_secs)
    }
}

tokio::task_local! {
    /// The key and digest of the keyed write being served (set by [`idempotent_writes`]).
    static PENDING: IdempotencyClaim;
}

/// The claim the write being served on this task makes, if it was sent with a key: its task
/// record carries it.
pub fn current_claim() -> Option<IdempotencyClaim> {
    PENDING.try_with(Clone::clone).ok()
}

/// Middleware (after authentication): answers a repeated keyed write from the reservation,
/// refuses a reused key, and serves a new keyed write with its claim in scope for `enqueue`.
/// Requests without the header, and reads, pass through untouched.
pub async fn idempotent_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let writes = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY_HEADER).filter(|_| writes) else {
        return next.run(request).await;
    };
    let key = match key.to_str().ok().filter(|key| is_key(key)) {
        Some(key) => key.to_owned(),
        None => return GatewayError::Meili(invalid_key()).into_response(),
    };
    let (parts, body) = request.into_parts();
    let bytes = match read_limited(body, state.payload_limit()).await {
        Ok(bytes) => bytes,
        Err(error) => return error.into_response(),
    };
    let content_type = parts.headers.get(CONTENT_TYPE).map(|value| value.as_bytes()).unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("", |path| path.as_str());
    let claim = IdempotencyClaim {
        key: scoped_key(parts.extensions.get::<AuthContext>(), &key),
        request_digest: request_digest(parts.method.as_str(), path, content_type, &bytes),
        window_seconds: state.idempotency_window().as_secs(),
    };
    match reserved(&state, &claim.key).await {
        Ok(Some(reservation)) => {
            return match replay(&reservation, &claim) {
                Ok(body) => (StatusCode::from_u16(reservation.status()).expect("200 or 202"), Json(body)).into_response(),
                Err(error) => error.into_response(),
            }
        }
        Ok(None) => {}
        Err(error) => return error.into_response(),
    }
    let request = Request::from_parts(parts, Body::from(bytes));
    with_claim(claim, next.run(request)).await
}

/// Runs `serve` with `claim` as the claim of the write it enqueues.
pub async fn with_claim<F: std::future::Future>(claim: IdempotencyClaim, serve: F) -> F::Output {
    PENDING.scope(claim, serve).await
}

/// The reservation of `key`, after catching up with `tasks` when this gateway has not seen it.
/// One whose window is over by this gateway's clock is ignored: the fold forgets it when it
/// folds the record this request is about to append (its `enqueuedAt` is at least now).
async fn reserved(state: &AppState, key: &str) -> Result<Option<Reservation>, GatewayError> {
    let lookup = || {
        let now = time::OffsetDateTime::now_utc();
        state.catalog().read(|catalog| catalog.idempotency_reservation(key).filter(|r| r.expires_at > now).cloned())
    };
    if let Some(reservation) = lookup() {
        return Ok(Some(reservation));
    }
    state.catalog().catch_up(state.log(), CATCH_UP).await?;
    Ok(lookup())
}

/// What the fold decided about a keyed write's record.
#[derive(Debug)]
pub enum Settled {
    /// The record is the task: append its operations.
    First,
    /// The record repeats an earlier one of its key: the first answer, or the refusal.
    Repeat(Result<Map<String, Value>, GatewayError>),
}

/// Waits for this gateway to fold the keyed write's record at `task_uid` and says what the
/// fold decided; `Err` when it is not folded in time (nothing decided yet).
pub async fn settle(state: &AppState, task_uid: u64, claim: &IdempotencyClaim) -> Result<Settled, GatewayError> {
    if !state.catalog().wait_folded(task_uid + 1, CATCH_UP).await {
        return Err(GatewayError::LogUnavailable(format!("task {task_uid} was not folded within {CATCH_UP:?}")));
    }
    let (first, reservation) =
        state.catalog().read(|catalog| (catalog.has_task(task_uid), catalog.idempotency_reservation(&claim.key).cloned()));
    Ok(match (first, reservation) {
        (true, _) => Settled::First,
        (false, Some(reservation)) => Settled::Repeat(replay(&reservation, claim)),
        (false, None) => {
            Settled::Repeat(Err(GatewayError::Internal(format!("task {task_uid} repeats a key whose reservation has already expired"))))
        }
    })
}

/// The first answer for a repeat of `claim`, or the refusal when the request differs.
pub fn replay(reservation: &Reservation, claim: &IdempotencyClaim) -> Result<Map<String, Value>, GatewayError> {
    if reservation.request_digest == claim.request_digest {
        Ok(reservation.summarized_task())
    } else {
        Err(GatewayError::Meili(key_reused(reservation.task_uid)))
    }
}

/// The key as the fold compares it: the client's key scoped by the API key that sent it (the
/// master key and an instance without one share the scope `*`).
pub fn scoped_key(auth: Option<&AuthContext>, key: &str) -> String {
    match auth.and_then(AuthContext::key_uid) {
        Some(uid) => format!("{uid}/{key}"),
        None => format!("*/{key}"),
    }
}

/// Hex SHA-256 over the parts that make two requests the same write, each length-prefixed so
/// no two different requests share an encoding.
pub fn request_digest(method: &str, path_and_query: &str, content_type: &[u8], body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path_and_query.as_bytes(), content_type, body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// A key is 1 to 255 visible ASCII characters.
pub fn is_key(key: &str) -> bool {
    (1..=MAX_KEY_BYTES).contains(&key.len()) && key.bytes().all(|byte| byte.is_ascii_graphic())
}

fn invalid_key() -> ResponseError {
    miroir_error(
        INVALID_KEY_CODE,
        ErrorType::InvalidRequest,
        400,
        format!("The `Idempotency-Key` header must be 1 to {MAX_KEY_BYTES} visible ASCII characters."),
    )
}

fn key_reused(task_uid: u64) -> ResponseError {
    miroir_error(
        KEY_REUSED_CODE,
        ErrorType::InvalidRequest,
        422,
        format!(
            "The `Idempotency-Key` was already used for another request (task `{task_uid}`). \
             Retry with the same method, route, query, content type and body, or use a new key."
        ),
    )
}

#[cfg(test)]
mod tests;

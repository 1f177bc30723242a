//! Session mode of read-your-writes: `Miroir-Session`. Every write's answer carries a session
//! token naming the task it registered (merged with the token the request sent, if any); a
//! read that sends a token back is served once this gateway has folded the logs as far as the
//! token says and sees every task of the session finished, so a client reads its own writes
//! through any gateway, across requests, without naming tasks. The gateway keeps nothing: the
//! token carries the session (`session::token`, pure). The wait is bounded by the search
//! deadline (`503 read_after_session_timeout` past it). Documented in `docs/miroir-headers.md`.

pub mod token;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use miroir_clients::log::Topic;
use miroir_schemas::error::{ErrorType, ResponseError};
use tokio::time::Instant;

use crate::catalog::Catalog;
use crate::error::{miroir_error, GatewayError};
use crate::state::AppState;
use token::{FoldedView, Positions, SessionProgress, SessionToken};

pub const SESSION_HEADER: &str = "miroir-session";
/// The header's value is not a session token.
pub const INVALID_SESSION_CODE: &str = "invalid_session";
/// The session's writes were not all visible within the deadline.
pub const TIMEOUT_CODE: &str = "read_after_session_timeout";

/// How often the catalog is looked at while waiting.
const POLL: Duration = Duration::from_millis(10);
/// Largest write answer read to find its `taskUid` (a summarized task is a few hundred bytes).
const TASK_ANSWER_LIMIT: usize = 64 * 1024;

/// A catalog as the session rules see it.
struct CatalogView<'a> {
    catalog: &'a Catalog,
    event_partitions: u32,
}

impl FoldedView for CatalogView<'_> {
    fn positions(&self) -> Positions {
        let events = (0..self.event_partitions)
            .map(|partition| (partition, self.catalog.next_event_position(partition)))
            .filter(|(_, next)| *next > 0)
            .collect();
        Positions { tasks: self.catalog.next_task_uid(), meta: self.catalog.next_meta_position(), events }
    }

    fn is_settled(&self, uid: u64) -> bool {
        uid < self.catalog.next_task_uid() && self.catalog.task_status(uid).is_none_or(|status| status.is_finished())
    }
}

/// Whether a request only reads (and so waits for its session): `GET`, and the `POST` routes
/// that search or read documents. Every other request is a write or an admin change, which is
/// never held back.
pub fn is_read(method: &Method, path: &str) -> bool {
    const READ_POSTS: [&str; 5] = ["/search", "/facet-search", "/similar", "/documents/fetch", "/fields"];
    match *method {
        Method::GET | Method::HEAD => true,
        Method::POST => path == "/multi-search" || READ_POSTS.iter().any(|suffix| path.starts_with("/indexes/") && path.ends_with(suffix)),
        _ => false,
    }
}

/// Whether a write's answer names a registered task: `202`, or `200` from the task routes that
/// register one (`POST /tasks/cancel`, `DELETE /tasks`).
fn answers_a_task(method: &Method, path: &str, status: StatusCode) -> bool {
    status == StatusCode::ACCEPTED
        || (status == StatusCode::OK && matches!((method, path), (&Method::POST, "/tasks/cancel") | (&Method::DELETE, "/tasks")))
}

/// Middleware (after authentication): holds a read sending a session until the session is
/// visible here, and hands every answer the session's token.
pub async fn session(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let sent = match sent_token(request.headers()) {
        Ok(sent) => sent,
        Err(error) => return GatewayError::Meili(error).into_response(),
    };
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    if is_read(&method, &path) {
        let Some(sent) = sent else { return next.run(request).await };
        let token = match wait_visible(&state, &sent, state.reads().config().deadline).await {
            Ok(token) => token,
            Err(error) => return error.into_response(),
        };
        return with_token(next.run(request).await, &token);
    }
    let response = next.run(request).await;
    // A handler may hand the session more than a task (an alias switch: a `meta` position).
    let handed = response.headers().get(SESSION_HEADER).and_then(|value| SessionToken::parse(value.to_str().ok()?));
    let (response, written) = match answers_a_task(&method, &path, response.status()) {
        true => task_of(response).await,
        false => (response, None),
    };
    let parts = [sent, written.map(SessionToken::wrote), handed];
    let Some(token) = parts.into_iter().flatten().reduce(|merged, token| merged.merge(&token)) else { return response };
    let token = state.catalog().read(|catalog| token.refreshed(&view(&state, catalog)));
    with_token(response, &token)
}

/// The session's `meta` position a request sends, if any (an unreadable token counts as none:
/// the session middleware refuses it).
pub fn sent_meta_position(headers: &HeaderMap) -> Option<u64> {
    sent_token(headers).ok().flatten().map(|token| token.positions.meta).filter(|&meta| meta > 0)
}

/// The token handing a session this gateway's `meta` position `folded` (what a change of
/// cluster state folded from `meta` adds to a session, e.g. an alias switch).
pub fn meta_token(folded: u64) -> HeaderValue {
    let token = SessionToken { positions: Positions { meta: folded, ..Positions::default() }, ..SessionToken::default() };
    HeaderValue::try_from(token.to_string()).expect("a token's text is visible ASCII")
}

fn view<'a>(state: &AppState, catalog: &'a Catalog) -> CatalogView<'a> {
    CatalogView { catalog, event_partitions: state.log().config().partitions(Topic::TaskEvents) }
}

/// The session the request sends (every `Miroir-Session` header merged), if any.
fn sent_token(headers: &HeaderMap) -> Result<Option<SessionToken>, ResponseError> {
    let values: Vec<&str> = match headers.get_all(SESSION_HEADER).iter().map(HeaderValue::to_str).collect() {
        Ok(values) => values,
        Err(_) => return Err(invalid_session("a header value that is not visible ASCII")),
    };
    if values.is_empty() {
        return Ok(None);
    }
    let joined = values.join(",");
    SessionToken::parse_all(values).map(Some).ok_or_else(|| invalid_session(&joined))
}

/// Waits until `token`'s session is visible in this gateway's catalog, at most `deadline`, and
/// returns the token to hand back.
pub async fn wait_visible(state: &AppState, token: &SessionToken, deadline: Duration) -> Result<SessionToken, GatewayError> {
    let until = Instant::now() + deadline;
    loop {
        let progress = state.catalog().read(|catalog| token.progress(&view(state, catalog)));
        match progress {
            SessionProgress::Ready(token) => return Ok(token),
            waiting if Instant::now() >= until => return Err(timeout(&waiting, deadline).into()),
            _ => tokio::time::sleep(POLL.min(until.saturating_duration_since(Instant::now()))).await,
        }
    }
}

/// The task uid a write's answer names, with the answer rebuilt from the bytes read.
async fn task_of(response: Response) -> (Response, Option<u64>) {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, TASK_ANSWER_LIMIT).await else {
        tracing::warn!("a write's answer could not be read to give its session token");
        return (Response::from_parts(parts, Body::empty()), None);
    };
    let uid = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|answer| answer.get("taskUid")?.as_u64());
    (Response::from_parts(parts, Body::from(bytes)), uid)
}

fn with_token(mut response: Response, token: &SessionToken) -> Response {
    let value = HeaderValue::try_from(token.to_string()).expect("a token's text is visible ASCII");
    response.headers_mut().insert(SESSION_HEADER, value);
    response
}

fn invalid_session(value: &str) -> ResponseError {
    miroir_error(
        INVALID_SESSION_CODE,
        ErrorType::InvalidRequest,
        400,
        format!("The `Miroir-Session` header must hold session tokens as Miroir returned them, found `{value}`."),
    )
}

pub(crate) fn timeout(progress: &SessionProgress, waited: Duration) -> ResponseError {
    let what = match progress {
        SessionProgress::Waiting(tasks) => {
            let tasks: Vec<String> = tasks.iter().map(|uid| format!("`{uid}`")).collect();
            format!("the session's tasks {} are not finished", tasks.join(", "))
        }
        _ => "this gateway has not caught up with the session's writes".to_owned(),
    };
    miroir_error(
        TIMEOUT_CODE,
        ErrorType::System,
        503,
        format!("After {} ms {what}, so the read could not reflect them and was not served. Retry later.", waited.as_millis()),
    )
}

#[cfg(test)]
mod tests;

//! `/logs/stream` and `/logs/stderr`: answered as a Meilisearch 1.50 node without the `logs
//! route` experimental feature (the cluster has it off, see [`crate::features`]): the body is
//! read as the node reads it, then the feature is missing.

use std::str::FromStr;

use axum::extract::State;
use axum::http::HeaderMap;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;
use tracing_subscriber::filter::Targets;

use crate::error::GatewayError;
use crate::features::LOGS_ROUTE;
use crate::routes::experimental::check_body_then_refuse;
use crate::settings::check::{At, Checked};
use crate::state::AppState;

fn refusal() -> ResponseError {
    LOGS_ROUTE.refuse("Modifying logs through the `/logs/*` routes")
}

/// A log target as Meilisearch parses it (`info`, `milli=trace,index_scheduler=off`).
fn target(at: &At, value: &Value) -> Checked {
    let text = at.string(value)?;
    if text.is_empty() {
        return Err(at.invalid("Empty string is not a valid target. If you want to get no logs use `OFF`. Usage: `info`, `meilisearch=info`, or you can write multiple filters in one target: `index_scheduler=info,milli=trace`"));
    }
    Targets::from_str(&text).map_err(|error| at.invalid(&error.to_string()))?;
    Ok(Value::String(text))
}

/// `POST /logs/stream`'s body: `target`, `mode`, `profileMemory` (every error `bad_request`),
/// then Meilisearch's check that memory is profiled only in `profile` mode (whose error
/// carries, as on the node, the typo tolerance code).
pub fn check_stream_body(body: &Value) -> Result<(), ResponseError> {
    let read = At::root(Code::BadRequest).object(
        body,
        &[("target", target), ("mode", |at, v| at.variant(v, &["human", "json", "profile"])), ("profileMemory", |at, v| at.boolean(v))],
        &[],
    )?;
    let mode = read.get("mode").and_then(Value::as_str).unwrap_or("human");
    if read.get("profileMemory") == Some(&Value::Bool(true)) && mode != "profile" {
        let mode = if mode == "json" { "Json" } else { "Human" };
        return Err(At::root(Code::InvalidSettingsTypoTolerance)
            .invalid(&format!("`profile_memory` can only be used while profiling code and is not compatible with the {mode} mode.")));
    }
    Ok(())
}

/// `POST /logs/stderr`'s body: `target`.
pub fn check_stderr_body(body: &Value) -> Result<(), ResponseError> {
    At::root(Code::BadRequest).object(body, &[("target", target)], &[])?;
    Ok(())
}

/// `POST /logs/stream`.
pub async fn stream(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> GatewayError {
    check_body_then_refuse(&state, &headers, body, check_stream_body, refusal()).await
}

/// `DELETE /logs/stream`.
pub async fn stop_stream() -> GatewayError {
    refusal().into()
}

/// `POST /logs/stderr`.
pub async fn stderr(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> GatewayError {
    check_body_then_refuse(&state, &headers, body, check_stderr_body, refusal()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refusal(result: Result<(), ResponseError>) -> (String, String) {
        let error = result.unwrap_err();
        (error.code, error.message)
    }

    #[test]
    fn bodies_are_read_as_meilisearch_reads_them() {
        // Each watched on Meilisearch 1.50.
        let bad = |message: &str| ("bad_request".to_owned(), message.to_owned());
        assert_eq!(
            refusal(check_stream_body(&json!({"foo": 1}))),
            bad("Unknown field `foo`: expected one of `target`, `mode`, `profileMemory`")
        );
        assert_eq!(
            refusal(check_stream_body(&json!({"mode": "x"}))),
            bad("Unknown value `x` at `.mode`: expected one of `human`, `json`, `profile`")
        );
        assert_eq!(
            refusal(check_stream_body(&json!({"mode": null}))),
            bad("Invalid value type at `.mode`: expected a string, but found null")
        );
        assert_eq!(
            refusal(check_stream_body(&json!({"target": 5}))),
            bad("Invalid value type at `.target`: expected a string, but found a positive integer: `5`")
        );
        assert_eq!(
            refusal(check_stream_body(&json!({"target": "milli=nope"}))),
            bad("Invalid value at `.target`: error parsing level filter: expected one of \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\", or a number 0-5")
        );
        assert_eq!(
            refusal(check_stderr_body(&json!({"target": "a=b=c"}))),
            bad("Invalid value at `.target`: invalid filter directive: too many '=' in filter directive, expected 0 or 1")
        );
        assert!(refusal(check_stream_body(&json!({"target": ""})))
            .1
            .starts_with("Invalid value at `.target`: Empty string is not a valid target."));
        assert_eq!(refusal(check_stderr_body(&json!({"foo": 1}))), bad("Unknown field `foo`: expected one of `target`"));
        assert_eq!(
            refusal(check_stream_body(&json!({"profileMemory": true}))),
            (
                "invalid_settings_typo_tolerance".to_owned(),
                "Invalid value: `profile_memory` can only be used while profiling code and is not compatible with the Human mode."
                    .to_owned()
            )
        );
        assert!(check_stream_body(&json!({"mode": "profile", "profileMemory": true, "target": "info"})).is_ok());
        assert!(check_stderr_body(&json!({})).is_ok());
    }
}

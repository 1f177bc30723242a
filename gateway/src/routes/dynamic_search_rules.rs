//! `/dynamic-search-rules`: answered as a Meilisearch 1.50 node without the `dynamic search
//! rules` experimental feature (the cluster has it off, see [`crate::features`]). A node reads
//! what its extractors read first, in the handler's order (the rule uid from the path, the
//! query string, the body), then finds the feature missing; so does the gateway.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::GatewayError;
use crate::features::DYNAMIC_SEARCH_RULES;
use crate::params::{index_uid_rule, is_meilisearch_index_uid, QueryParams};
use crate::routes::experimental::check_body_then_refuse;
use crate::settings::check::{coded, nullable, optional_boolean, optional_string, At, Checked};
use crate::state::AppState;

/// The refusal of the routes that register a task.
fn routes_refusal() -> ResponseError {
    DYNAMIC_SEARCH_RULES.refuse("Using the `/dynamic-search-rules` routes")
}

/// A rule uid from the path follows the index uid rule; a node refuses another one while
/// extracting the path: `404` with the rule in plain text.
fn check_rule_uid(uid: &str) -> Result<(), Response> {
    if is_meilisearch_index_uid(uid) {
        return Ok(());
    }
    Err((StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], index_uid_rule(uid)).into_response())
}

/// The query string of the routes that register a task: `customMetadata` only.
fn check_task_query(query: Vec<(String, String)>) -> Result<(), GatewayError> {
    Ok(QueryParams(query).check(&["customMetadata"])?)
}

/// `POST /dynamic-search-rules`' body: `offset`, `limit`, `filter: {query, active}`.
pub fn check_list_body(body: &Value) -> Result<(), ResponseError> {
    At::root(Code::BadRequest).object(
        body,
        &[
            ("offset", |at, v| Ok(at.with_code(Code::InvalidDynamicSearchRuleOffset).unsigned(v, u64::MAX)?.into())),
            ("limit", |at, v| Ok(at.with_code(Code::InvalidDynamicSearchRuleLimit).unsigned(v, u64::MAX)?.into())),
            ("filter", |at, v| {
                nullable(&at.with_code(Code::InvalidDynamicSearchRuleFilter), v, |at, v| {
                    let fields = at.object(
                        v,
                        &[
                            ("query", coded!(Code::InvalidDynamicSearchRuleFilterQuery, optional_string)),
                            ("active", coded!(Code::InvalidDynamicSearchRuleFilterActive, optional_boolean)),
                        ],
                        &[],
                    )?;
                    Ok(Value::Object(fields))
                })
            }),
        ],
        &[],
    )?;
    Ok(())
}

/// `PATCH /dynamic-search-rules/{uid}`'s body, every field optional and nullable.
pub fn check_rule_body(body: &Value) -> Result<(), ResponseError> {
    At::root(Code::BadRequest).object(
        body,
        &[
            ("description", coded!(Code::InvalidDynamicSearchRuleDescription, optional_string)),
            ("precedence", |at, v| {
                nullable(&at.with_code(Code::InvalidDynamicSearchRulePriority), v, |at, v| Ok(at.unsigned(v, u64::MAX)?.into()))
            }),
            ("active", coded!(Code::InvalidDynamicSearchRuleActive, optional_boolean)),
            ("conditions", |at, v| nullable(&at.with_code(Code::InvalidDynamicSearchRuleConditions), v, conditions)),
            ("actions", |at, v| nullable(&at.with_code(Code::InvalidDynamicSearchRuleActions), v, actions)),
        ],
        &[],
    )?;
    Ok(())
}

/// An RFC 3339 date, or `null`.
fn date(at: &At, value: &Value) -> Result<Option<OffsetDateTime>, ResponseError> {
    if value.is_null() {
        return Ok(None);
    }
    let text = at.string(value)?;
    OffsetDateTime::parse(&text, &Rfc3339).map(Some).map_err(|_| {
        at.invalid(&format!("`{text}` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"))
    })
}

/// `{time: {start, end}, query: {isEmpty, words}, filter: {values}}`, then Meilisearch's two
/// checks across fields (whose errors are `bad_request`).
fn conditions(at: &At, value: &Value) -> Checked {
    let read = at.object(
        value,
        &[
            ("time", |at, v| {
                nullable(at, v, |at, v| {
                    // Unknown fields are ignored here, as Meilisearch ignores them.
                    let object = v.as_object().ok_or_else(|| at.wrong_type(&[crate::request_errors::Kind::Map], v))?;
                    let mut read = serde_json::Map::new();
                    for name in ["start", "end"] {
                        if let Some(value) = object.get(name) {
                            date(&at.key(name), value)?;
                            read.insert(name.to_owned(), value.clone());
                        }
                    }
                    Ok(Value::Object(read))
                })
            }),
            ("query", |at, v| {
                nullable(at, v, |at, v| {
                    Ok(Value::Object(at.object(v, &[("isEmpty", optional_boolean), ("words", optional_string)], &[])?))
                })
            }),
            ("filter", |at, v| {
                nullable(at, v, |at, v| {
                    let values = |at: &At, v: &Value| at.map_of(v, |_, value| Ok(value.clone()));
                    Ok(Value::Object(at.object(v, &[("values", values)], &[])?))
                })
            }),
        ],
        &[],
    )?;
    let cross_field = At { code: Code::BadRequest, path: at.path.clone() };
    if let Some(query) = read.get("query").and_then(Value::as_object) {
        if query.get("isEmpty") == Some(&Value::Bool(true)) && query.get("words").is_some_and(|words| !words.is_null()) {
            return Err(cross_field.key("query").invalid("either `isEmpty` or `words` can be used, not both at once"));
        }
    }
    if let Some(time) = read.get("time").and_then(Value::as_object) {
        let at_time = at.key("time");
        let bound = |name: &str| time.get(name).map_or(Ok(None), |value| date(&at_time.key(name), value));
        if let (Some(start), Some(end)) = (bound("start")?, bound("end")?) {
            if start > end {
                return Err(cross_field.key("time").invalid(&format!("`end` (`{end}`) should be later than `start` (`{start}`)")));
            }
        }
    }
    Ok(Value::Object(read))
}

/// `[{selector: {indexUid?, id}, action: {type: "pin", position}}]`.
fn actions(at: &At, value: &Value) -> Checked {
    for (i, item) in at.array(value)?.iter().enumerate() {
        at.index(i).object(
            item,
            &[
                ("selector", |at, v| {
                    let selector = at.object(v, &[("indexUid", selector_index_uid), ("id", |at, v| Ok(at.string(v)?.into()))], &["id"])?;
                    Ok(Value::Object(selector))
                }),
                ("action", action),
            ],
            &["selector", "action"],
        )?;
    }
    Ok(value.clone())
}

fn selector_index_uid(at: &At, value: &Value) -> Checked {
    nullable(at, value, |at, v| {
        let uid = at.string(v)?;
        if !is_meilisearch_index_uid(&uid) {
            return Err(at.invalid(&index_uid_rule(&uid)));
        }
        Ok(Value::String(uid))
    })
}

/// A tagged action: its `type` is read first, then the fields of that variant (only `pin`).
fn action(at: &At, value: &Value) -> Checked {
    let object = value.as_object().ok_or_else(|| at.wrong_type(&[crate::request_errors::Kind::Map], value))?;
    let Some(tag) = object.get("type") else {
        return Err(at.error(crate::request_errors::missing_field(&at.path, "type")));
    };
    if at.key("type").string(tag)? != "pin" {
        return Err(at.invalid("Incorrect tag value"));
    }
    let mut fields = object.clone();
    fields.remove("type");
    at.object(&Value::Object(fields), &[("position", |at, v| Ok(at.unsigned(v, u64::from(u32::MAX))?.into()))], &["position"])?;
    Ok(value.clone())
}

/// `POST /dynamic-search-rules` (list the rules).
pub async fn list(State(state): State<AppState>, headers: HeaderMap, body: axum::body::Body) -> GatewayError {
    let refusal = DYNAMIC_SEARCH_RULES.refuse("Calling the `POST /dynamic-search-rules` route");
    check_body_then_refuse(&state, &headers, body, check_list_body, refusal).await
}

/// `DELETE /dynamic-search-rules` (every rule).
pub async fn clear(Query(query): Query<Vec<(String, String)>>) -> GatewayError {
    check_task_query(query).err().unwrap_or_else(|| routes_refusal().into())
}

/// `GET /dynamic-search-rules/{uid}`.
pub async fn get(Path(uid): Path<String>) -> Response {
    match check_rule_uid(&uid) {
        Ok(()) => {
            GatewayError::from(DYNAMIC_SEARCH_RULES.refuse("Calling the `GET /dynamic-search-rules/{:ruleUid}` route")).into_response()
        }
        Err(response) => response,
    }
}

/// `PATCH /dynamic-search-rules/{uid}` (create or update a rule).
pub async fn update(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if let Err(response) = check_rule_uid(&uid) {
        return response;
    }
    if let Err(error) = check_task_query(query) {
        return error.into_response();
    }
    check_body_then_refuse(&state, &headers, body, check_rule_body, routes_refusal()).await.into_response()
}

/// `DELETE /dynamic-search-rules/{uid}`: the query string is read before the uid.
pub async fn delete(Query(query): Query<Vec<(String, String)>>, Path(uid): Path<String>) -> Response {
    if let Err(error) = check_task_query(query) {
        return error.into_response();
    }
    match check_rule_uid(&uid) {
        Ok(()) => GatewayError::from(routes_refusal()).into_response(),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests;

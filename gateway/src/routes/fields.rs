//! `POST /indexes/{uid}/fields`: the index's fields, merged over its node indexes (see
//! [`crate::read::fields`]).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;

use crate::error::GatewayError;
use crate::params::is_valid_index_uid;
use crate::read::executor::ReadAnswer;
use crate::routes::write::json_request;
use crate::settings::check::{coded, nullable, optional_boolean, At, Checked, Reader};
use crate::state::AppState;

/// Meilisearch's default page size.
const DEFAULT_LIMIT: u64 = 20;

/// A checked `POST /indexes/{uid}/fields` body.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldsQuery {
    pub offset: u64,
    pub limit: u64,
    /// The `filter` object as sent (checked), which the nodes apply to their own fields.
    pub filter: Option<Value>,
}

/// Reads the body as Meilisearch 1.50 does (deserr: fields in order, each with its own code).
pub fn parse_fields_body(body: &Value) -> Result<FieldsQuery, ResponseError> {
    let read = At::root(Code::BadRequest).object(
        body,
        &[
            ("offset", |at, v| Ok(at.with_code(Code::InvalidIndexOffset).unsigned(v, u64::MAX)?.into())),
            ("limit", |at, v| Ok(at.with_code(Code::InvalidIndexLimit).unsigned(v, u64::MAX)?.into())),
            ("filter", |at, v| nullable(&at.with_code(Code::InvalidIndexFieldsFilter), v, filter)),
        ],
        &[],
    )?;
    let number = |name: &str, default: u64| read.get(name).and_then(Value::as_u64).unwrap_or(default);
    Ok(FieldsQuery {
        offset: number("offset", 0),
        limit: number("limit", DEFAULT_LIMIT),
        filter: read.get("filter").filter(|filter| !filter.is_null()).cloned(),
    })
}

fn filter(at: &At, value: &Value) -> Checked {
    let patterns: Reader =
        |at, v| nullable(&at.with_code(Code::InvalidIndexFieldsFilterAttributePatterns), v, |at, v| Ok(Value::from(at.string_list(v)?)));
    let fields = at.object(
        value,
        &[
            ("attributePatterns", patterns),
            ("displayed", coded!(Code::InvalidIndexFieldsFilterDisplayed, optional_boolean)),
            ("searchable", coded!(Code::InvalidIndexFieldsFilterSearchable, optional_boolean)),
            ("sortable", coded!(Code::InvalidIndexFieldsFilterSortable, optional_boolean)),
            ("distinct", coded!(Code::InvalidIndexFieldsFilterDistinct, optional_boolean)),
            ("rankingRule", coded!(Code::InvalidIndexFieldsFilterRankingRule, optional_boolean)),
            ("filterable", coded!(Code::InvalidIndexFieldsFilterFilterable, optional_boolean)),
        ],
        &[],
    )?;
    Ok(Value::Object(fields))
}

/// `POST /indexes/{uid}/fields`. The body is read before the index is looked up; a uid that
/// cannot name an index is not found, as on a node.
pub async fn post_fields(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<ReadAnswer, GatewayError> {
    let query = parse_fields_body(&json_request(&state, &headers, body).await?)?;
    if !is_valid_index_uid(&uid, state.topology().replication_factor) {
        return Err(GatewayError::meili(Code::IndexNotFound, format!("Index `{uid}` not found.")));
    }
    let (offset, limit) = (usize::try_from(query.offset).unwrap_or(usize::MAX), usize::try_from(query.limit).unwrap_or(usize::MAX));
    Ok(state.reads().index_fields(&uid, query.filter.as_ref(), offset, limit).await?)
}

#[cfg(test)]
mod tests;

//! What `/keys` routes answer: the key view, the paginated list, the `{key}` path parameter
//! lookup and the `offset`/`limit` query parameters, all as Meilisearch shapes them.

use miroir_schemas::error::{Code, ResponseError};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use super::key::ApiKey;
use super::store::KeyStore;
use crate::request_errors as msg;

fn rfc3339(date: OffsetDateTime) -> String {
    date.format(&Rfc3339).expect("key dates are within RFC 3339's range")
}

/// `{name, description, key, uid, actions, indexes, expiresAt, createdAt, updatedAt}`, in that
/// order. `key` is empty when no master key is set, as in Meilisearch.
pub fn key_view(store: &KeyStore, key: &ApiKey) -> Value {
    let record = &key.record;
    json!({
        "name": record.name,
        "description": record.description,
        "key": store.value_of(record.uid).unwrap_or_default(),
        "uid": record.uid.hyphenated().to_string(),
        "actions": record.actions,
        "indexes": record.indexes,
        "expiresAt": record.expires_at.map(rfc3339),
        "createdAt": rfc3339(record.created_at),
        "updatedAt": rfc3339(record.updated_at),
    })
}

/// `GET /keys` query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListQuery {
    pub offset: usize,
    pub limit: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery { offset: 0, limit: 20 }
    }
}

const LIST_PARAMS: &[&str] = &["offset", "limit"];

/// Parses the decoded query pairs of `GET /keys`, in request order.
pub fn parse_list_query(pairs: &[(String, String)]) -> Result<ListQuery, ResponseError> {
    let mut query = ListQuery::default();
    for (name, value) in pairs {
        let code = match name.as_str() {
            "offset" => Code::InvalidApiKeyOffset,
            "limit" => Code::InvalidApiKeyLimit,
            unknown => return Err(ResponseError::new(Code::BadRequest, msg::query_param_unknown(unknown, LIST_PARAMS))),
        };
        if pairs.iter().filter(|(other, _)| other == name).count() > 1 {
            return Err(ResponseError::new(code, msg::query_param_repeated(name)));
        }
        let parsed: usize = value.parse().map_err(|_| {
            ResponseError::new(code, msg::query_param_unexpected(name, &format!("could not parse `{value}` as a positive integer")))
        })?;
        if name == "offset" {
            query.offset = parsed;
        } else {
            query.limit = parsed;
        }
    }
    Ok(query)
}

/// `{results, offset, limit, total}` over the keys, newest first.
pub fn list_view(store: &KeyStore, query: ListQuery) -> Value {
    let keys = store.list();
    let results: Vec<Value> = keys.iter().skip(query.offset).take(query.limit).map(|key| key_view(store, key)).collect();
    json!({ "results": results, "offset": query.offset, "limit": query.limit, "total": keys.len() })
}

/// Resolves the `{key}` of `/keys/{key}`: a uid (any form `uuid` parses) or a key value.
pub fn resolve_key<'a>(store: &'a KeyStore, param: &str) -> Result<&'a ApiKey, ResponseError> {
    match Uuid::parse_str(param) {
        Ok(uid) => store.get(uid).ok_or_else(|| key_not_found(param)),
        Err(_) => store.find_by_value(param).ok_or_else(|| key_not_found(param)),
    }
}

/// `api_key_not_found` for the `{key}` parameter `param` (a uid is shown in its canonical form).
pub fn key_not_found(param: &str) -> ResponseError {
    let shown = Uuid::parse_str(param).map_or_else(|_| param.to_owned(), |uid| uid.to_string());
    ResponseError::new(Code::ApiKeyNotFound, format!("API key `{shown}` not found."))
}

#[cfg(test)]
mod tests;

//! Document routes: add/replace/update, get, list, fetch, delete (one, batch, filter, all).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::{check_index_uid, custom_metadata, enqueue, json_body, AppState};
use crate::standin::vectors;
use crate::standin::documents::{format_from_content_type, parse_payload, select_fields};
use crate::standin::error::{ApiError, ApiResult};
use crate::standin::filter_eval::{matches, unfilterable_message};
use crate::standin::settings::View;
use crate::standin::store::Index;
use crate::standin::tasks::TaskKind;
use miroir_schemas::error::Code;
use miroir_schemas::filter::Filter;

type Params = Query<Vec<(String, String)>>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/indexes/{uid}/documents", get(list_documents).post(add_documents).put(update_documents).delete(clear_documents))
        .route("/indexes/{uid}/documents/fetch", post(fetch_documents))
        .route("/indexes/{uid}/documents/delete-batch", post(delete_batch))
        .route("/indexes/{uid}/documents/delete", post(delete_by_filter))
        .route("/indexes/{uid}/documents/{id}", get(get_document).delete(delete_document))
}

fn param<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn add_documents(state: State<AppState>, path: Path<String>, q: Params, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    write_documents(state, path, q, headers, body, false)
}

async fn update_documents(state: State<AppState>, path: Path<String>, q: Params, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    write_documents(state, path, q, headers, body, true)
}

fn write_documents(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params, headers: HeaderMap, body: Bytes, merge: bool) -> ApiResult<Response> {
    check_index_uid(&uid, false)?;
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    let format = format_from_content_type(content_type)?;
    let delimiter = match param(&q, "csvDelimiter") {
        None => b',',
        Some(d) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
        Some(d) => return Err(ApiError::new(Code::InvalidDocumentCsvDelimiter, format!("Invalid value in parameter `csvDelimiter`: `{d}` must be a string of one character"))),
    };
    let documents = parse_payload(format, &body, delimiter)?;
    let primary_key = param(&q, "primaryKey").map(str::to_owned);
    Ok(enqueue(&shared, Some(uid), TaskKind::DocumentAdditionOrUpdate { documents, primary_key, merge }, custom_metadata(&q)))
}

async fn clear_documents(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params) -> Response {
    enqueue(&shared, Some(uid), TaskKind::DocumentClear, custom_metadata(&q))
}

async fn delete_document(State(shared): State<AppState>, Path((uid, id)): Path<(String, String)>, Query(q): Params) -> Response {
    enqueue(&shared, Some(uid), TaskKind::DocumentDeletion { ids: vec![id] }, custom_metadata(&q))
}

async fn delete_batch(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params, body: Bytes) -> ApiResult<Response> {
    let Value::Array(items) = json_body(&body)? else {
        return Err(ApiError::new(Code::BadRequest, "Invalid value type: expected an array"));
    };
    let ids = items
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(ApiError::new(Code::BadRequest, format!("Invalid value type at `[]`: expected a string or an integer, but found {}", crate::standin::error::json_kind(other)))),
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(enqueue(&shared, Some(uid), TaskKind::DocumentDeletion { ids }, custom_metadata(&q)))
}

async fn delete_by_filter(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params, body: Bytes) -> ApiResult<Response> {
    let Value::Object(body) = json_body(&body)? else {
        return Err(ApiError::new(Code::BadRequest, "Invalid value type: expected an object"));
    };
    let filter = body.get("filter").cloned().ok_or_else(|| ApiError::new(Code::MissingDocumentFilter, "Missing field `filter`"))?;
    miroir_schemas::filter::parse_json(&filter).map_err(|e| ApiError(e.to_response(Code::InvalidDocumentFilter)))?;
    Ok(enqueue(&shared, Some(uid), TaskKind::DocumentDeletionByFilter { filter }, custom_metadata(&q)))
}

fn document_filter(index: &Index, value: Option<&Value>) -> ApiResult<Option<Filter>> {
    let Some(value) = value else { return Ok(None) };
    let parsed = miroir_schemas::filter::parse_json(value).map_err(|e| ApiError(e.to_response(Code::InvalidDocumentFilter)))?;
    if let Some(f) = &parsed {
        if let Some(message) = unfilterable_message(f, &View(&index.settings).filterable_patterns()) {
            return Err(ApiError::new(Code::InvalidDocumentFilter, format!("Index `{}`: {message}", index.uid)));
        }
    }
    Ok(parsed)
}

fn fields_list(raw: Option<&str>) -> Option<Vec<String>> {
    raw.map(|f| f.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

/// `{results, offset, limit, total}` over the documents matching `filter` and `ids`.
fn document_page(index: &Index, ids: Option<&[String]>, filter: Option<&Filter>, fields: Option<&[String]>, retrieve_vectors: bool, offset: usize, limit: usize) -> Value {
    let displayed = View(&index.settings).strings("displayedAttributes");
    let wanted: Option<std::collections::HashSet<u64>> =
        ids.map(|ids| ids.iter().filter_map(|id| index.ids.get(id).copied()).collect());
    let selected: Vec<&crate::standin::tasks::Document> = index
        .documents
        .iter()
        .filter(|(internal, _)| wanted.as_ref().is_none_or(|w| w.contains(internal)))
        .filter(|(_, doc)| filter.is_none_or(|f| matches(f, doc)))
        .map(|(_, doc)| doc)
        .collect();
    let results: Vec<Value> = selected
        .iter()
        .skip(offset)
        .take(limit)
        .map(|doc| {
            let mut shown = select_fields(doc, &displayed, fields);
            vectors::add_retrieved(index, doc, &mut shown, retrieve_vectors);
            Value::Object(shown)
        })
        .collect();
    json!({"results": results, "offset": offset, "limit": limit, "total": selected.len()})
}

fn bool_param(q: &[(String, String)], name: &str, code: Code) -> ApiResult<bool> {
    match param(q, name) {
        None => Ok(false),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(v) => Err(ApiError::new(code, format!("Invalid value in parameter `{name}`: could not parse `{v}` as a boolean, expected either `true` or `false`"))),
    }
}

fn usize_param(q: &[(String, String)], name: &str, code: Code, default: usize) -> ApiResult<usize> {
    match param(q, name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e| ApiError::new(code, format!("Invalid value in parameter `{name}`: could not parse `{v}` as a positive integer: {e}"))),
    }
}

async fn list_documents(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params) -> ApiResult<Json<Value>> {
    let offset = usize_param(&q, "offset", Code::InvalidDocumentOffset, 0)?;
    let limit = usize_param(&q, "limit", Code::InvalidDocumentLimit, 20)?;
    let store = shared.lock();
    let index = store.index(&uid)?;
    let filter_value = param(&q, "filter").map(|f| Value::String(f.to_owned()));
    let filter = document_filter(index, filter_value.as_ref())?;
    let fields = fields_list(param(&q, "fields"));
    let retrieve_vectors = bool_param(&q, "retrieveVectors", Code::InvalidDocumentRetrieveVectors)?;
    Ok(Json(document_page(index, None, filter.as_ref(), fields.as_deref(), retrieve_vectors, offset, limit)))
}

async fn fetch_documents(State(shared): State<AppState>, Path(uid): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    let body: Map<String, Value> = match json_body(&body)? {
        Value::Object(map) => map,
        _ => return Err(ApiError::new(Code::BadRequest, "Invalid value type: expected an object")),
    };
    const FIELDS: &[&str] = &["offset", "limit", "fields", "retrieveVectors", "filter", "ids", "sort"];
    if let Some(unknown) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unknown_field(unknown, FIELDS));
    }
    let number = |name: &str, code: Code, default: usize| -> ApiResult<usize> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_u64().map(|n| n as usize).ok_or_else(|| ApiError::invalid_type(code, name, "a positive integer", v)),
        }
    };
    let offset = number("offset", Code::InvalidDocumentOffset, 0)?;
    let limit = number("limit", Code::InvalidDocumentLimit, 20)?;
    let strings = |name: &str, code: Code| -> ApiResult<Option<Vec<String>>> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect())),
            Some(other) => Err(ApiError::invalid_type(code, name, "an array", other)),
        }
    };
    let fields = strings("fields", Code::InvalidDocumentFields)?;
    let ids = strings("ids", Code::InvalidDocumentIds)?;
    let retrieve_vectors = match body.get("retrieveVectors") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => return Err(ApiError::invalid_type(Code::InvalidDocumentRetrieveVectors, "retrieveVectors", "a boolean", other)),
    };
    let store = shared.lock();
    let index = store.index(&uid)?;
    let filter = document_filter(index, body.get("filter").filter(|f| !f.is_null()))?;
    Ok(Json(document_page(index, ids.as_deref(), filter.as_ref(), fields.as_deref(), retrieve_vectors, offset, limit)))
}

async fn get_document(State(shared): State<AppState>, Path((uid, id)): Path<(String, String)>, Query(q): Params) -> ApiResult<Json<Value>> {
    let store = shared.lock();
    let index = store.index(&uid)?;
    let doc = index.get(&id).ok_or_else(|| ApiError::new(Code::DocumentNotFound, format!("Document `{id}` not found.")))?;
    let displayed = View(&index.settings).strings("displayedAttributes");
    let fields = fields_list(param(&q, "fields"));
    let mut shown = select_fields(doc, &displayed, fields.as_deref());
    vectors::add_retrieved(index, doc, &mut shown, bool_param(&q, "retrieveVectors", Code::InvalidDocumentRetrieveVectors)?);
    Ok(Json(Value::Object(shown)))
}

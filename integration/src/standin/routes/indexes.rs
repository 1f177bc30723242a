//! Index lifecycle, `/swap-indexes` and settings routes.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::{check_index_uid, custom_metadata, enqueue, json_body, AppState};
use crate::standin::error::{ApiError, ApiResult};
use crate::standin::settings::{field_from_route, validate_patch, SETTING_FIELDS};
use crate::standin::tasks::{Swap, TaskKind};
use miroir_schemas::error::Code;

type Params = Query<Vec<(String, String)>>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/indexes", get(list_indexes).post(create_index))
        .route("/indexes/{uid}", get(get_index).patch(update_index).delete(delete_index))
        .route("/indexes/{uid}/stats", get(index_stats))
        .route("/swap-indexes", post(swap_indexes))
        .route("/indexes/{uid}/settings", get(get_settings).patch(patch_settings).delete(reset_settings))
        .route(
            "/indexes/{uid}/settings/{name}",
            get(get_setting).put(put_setting).patch(put_setting).delete(reset_setting),
        )
}

fn object(body: &Bytes) -> ApiResult<Map<String, Value>> {
    match json_body(body)? {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::new(Code::BadRequest, format!("Invalid value type: expected an object, but found {}: `{other}`", crate::standin::error::json_kind(&other)))),
    }
}

fn primary_key_field(body: &Map<String, Value>) -> ApiResult<Option<String>> {
    match body.get("primaryKey") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid_type(Code::InvalidIndexPrimaryKey, "primaryKey", "a string", other)),
    }
}

async fn list_indexes(State(shared): State<AppState>, Query(q): Params) -> ApiResult<Json<Value>> {
    let number = |name: &str, code: Code| -> ApiResult<Option<usize>> {
        q.iter().find(|(k, _)| k == name).map(|(_, v)| {
            v.parse::<usize>().map_err(|e| ApiError::new(code, format!("Invalid value in parameter `{name}`: could not parse `{v}` as a positive integer: {e}")))
        }).transpose()
    };
    let offset = number("offset", Code::InvalidIndexOffset)?.unwrap_or(0);
    let limit = number("limit", Code::InvalidIndexLimit)?.unwrap_or(20);
    let store = shared.lock();
    let results: Vec<Value> = store.indexes.values().skip(offset).take(limit).map(|i| i.view()).collect();
    Ok(Json(json!({"results": results, "offset": offset, "limit": limit, "total": store.indexes.len()})))
}

async fn create_index(State(shared): State<AppState>, Query(q): Params, body: Bytes) -> ApiResult<Response> {
    let body = object(&body)?;
    if let Some(unknown) = body.keys().find(|k| *k != "uid" && *k != "primaryKey") {
        return Err(ApiError::unknown_field(unknown, &["uid", "primaryKey"]));
    }
    let uid = match body.get("uid") {
        None => return Err(ApiError::new(Code::MissingIndexUid, "Missing field `uid`")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(ApiError::invalid_type(Code::InvalidIndexUid, "uid", "a string", other)),
    };
    check_index_uid(&uid, true)?;
    let primary_key = primary_key_field(&body)?;
    Ok(enqueue(&shared, Some(uid), TaskKind::IndexCreation { primary_key }, custom_metadata(&q)))
}

async fn get_index(State(shared): State<AppState>, Path(uid): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(shared.lock().index(&uid)?.view()))
}

async fn index_stats(State(shared): State<AppState>, Path(uid): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(shared.lock().index(&uid)?.stats()))
}

async fn update_index(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params, body: Bytes) -> ApiResult<Response> {
    let body = object(&body)?;
    if let Some(unknown) = body.keys().find(|k| *k != "primaryKey") {
        return Err(ApiError::unknown_field(unknown, &["primaryKey", "uid"]));
    }
    let primary_key = primary_key_field(&body)?;
    Ok(enqueue(&shared, Some(uid), TaskKind::IndexUpdate { primary_key }, custom_metadata(&q)))
}

async fn delete_index(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params) -> Response {
    enqueue(&shared, Some(uid), TaskKind::IndexDeletion, custom_metadata(&q))
}

async fn swap_indexes(State(shared): State<AppState>, Query(q): Params, body: Bytes) -> ApiResult<Response> {
    let Value::Array(items) = json_body(&body)? else {
        return Err(ApiError::new(Code::BadRequest, "Invalid value type: expected an array"));
    };
    let mut swaps = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let pair = item.get("indexes").and_then(Value::as_array).ok_or_else(|| {
            ApiError::new(Code::MissingSwapIndexes, format!("Missing field `indexes` inside `[{i}]`"))
        })?;
        let names: Vec<String> = pair.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        let [a, b] = <[String; 2]>::try_from(names).map_err(|names| {
            ApiError::new(Code::InvalidSwapIndexes, format!(
                "Invalid value at `[{i}].indexes`: two indexes must be given for each swap. The list `{:?}` contains {} indexes.", names, names.len()
            ))
        })?;
        let rename = item.get("rename").and_then(Value::as_bool).unwrap_or(false);
        swaps.push(Swap { indexes: [a, b], rename });
    }
    Ok(enqueue(&shared, None, TaskKind::IndexSwap { swaps }, custom_metadata(&q)))
}

async fn get_settings(State(shared): State<AppState>, Path(uid): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(Value::Object(shared.lock().index(&uid)?.settings.clone())))
}

async fn patch_settings(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params, body: Bytes) -> ApiResult<Response> {
    check_index_uid(&uid, false)?;
    let patch = validate_patch(&json_body(&body)?)?;
    Ok(enqueue(&shared, Some(uid), TaskKind::SettingsUpdate { patch }, custom_metadata(&q)))
}

async fn reset_settings(State(shared): State<AppState>, Path(uid): Path<String>, Query(q): Params) -> ApiResult<Response> {
    shared.lock().index(&uid)?;
    let patch: Map<String, Value> = SETTING_FIELDS
        .iter()
        .filter(|f| !["foreignKeys", "chat"].contains(f))
        .map(|f| (f.to_string(), Value::Null))
        .collect();
    Ok(enqueue(&shared, Some(uid), TaskKind::SettingsUpdate { patch }, custom_metadata(&q)))
}

fn setting_name(name: &str) -> ApiResult<&'static str> {
    field_from_route(name).ok_or_else(|| ApiError::new(Code::BadRequest, format!("Unknown setting `{name}`.")))
}

async fn get_setting(State(shared): State<AppState>, Path((uid, name)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    let field = setting_name(&name)?;
    let store = shared.lock();
    Ok(Json(store.index(&uid)?.settings.get(field).cloned().unwrap_or(Value::Null)))
}

async fn put_setting(State(shared): State<AppState>, Path((uid, name)): Path<(String, String)>, Query(q): Params, body: Bytes) -> ApiResult<Response> {
    check_index_uid(&uid, false)?;
    let field = setting_name(&name)?;
    let value = json_body(&body)?;
    let mut wrapped = Map::new();
    wrapped.insert(field.to_owned(), value);
    let patch = validate_patch(&Value::Object(wrapped))?;
    Ok(enqueue(&shared, Some(uid), TaskKind::SettingsUpdate { patch }, custom_metadata(&q)))
}

async fn reset_setting(State(shared): State<AppState>, Path((uid, name)): Path<(String, String)>, Query(q): Params) -> ApiResult<Response> {
    let field = setting_name(&name)?;
    shared.lock().index(&uid)?;
    let mut patch = Map::new();
    patch.insert(field.to_owned(), Value::Null);
    Ok(enqueue(&shared, Some(uid), TaskKind::SettingsUpdate { patch }, custom_metadata(&q)))
}

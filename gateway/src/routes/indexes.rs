//! `/indexes` and `/indexes/{uid}`: answered from the catalog, changed through tasks.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use miroir_schemas::details::TaskDetails;
use miroir_schemas::envelope::Op;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::task_log::TaskType;
use miroir_schemas::tasks::rfc3339;
use serde_json::{json, Map, Value};

use crate::auth::Auth;
use crate::catalog::IndexInfo;
use crate::error::GatewayError;
use crate::params::{body_index_uid, path_index_uid, QueryParams};
use crate::request_errors::{incorrect_type, missing_field, Kind, Step};
use crate::routes::write::{checked_query, current_catalog, doomed, json_request, new_entry, object_fields, submit, Accepted};
use crate::state::AppState;
use crate::topology_changes::reshard::same_layouts;

const DEFAULT_LIMIT: u64 = 20;

fn index_view(uid: &str, index: &IndexInfo) -> Value {
    json!({
        "uid": uid,
        "createdAt": rfc3339(index.created_at),
        "updatedAt": rfc3339(index.updated_at),
        "primaryKey": index.primary_key,
    })
}

fn index_not_found(uid: &str) -> GatewayError {
    ResponseError::index_not_found(uid).into()
}

/// `GET /indexes?offset&limit`.
///
/// As on Meilisearch, a key restricted to some indexes sees only those, and `total` counts
/// only those.
pub async fn list(
    State(state): State<AppState>,
    Auth(caller): Auth,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, GatewayError> {
    let query = QueryParams(query);
    query.check(&["offset", "limit"])?;
    let offset = query.integer("offset", Code::InvalidIndexOffset)?.unwrap_or(0);
    let limit = query.integer("limit", Code::InvalidIndexLimit)?.unwrap_or(DEFAULT_LIMIT);
    let allowed = |uid: &str| caller.is_index_authorized(uid);
    let (results, total) = current_catalog(&state, |catalog| {
        let visible: Vec<_> = catalog.indexes().filter(|(uid, _)| allowed(uid)).collect();
        let results: Vec<Value> =
            visible.iter().skip(offset as usize).take(limit as usize).map(|(uid, index)| index_view(uid, index)).collect();
        (results, visible.len())
    })
    .await?;
    Ok(Json(json!({"results": results, "offset": offset, "limit": limit, "total": total})))
}

/// `GET /indexes/{uid}`.
pub async fn get(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    current_catalog(&state, |catalog| catalog.index(&uid).map(|index| index_view(&uid, index)))
        .await?
        .map(Json)
        .ok_or_else(|| index_not_found(&uid))
}

/// A `primaryKey` field: a string or null.
fn primary_key_field(object: &Map<String, Value>) -> Result<Option<String>, ResponseError> {
    match object.get("primaryKey") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(key)) => Ok(Some(key.clone())),
        Some(other) => Err(ResponseError::new(
            Code::InvalidIndexPrimaryKey,
            incorrect_type(&[Step::Key("primaryKey".into())], &[Kind::String, Kind::Null], other),
        )),
    }
}

/// `POST /indexes` `{uid, primaryKey}`.
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    let query = QueryParams(query);
    query.check(&["customMetadata"])?;
    let body = json_request(&state, &headers, body).await?;
    let object = object_fields(&body, &["uid", "primaryKey"])?;
    let uid = match object.get("uid") {
        None => return Err(GatewayError::meili(Code::MissingIndexUid, missing_field(&[], "uid"))),
        Some(Value::String(uid)) => uid.clone(),
        Some(other) => {
            return Err(GatewayError::meili(Code::InvalidIndexUid, incorrect_type(&[Step::Key("uid".into())], &[Kind::String], other)))
        }
    };
    body_index_uid(&uid, ".uid", state.topology().replication_factor)?;
    let primary_key = primary_key_field(object)?;
    // The route's action check cannot see the body's uid: a key holding `indexes.create` for
    // other indexes only is refused here, as Meilisearch does once the body is parsed.
    if !auth.allow_index_creation(&uid) {
        return Err(GatewayError::meili(Code::InvalidApiKey, "The provided API key is invalid."));
    }
    current_catalog(&state, |_| ()).await?;
    let details = TaskDetails::IndexInfo { primary_key: primary_key.clone(), old_index_uid: None, new_index_uid: None };
    let entry = new_entry(TaskType::IndexCreation, Some(&uid), details, &query);
    let routing = state.topology_changes().routing(&uid).await?;
    submit(&state, entry, routing.layout, routing.on_every_shard(Op::CreateIndex { primary_key })).await
}

/// `PATCH /indexes/{uid}` `{primaryKey, uid}` (a new `uid` renames the index).
pub async fn update(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    let query = checked_query(&state, &uid, query)?;
    let body = json_request(&state, &headers, body).await?;
    let object = object_fields(&body, &["primaryKey", "uid"])?;
    let primary_key = primary_key_field(object)?;
    let new_uid = match object.get("uid") {
        None | Some(Value::Null) => None,
        Some(Value::String(new_uid)) => {
            body_index_uid(new_uid, ".uid", state.topology().replication_factor)?;
            Some(new_uid.clone())
        }
        Some(other) => {
            return Err(GatewayError::meili(Code::InvalidIndexUid, incorrect_type(&[Step::Key("uid".into())], &[Kind::String], other)))
        }
    };
    current_catalog(&state, |_| ()).await?;
    let (old_index_uid, new_index_uid) = match &new_uid {
        Some(new_uid) => (Some(uid.clone()), Some(new_uid.clone())),
        None => (None, None),
    };
    let details = TaskDetails::IndexInfo { primary_key: primary_key.clone(), old_index_uid, new_index_uid };
    let entry = new_entry(TaskType::IndexUpdate, Some(&uid), details, &query);
    let routing = state.topology_changes().routing(&uid).await?;
    // A rename keeps the node indexes' layout: the new name must have it too. (A rename
    // Meilisearch fails, of a missing index, fails as there.)
    if let Some(new_uid) = new_uid.as_ref().filter(|_| !doomed(&state, &entry)) {
        let new_layout = state.topology_changes().layout(new_uid);
        let indexes = [(uid.as_str(), routing.layout), (new_uid.as_str(), new_layout)];
        same_layouts(state.topology().shard_count, indexes)?;
    }
    submit(&state, entry, routing.layout, routing.on_every_shard(Op::UpdateIndex { primary_key, new_index_uid: new_uid })).await
}

/// `POST /indexes/{uid}/compact`: every node index of the index is compacted, through the log
/// like any index task. As on a node, the query string and the body are not read (not even
/// `customMetadata`), and a missing index fails the task (`index_not_found`).
pub async fn compact(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Accepted, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    current_catalog(&state, |_| ()).await?;
    let details = TaskDetails::IndexCompaction { pre_compaction_size: None, post_compaction_size: None };
    let entry = new_entry(TaskType::IndexCompaction, Some(&uid), details, &QueryParams(Vec::new()));
    let routing = state.topology_changes().routing(&uid).await?;
    submit(&state, entry, routing.layout, routing.on_every_shard(Op::CompactIndex)).await
}

/// `DELETE /indexes/{uid}`.
pub async fn delete(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Accepted, GatewayError> {
    let query = checked_query(&state, &uid, query)?;
    current_catalog(&state, |_| ()).await?;
    let entry = new_entry(TaskType::IndexDeletion, Some(&uid), TaskDetails::ClearAll { deleted_documents: None }, &query);
    let routing = state.topology_changes().routing(&uid).await?;
    submit(&state, entry, routing.layout, routing.on_every_shard(Op::DeleteIndex)).await
}

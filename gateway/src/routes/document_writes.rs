//! Document writes: additions (JSON, NDJSON, CSV), deletions by id, by batch, by filter, and
//! clearing. The gateway decides the primary key and validates every id, then routes each
//! document to its shard; failures Meilisearch reports in a task become an already-failed task.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use miroir_schemas::details::TaskDetails;
use miroir_schemas::envelope::{DocumentMethod, Op};
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::node_layout::{is_reserved_field, RESERVED_FIELD_PREFIX};
use miroir_schemas::placement::Placement;
use miroir_schemas::task_log::TaskType;
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};

use crate::auth::Auth;
use crate::body::{content_type, read_limited};
use crate::catalog::TaskLogEntry;
use crate::documents::payload::{parse_payload, PayloadFormat};
use crate::documents::primary_key::{decide_primary_key, document_id};
use crate::error::GatewayError;
use crate::params::{path_index_uid, QueryParams};
use crate::request_errors::{incorrect_type, missing_field, query_param_unexpected, Kind};
use crate::routes::write::{
    checked_query, created_first, current_catalog, json_request, new_entry, object_fields, submit, submit_as_is, Accepted,
};
use crate::state::AppState;

const ADD_PARAMS: [&str; 4] = ["primaryKey", "csvDelimiter", "customMetadata", "skipCreation"];

/// Documents grouped by shard, each shard's in payload order.
pub type ShardedDocuments = BTreeMap<ShardId, Vec<Map<String, Value>>>;

/// Decides the primary key and routes every document to its shard, or returns the error
/// Meilisearch would fail the task with.
pub fn route_documents(
    placement: &Placement,
    index_primary_key: Option<&str>,
    requested_primary_key: Option<&str>,
    documents: Vec<Map<String, Value>>,
) -> Result<(String, ShardedDocuments), ResponseError> {
    let primary_key = decide_primary_key(index_primary_key, requested_primary_key, documents.first())?;
    let mut sharded = ShardedDocuments::new();
    for document in documents {
        if let Some(reserved) = document.keys().find(|field| is_reserved_field(field)) {
            return Err(reserved_field(reserved, &document));
        }
        let id = document_id(&primary_key, &document)?;
        sharded.entry(placement.shard_of(&id)).or_default().push(document);
    }
    Ok((primary_key, sharded))
}

/// A document naming one of Miroir's fields fails its task: the nodes keep each document's shard
/// in `_miroir_shard` (a user value would be overwritten and never read back), and the names
/// around it stand in for it in requests (see `miroir_schemas::node_layout::reserved_field`).
fn reserved_field(field: &str, document: &Map<String, Value>) -> ResponseError {
    let shown = serde_json::to_string(document).expect("a JSON object always serializes");
    ResponseError::new(
        Code::InvalidDocumentFields,
        format!("The field `{field}` is reserved: Miroir keeps its own fields under the `{RESERVED_FIELD_PREFIX}` prefix. Rename it in: `{shown}`."),
    )
}

fn csv_delimiter(query: &QueryParams) -> Result<Option<u8>, ResponseError> {
    let Some(text) = query.get("csvDelimiter") else { return Ok(None) };
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() => Ok(Some(c as u8)),
        (Some(c), None) => Err(ResponseError::new(
            Code::InvalidDocumentCsvDelimiter,
            query_param_unexpected("csvDelimiter", &format!("csv delimiter must be an ascii character. Found: `{c}`")),
        )),
        _ => Err(ResponseError::new(
            Code::InvalidDocumentCsvDelimiter,
            query_param_unexpected(
                "csvDelimiter",
                &format!(
                    "expected a string of one character, but found the following string of {} characters: `{text}`",
                    text.chars().count()
                ),
            ),
        )),
    }
}

async fn add_or_update(
    state: AppState,
    auth: Auth,
    uid: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
    method: DocumentMethod,
) -> Result<Accepted, GatewayError> {
    let query = QueryParams(query);
    query.check(&ADD_PARAMS)?;
    path_index_uid(&uid, state.topology().replication_factor)?;
    let format = PayloadFormat::from_content_type(content_type(&headers), csv_delimiter(&query)?)?;
    let bytes = read_limited(body, state.payload_limit()).await?;
    let documents = parse_payload(format, &bytes)?;
    let received = documents.len() as u64;
    let index = current_catalog(&state, |catalog| catalog.index(&uid).cloned()).await?;
    let details = TaskDetails::DocumentAdditionOrUpdate { received_documents: received, indexed_documents: None };
    let mut entry = new_entry(TaskType::DocumentAdditionOrUpdate, Some(&uid), details, &query);
    if index.is_none() && !auth.allow_index_creation(&uid) {
        // Meilisearch accepts the addition and fails its task, creating nothing, when the key
        // may not create the index it names.
        entry.record.error = Some(ResponseError::index_not_found(&uid));
        return submit_as_is(&state, entry, None, Vec::new()).await;
    }
    let index_pk = index.as_ref().and_then(|index| index.primary_key.as_deref());
    let routing = state.topology_changes().routing(&uid).await?;
    let ops = match route_documents(&routing.placement, index_pk, query.get("primaryKey"), documents) {
        Ok((primary_key, mut sharded)) => {
            // After the check that documents carry no Miroir field: this one is Miroir's.
            state.ttl().add_expiries(&uid, sharded.values_mut().flatten()).await?;
            let documents = sharded
                .into_iter()
                .map(|(shard, documents)| (shard, Op::Documents { method, primary_key: primary_key.clone(), documents }))
                .collect();
            // A new index exists on every shard, also those this batch leaves empty.
            let ops = created_first(&routing, index.is_some(), Some(primary_key.clone()), documents);
            entry.primary_key = Some(primary_key);
            ops
        }
        Err(error) => {
            entry.record.error = Some(error);
            // Meilisearch creates the index of a document addition even when the addition
            // fails (missing or ambiguous primary key…): the nodes get the same empty index.
            let creation = created_first(&routing, index.is_some(), None, Vec::new());
            return submit_as_is(&state, entry, routing.layout, creation).await;
        }
    };
    submit(&state, entry, routing.layout, ops).await
}

/// `POST /indexes/{uid}/documents`: add or replace documents.
pub async fn add(
    State(state): State<AppState>,
    auth: Auth,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    add_or_update(state, auth, uid, query, headers, body, DocumentMethod::Replace).await
}

/// `PUT /indexes/{uid}/documents`: add or update (merge) documents.
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    add_or_update(state, auth, uid, query, headers, body, DocumentMethod::Update).await
}

/// The external ids, as Meilisearch turns the values of a delete-batch body into ids.
fn id_text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

async fn delete_ids(state: &AppState, uid: &str, ids: Vec<String>, query: &QueryParams) -> Result<Accepted, GatewayError> {
    current_catalog(state, |_| ()).await?;
    let details = TaskDetails::DocumentDeletion { provided_ids: ids.len() as u64, deleted_documents: None };
    let entry = new_entry(TaskType::DocumentDeletion, Some(uid), details, query);
    let routing = state.topology_changes().routing(uid).await?;
    let mut by_shard: BTreeMap<ShardId, Vec<String>> = BTreeMap::new();
    for id in ids {
        by_shard.entry(routing.shard_of(&id)).or_default().push(id);
    }
    let ops = by_shard.into_iter().map(|(shard, ids)| (shard, Op::DeleteDocuments { ids })).collect();
    submit(state, entry, routing.layout, ops).await
}

/// `DELETE /indexes/{uid}/documents/{id}`.
pub async fn delete_one(
    State(state): State<AppState>,
    Path((uid, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Accepted, GatewayError> {
    let query = checked_query(&state, &uid, query)?;
    delete_ids(&state, &uid, vec![id], &query).await
}

/// `POST /indexes/{uid}/documents/delete-batch` with a JSON array of ids.
pub async fn delete_batch(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    let query = checked_query(&state, &uid, query)?;
    let body = json_request(&state, &headers, body).await?;
    let ids = body
        .as_array()
        .ok_or_else(|| ResponseError::new(Code::BadRequest, incorrect_type(&[], &[Kind::Sequence], &body)))?
        .iter()
        .map(id_text)
        .collect();
    delete_ids(&state, &uid, ids, &query).await
}

/// `POST /indexes/{uid}/documents/delete` with `{filter}`.
pub async fn delete_by_filter(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    let query = checked_query(&state, &uid, query)?;
    let body = json_request(&state, &headers, body).await?;
    let object = object_fields(&body, &["filter"])?;
    let filter = object.get("filter").ok_or_else(|| ResponseError::new(Code::MissingDocumentFilter, missing_field(&[], "filter")))?;
    let parsed = miroir_schemas::filter::parse_json(filter).map_err(|e| e.to_response(Code::InvalidDocumentFilter))?;
    if parsed.is_none() {
        return Err(GatewayError::meili(Code::InvalidDocumentFilter, "Sending an empty filter is forbidden."));
    }
    current_catalog(&state, |_| ()).await?;
    let details = TaskDetails::DocumentDeletionByFilter { original_filter: filter.to_string(), deleted_documents: None };
    let entry = new_entry(TaskType::DocumentDeletion, Some(&uid), details, &query);
    let routing = state.topology_changes().routing(&uid).await?;
    submit(&state, entry, routing.layout, routing.on_every_shard(Op::DeleteByFilter { filter: filter.clone() })).await
}

/// `DELETE /indexes/{uid}/documents`: remove every document.
pub async fn clear(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Accepted, GatewayError> {
    let query = checked_query(&state, &uid, query)?;
    current_catalog(&state, |_| ()).await?;
    let entry: TaskLogEntry = new_entry(TaskType::DocumentDeletion, Some(&uid), TaskDetails::ClearAll { deleted_documents: None }, &query);
    let routing = state.topology_changes().routing(&uid).await?;
    submit(&state, entry, routing.layout, routing.on_every_shard(Op::ClearDocuments)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::topology::{Node, Topology};
    use proptest::prelude::*;
    use serde_json::json;

    fn placement(shards: u32) -> Placement {
        let nodes = vec![Node { id: "n0".into(), url: "http://n0".into(), replica_group: "g".into(), api_key: None }];
        Placement::new(Topology::new(1, shards, 1, nodes).unwrap())
    }

    fn doc(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_primary_key_is_decided_once_and_ids_are_validated() {
        let (key, sharded) = route_documents(&placement(3), None, None, vec![doc(json!({"movie_id": 1, "t": "a"}))]).unwrap();
        assert_eq!(key, "movie_id");
        assert_eq!(sharded.values().map(Vec::len).sum::<usize>(), 1);
        let error = route_documents(&placement(3), Some("id"), None, vec![doc(json!({"id": "bad id with spaces"}))]).unwrap_err();
        assert_eq!(error.code, "invalid_document_id");
        let missing = route_documents(&placement(3), Some("id"), None, vec![doc(json!({"name": "no id here"}))]).unwrap_err();
        assert_eq!(missing.message, "Document doesn't have a `id` attribute: `{\"name\":\"no id here\"}`.");
    }

    #[test]
    fn documents_with_miroirs_fields_fail_their_task() {
        for field in ["_miroir_shard", "_miroir_unset", "_miroir_ttl"] {
            let error =
                route_documents(&placement(3), Some("id"), None, vec![doc(json!({"id": 1})), doc(json!({"id": 2, field: 0}))]).unwrap_err();
            assert_eq!(error.code, "invalid_document_fields");
            assert_eq!(
                error.message,
                format!("The field `{field}` is reserved: Miroir keeps its own fields under the `_miroir_` prefix. Rename it in: `{{\"id\":2,\"{field}\":0}}`.")
            );
        }
        assert!(route_documents(&placement(3), Some("id"), None, vec![doc(json!({"id": 1, "_miroir": 0, "miroir_shard": 1}))]).is_ok());
    }

    #[test]
    fn csv_delimiters_are_one_ascii_character() {
        let query = |d: &str| QueryParams(vec![("csvDelimiter".into(), d.into())]);
        assert_eq!(csv_delimiter(&query(";")).unwrap(), Some(b';'));
        assert_eq!(csv_delimiter(&query("ab")).unwrap_err().code, "invalid_document_csv_delimiter");
        assert_eq!(
            csv_delimiter(&query("é")).unwrap_err().message,
            "Invalid value in parameter `csvDelimiter`: csv delimiter must be an ascii character. Found: `é`"
        );
    }

    proptest! {
        /// Every document lands on exactly the shard placement assigns to its id, in order.
        #[test]
        fn documents_go_to_their_shard(ids in prop::collection::btree_set("[a-z0-9]{1,8}", 1..40), shards in 1u32..8) {
            let placement = placement(shards);
            let documents: Vec<_> = ids.iter().map(|id| doc(json!({"id": id}))).collect();
            let (_, sharded) = route_documents(&placement, Some("id"), None, documents.clone()).unwrap();
            let mut seen = 0;
            for (shard, docs) in &sharded {
                for d in docs {
                    prop_assert_eq!(placement.shard_of(d["id"].as_str().unwrap()), *shard);
                }
                seen += docs.len();
            }
            prop_assert_eq!(seen, documents.len());
        }
    }
}

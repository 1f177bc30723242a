//! `POST /indexes/{uid}/documents/edit` (update documents by a function, the
//! `editDocumentsByFunction` experimental feature, on in a Miroir cluster): read and checked as
//! a Meilisearch 1.50 node checks it (query string, body, index uid, the function compiled by a
//! node, the filter, the context), then one task and the same operation for every shard; each
//! node index runs the client's function once, narrowed to the shards it holds, wrapped so
//! Miroir's fields survive (`miroir_schemas::node_layout::edit_function`).

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use miroir_schemas::details::TaskDetails;
use miroir_schemas::envelope::Op;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::node_layout::edit_function::choose_wrapping;
use miroir_schemas::task_log::TaskType;
use serde_json::{Map, Value};

use crate::documents::edit_function_check::check_compiles;
use crate::error::GatewayError;
use crate::routes::write::{checked_query, current_catalog, json_request, new_entry, submit, Accepted};
use crate::settings::check::{coded, At};
use crate::state::AppState;

/// The body: `filter` and `context` (any JSON), `function` (a string, required, with its own
/// missing-field code).
pub fn check_body(body: &Value) -> Result<(), ResponseError> {
    let read = At::root(Code::BadRequest).object(
        body,
        &[
            ("filter", |_, v| Ok(v.clone())),
            ("context", |_, v| Ok(v.clone())),
            ("function", coded!(Code::InvalidDocumentEditionFunctionFilter, |at: &At, v: &Value| Ok(at.string(v)?.into()))),
        ],
        &[],
    )?;
    if !read.contains_key("function") {
        return Err(ResponseError::new(Code::MissingDocumentEditionFunction, "Missing field `function`"));
    }
    Ok(())
}

/// The filter (`null` is none), refused as a node refuses it: its syntax (the node names the
/// index there, unlike a deletion by filter), then an empty one.
pub fn checked_filter(index_uid: &str, filter: Option<&Value>) -> Result<Option<Value>, ResponseError> {
    let Some(filter) = filter.filter(|filter| !filter.is_null()) else { return Ok(None) };
    let parsed = miroir_schemas::filter::parse_json(filter).map_err(|e| {
        let error = e.to_response(Code::InvalidDocumentFilter);
        ResponseError { message: format!("Index `{index_uid}`: {}", error.message), ..error }
    })?;
    if parsed.is_none() {
        return Err(ResponseError::new(Code::InvalidDocumentFilter, "Sending an empty filter is forbidden."));
    }
    Ok(Some(filter.clone()))
}

/// The context (`null` is none): an object, or the node's refusal.
pub fn checked_context(context: Option<&Value>) -> Result<Option<Map<String, Value>>, ResponseError> {
    match context {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(context)) => Ok(Some(context.clone())),
        Some(_) => Err(ResponseError::new(Code::InvalidDocumentEditionContext, "The context must be an object")),
    }
}

/// `POST /indexes/{uid}/documents/edit`.
pub async fn edit(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    let query = crate::params::QueryParams(query);
    query.check(&["customMetadata"])?;
    let body = json_request(&state, &headers, body).await?;
    check_body(&body)?;
    let query = checked_query(&state, &uid, query.0)?;
    let function = body["function"].as_str().expect("checked: a string").to_owned();
    check_compiles(&state.topology().nodes, &function).await?;
    let filter = checked_filter(&uid, body.get("filter"))?;
    let context = checked_context(body.get("context"))?;
    let wrapping = choose_wrapping(&function).map_err(|refusal| ResponseError::new(Code::BadRequest, refusal.message()))?;
    current_catalog(&state, |_| ()).await?;
    let details = TaskDetails::DocumentEdition {
        edited_documents: None,
        deleted_documents: None,
        original_filter: filter.as_ref().map(Value::to_string),
        context: context.clone(),
        function: function.clone(),
    };
    let entry = new_entry(TaskType::DocumentEdition, Some(&uid), details, &query);
    let routing = state.topology_changes().routing(&uid).await?;
    submit(&state, entry, routing.layout, routing.on_every_shard(Op::EditDocuments { function, filter, context, wrapping })).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_read_as_meilisearch_reads_them() {
        // Each watched on Meilisearch 1.50.
        let refusal = |body: Value| {
            let error = check_body(&body).unwrap_err();
            (error.code, error.message)
        };
        assert_eq!(refusal(json!({})), ("missing_document_edition_function".into(), "Missing field `function`".into()));
        assert_eq!(
            refusal(json!({"function": 5})),
            (
                "invalid_document_edition_function_filter".into(),
                "Invalid value type at `.function`: expected a string, but found a positive integer: `5`".into()
            )
        );
        assert_eq!(
            refusal(json!({"foo": 1})),
            ("bad_request".into(), "Unknown field `foo`: expected one of `filter`, `context`, `function`".into())
        );
        assert!(check_body(&json!({"function": "x", "filter": 5, "context": []})).is_ok());
    }

    #[test]
    fn filters_and_contexts_are_refused_as_a_node_refuses_them() {
        // Each watched on Meilisearch 1.50.
        assert_eq!(checked_filter("movies", None), Ok(None));
        assert_eq!(checked_filter("movies", Some(&Value::Null)), Ok(None));
        assert_eq!(checked_filter("movies", Some(&json!("n > 1"))), Ok(Some(json!("n > 1"))));
        for empty in [json!(""), json!([])] {
            let error = checked_filter("movies", Some(&empty)).unwrap_err();
            assert_eq!((error.code.as_str(), error.message.as_str()), ("invalid_document_filter", "Sending an empty filter is forbidden."));
        }
        let syntax = checked_filter("movies", Some(&json!("n >"))).unwrap_err();
        assert_eq!(
            (syntax.code.as_str(), syntax.message.as_str()),
            ("invalid_document_filter", "Index `movies`: Was expecting a value but instead got nothing.\n4:4 n >")
        );
        assert_eq!(
            checked_filter("movies", Some(&json!(5))).unwrap_err().message,
            "Index `movies`: Invalid syntax for the filter parameter: `expected String, Array, found: 5`."
        );
        assert_eq!(checked_context(Some(&json!({"v": 1}))), Ok(json!({"v": 1}).as_object().cloned()));
        assert_eq!(checked_context(Some(&Value::Null)), Ok(None));
        for not_an_object in [json!(5), json!([1])] {
            let error = checked_context(Some(&not_an_object)).unwrap_err();
            assert_eq!(
                (error.code.as_str(), error.message.as_str()),
                ("invalid_document_edition_context", "The context must be an object")
            );
        }
    }
}

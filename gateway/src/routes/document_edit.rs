//! `POST /indexes/{uid}/documents/edit` (update documents by a function): answered as a
//! Meilisearch 1.50 node without the `edit documents by function` experimental feature (the
//! cluster has it off, see [`crate::features`]): the query string and the body are read as the
//! node reads them, then the feature is missing.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;

use crate::error::GatewayError;
use crate::features::EDIT_DOCUMENTS_BY_FUNCTION;
use crate::params::QueryParams;
use crate::routes::experimental::check_body_then_refuse;
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

/// `POST /indexes/{uid}/documents/edit`.
pub async fn edit(
    State(state): State<AppState>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> GatewayError {
    if let Err(error) = QueryParams(query).check(&["customMetadata"]) {
        return error.into();
    }
    check_body_then_refuse(&state, &headers, body, check_body, EDIT_DOCUMENTS_BY_FUNCTION.refuse("Using the documents edit route")).await
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
}

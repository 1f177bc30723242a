//! Which field is an index's primary key, and each document's id under it, decided the way
//! Meilisearch decides them (including its messages), so that a gateway can fail a task before
//! anything reaches a node.

use miroir_schemas::error::{Code, ResponseError};
use serde_json::{Map, Value};

pub use miroir_schemas::document_id::{document_id, invalid_document_id, is_valid_id, validate_id_value};

/// The primary key a document addition uses: the index's own when it has one (a different
/// `primaryKey` parameter is refused), else the parameter, else the one inferred from the
/// first document.
pub fn decide_primary_key(
    index_primary_key: Option<&str>,
    requested: Option<&str>,
    first_document: Option<&Map<String, Value>>,
) -> Result<String, ResponseError> {
    match (index_primary_key, requested) {
        (Some(existing), Some(requested)) if existing != requested => {
            Err(ResponseError::new(Code::IndexPrimaryKeyAlreadyExists, format!("Index already has a primary key: `{existing}`.")))
        }
        (Some(existing), _) => Ok(existing.to_owned()),
        (None, Some(requested)) => Ok(requested.to_owned()),
        (None, None) => infer_primary_key(first_document),
    }
}

/// The top-level field of the first document whose lowercase name ends with `id`, when
/// there is exactly one.
pub fn infer_primary_key(first_document: Option<&Map<String, Value>>) -> Result<String, ResponseError> {
    let mut candidates: Vec<&str> = first_document
        .into_iter()
        .flat_map(|document| document.keys())
        .filter(|name| name.to_lowercase().ends_with("id"))
        .map(String::as_str)
        .collect();
    // Meilisearch names the candidates in byte order.
    candidates.sort_unstable();
    match candidates.as_slice() {
        [] => Err(ResponseError::new(
            Code::IndexPrimaryKeyNoCandidateFound,
            "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
        )),
        [only] => Ok((*only).to_owned()),
        [first, second, ..] => Err(ResponseError::new(
            Code::IndexPrimaryKeyMultipleCandidatesFound,
            format!(
                "The primary key inference failed as the engine found {} fields ending with `id` in their names: '{first}' and '{second}'. Please specify the primary key manually using the `primaryKey` query parameter.",
                candidates.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests;

//! A document's id under an index's primary key, read the way Meilisearch reads it (including
//! its messages): the gateway validates ids with it before anything reaches a node, and the
//! reconciler names the document of each change-data-capture event with it.

use crate::error::{Code, ResponseError};
use serde_json::{Map, Value};

/// Meilisearch's separator for nested primary keys (`product.id`).
const SPLIT: char = '.';

/// The id of `document` under `primary_key`: a string of 1 to 511 bytes of `A-Za-z0-9_-`,
/// or an integer (written in decimal). A dotted key also reaches into nested objects
/// (`a.b` matches `{"a": {"b": 1}}` and `{"a.b": 1}`); finding it twice is an error.
pub fn document_id(primary_key: &str, document: &Map<String, Value>) -> Result<String, ResponseError> {
    let mut found = Vec::new();
    collect_ids(primary_key, document, &mut found);
    // Each match is checked as Meilisearch meets it: a bad value is reported before a
    // second match is.
    let mut id = None;
    for value in found {
        let valid = validate_id_value(value)?;
        if id.replace(valid).is_some() {
            return Err(ResponseError::new(
                Code::InvalidDocumentId,
                format!("Document have too many matching `{primary_key}` attribute: `{}`.", compact(document)),
            ));
        }
    }
    id.ok_or_else(|| {
        ResponseError::new(Code::MissingDocumentId, format!("Document doesn't have a `{primary_key}` attribute: `{}`.", compact(document)))
    })
}

/// Values reached by `path` in `object`: a key equal to the whole remaining path, or to a
/// dotted prefix of it whose value is an object holding the rest.
fn collect_ids<'v>(path: &str, object: &'v Map<String, Value>, found: &mut Vec<&'v Value>) {
    for (key, value) in object {
        if key == path {
            found.push(value);
        } else if let Some(rest) = path.strip_prefix(key.as_str()).and_then(|r| r.strip_prefix(SPLIT)) {
            if let Value::Object(inner) = value {
                collect_ids(rest, inner, found);
            }
        }
    }
}

/// A string id must be 1..=511 bytes of ASCII letters, digits, `-` and `_`; integers are
/// written in decimal; anything else (floats included) is refused.
pub fn validate_id_value(value: &Value) -> Result<String, ResponseError> {
    match value {
        Value::String(id) if is_valid_id(id) => Ok(id.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        other => Err(invalid_document_id(other)),
    }
}

/// Whether a string is usable as a document id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() < 512 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub fn invalid_document_id(value: &Value) -> ResponseError {
    ResponseError::new(
        Code::InvalidDocumentId,
        format!(
            "Document identifier `{}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.",
            compact(value)
        ),
    )
}

fn compact(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("JSON values always serialize")
}

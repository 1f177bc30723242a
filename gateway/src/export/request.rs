//! The body of `POST /export`, checked as Meilisearch 1.50 checks it (watched on the real
//! binary, docs/export.md): by type only — `url` may be missing or not a URL, `filter` any JSON
//! value (a node reads both when the task runs). Pure.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use miroir_schemas::details::{ExportedIndexes, TaskDetails};
use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;

use crate::auth::pattern::IndexPattern;
use crate::request_errors::{self as msg, Kind, Step};

const FIELDS: [&str; 4] = ["url", "apiKey", "payloadSize", "indexes"];
const INDEX_FIELDS: [&str; 2] = ["filter", "overrideSettings"];

/// What to export from one index pattern.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexExport {
    pub filter: Option<Value>,
    pub override_settings: bool,
}

/// A checked `POST /export` body.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    pub url: String,
    pub api_key: Option<String>,
    pub payload_size: Option<u64>,
    /// In pattern order; an index goes with the first pattern matching it.
    pub indexes: BTreeMap<IndexPattern, IndexExport>,
}

impl ExportRequest {
    /// The first pattern matching `index_uid`, with what to export of it.
    pub fn settings_for(&self, index_uid: &str) -> Option<&IndexExport> {
        self.indexes.iter().find(|(pattern, _)| pattern.matches(index_uid)).map(|(_, settings)| settings)
    }

    /// The task's details (the API key hidden as Meilisearch hides it).
    pub fn details(&self) -> TaskDetails {
        TaskDetails::Export {
            url: self.url.clone(),
            hidden_api_key: self.api_key.as_deref().map(crate::settings::hide_secret),
            payload_size: self.payload_size,
            indexes: self
                .indexes
                .iter()
                .map(|(pattern, settings)| ExportedIndexes {
                    pattern: pattern.to_string(),
                    filter: settings.filter.clone(),
                    override_settings: settings.override_settings,
                })
                .collect(),
        }
    }
}

fn at(path: &[&str]) -> Vec<Step> {
    path.iter().map(|key| Step::Key((*key).to_owned())).collect()
}

/// Checks a parsed body; the first problem, in the order of the body's fields, is the error.
pub fn parse(body: &Value) -> Result<ExportRequest, ResponseError> {
    let Value::Object(fields) = body else {
        return Err(ResponseError::new(Code::BadRequest, msg::incorrect_type(&[], &[Kind::Map], body)));
    };
    let mut request = ExportRequest { url: String::new(), api_key: None, payload_size: None, indexes: BTreeMap::new() };
    let mut indexes = None;
    for (key, value) in fields {
        match key.as_str() {
            "url" => match value {
                Value::String(url) => request.url = url.clone(),
                other => {
                    return Err(ResponseError::new(Code::InvalidExportUrl, msg::incorrect_type(&at(&["url"]), &[Kind::String], other)))
                }
            },
            "apiKey" => match value {
                Value::Null => request.api_key = None,
                Value::String(key) => request.api_key = Some(key.clone()),
                other => {
                    return Err(ResponseError::new(
                        Code::InvalidExportApiKey,
                        msg::incorrect_type(&at(&["apiKey"]), &[Kind::String], other),
                    ))
                }
            },
            "payloadSize" => request.payload_size = payload_size(value)?,
            "indexes" => indexes = index_patterns(value)?,
            unknown => return Err(ResponseError::new(Code::BadRequest, msg::unknown_field(&[], unknown, &FIELDS))),
        }
    }
    request.indexes = indexes.unwrap_or_else(|| BTreeMap::from([(IndexPattern::all(), IndexExport::default())]));
    Ok(request)
}

/// An integer (bytes) or a byte size text (`"24MiB"`), read by the `byte-unit` crate as a node
/// reads it, so its words are the node's.
fn payload_size(value: &Value) -> Result<Option<u64>, ResponseError> {
    let location = at(&["payloadSize"]);
    let refused = |message: String| ResponseError::new(Code::InvalidExportPayloadSize, message);
    match value {
        Value::Null => Ok(None),
        Value::Number(number) if number.as_u64().is_some() => Ok(number.as_u64()),
        Value::String(text) => match byte_unit::Byte::from_str(text) {
            Ok(bytes) => Ok(Some(bytes.as_u64())),
            Err(error) => Err(refused(msg::unexpected(&location, &error.to_string()))),
        },
        other => Err(refused(msg::incorrect_type(&location, &[Kind::Integer, Kind::String], other))),
    }
}

fn index_patterns(value: &Value) -> Result<Option<BTreeMap<IndexPattern, IndexExport>>, ResponseError> {
    let patterns = match value {
        Value::Null => return Ok(None),
        Value::Object(patterns) => patterns,
        other => return Err(ResponseError::new(Code::BadRequest, msg::incorrect_type(&at(&["indexes"]), &[Kind::Map], other))),
    };
    let mut indexes = BTreeMap::new();
    for (key, settings) in patterns {
        let Ok(pattern) = IndexPattern::parse(key) else {
            let message = format!(
                "the key \"{key}\" could not be deserialized into the key type `meilisearch_types::index_uid_pattern::IndexUidPattern`"
            );
            return Err(ResponseError::new(Code::BadRequest, msg::unexpected(&at(&["indexes"]), &message)));
        };
        indexes.insert(pattern, index_export(key, settings)?);
    }
    Ok(Some(indexes))
}

fn index_export(pattern: &str, value: &Value) -> Result<IndexExport, ResponseError> {
    let location = at(&["indexes", pattern]);
    let Value::Object(fields) = value else {
        return Err(ResponseError::new(Code::BadRequest, msg::incorrect_type(&location, &[Kind::Map], value)));
    };
    let mut export = IndexExport::default();
    for (key, value) in fields {
        match key.as_str() {
            "filter" => export.filter = (!value.is_null()).then(|| value.clone()),
            "overrideSettings" => match value {
                Value::Bool(on) => export.override_settings = *on,
                other => {
                    let location = at(&["indexes", pattern, "overrideSettings"]);
                    return Err(ResponseError::new(
                        Code::InvalidExportIndexOverrideSettings,
                        msg::incorrect_type(&location, &[Kind::Boolean], other),
                    ));
                }
            },
            unknown => return Err(ResponseError::new(Code::BadRequest, msg::unknown_field(&location, unknown, &INDEX_FIELDS))),
        }
    }
    Ok(export)
}

/// The body as the handler receives it, for the tests.
#[cfg(test)]
pub fn parse_text(text: &str) -> Result<ExportRequest, ResponseError> {
    let body: Value = serde_json::from_str(text).expect("test bodies are JSON");
    parse(&body)
}

#[cfg(test)]
mod tests;

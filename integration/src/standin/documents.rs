//! Document payloads (JSON, NDJSON, CSV), primary keys and document ids, with Meilisearch's rules
//! and messages; reading fields out of documents by dotted path.

use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};
use super::tasks::Document;
use miroir_schemas::error::{Code, ResponseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    Json,
    NdJson,
    Csv,
}

impl PayloadFormat {
    fn name(self) -> &'static str {
        match self {
            PayloadFormat::Json => "json",
            PayloadFormat::NdJson => "ndjson",
            PayloadFormat::Csv => "csv",
        }
    }
}

const ACCEPTED: &str = "Accepted values for the Content-Type header are: `application/json`, `application/x-ndjson`, `text/csv`";

/// Picks the payload format from the `Content-Type` header, or Meilisearch's 415.
pub fn format_from_content_type(content_type: Option<&str>) -> ApiResult<PayloadFormat> {
    let Some(raw) = content_type else {
        return Err(ApiError::new(
            Code::MissingContentType,
            format!("A Content-Type header is missing. {ACCEPTED}"),
        ));
    };
    let essence = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(PayloadFormat::Json),
        "application/x-ndjson" => Ok(PayloadFormat::NdJson),
        "text/csv" => Ok(PayloadFormat::Csv),
        _ => Err(ApiError::new(
            Code::InvalidContentType,
            format!("The Content-Type `{raw}` is invalid. {ACCEPTED}"),
        )),
    }
}

fn malformed(format: PayloadFormat, detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        Code::MalformedPayload,
        format!(
            "The `{}` payload provided is malformed. `Couldn't serialize document value: {detail}`.",
            format.name()
        ),
    )
}

/// Parses a documents payload. An empty body is `missing_payload`, as in Meilisearch.
pub fn parse_payload(format: PayloadFormat, body: &[u8], csv_delimiter: u8) -> ApiResult<Vec<Document>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            Code::MissingPayload,
            format!("A {} payload is missing.", format.name()),
        ));
    }
    match format {
        // Documents are read as objects, so a truncated document reports "while parsing an
        // object" like Meilisearch's streaming reader; other shapes fall back to a Value.
        PayloadFormat::Json => match serde_json::from_slice::<Vec<Document>>(body) {
            Ok(docs) => Ok(docs),
            Err(typed) if typed.is_eof() || typed.is_syntax() => Err(malformed(format, object_eof(typed, body))),
            Err(_) => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    other => Err(malformed(
                        format,
                        format!("invalid type: {}, expected a map", super::error::json_kind(&other)),
                    )),
                })
                .collect(),
            Ok(Value::Object(map)) => Ok(vec![map]),
            Ok(other) => Err(malformed(
                format,
                format!("invalid type: {}, expected a sequence", super::error::json_kind(&other)),
            )),
            Err(e) => Err(malformed(format, e)),
            },
        },
        PayloadFormat::NdJson => {
            let text = std::str::from_utf8(body).map_err(|e| malformed(format, e))?;
            let mut docs = Vec::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(map)) => docs.push(map),
                    Ok(other) => {
                        return Err(malformed(
                            format,
                            format!("invalid type: {}, expected a map", super::error::json_kind(&other)),
                        ))
                    }
                    Err(e) => return Err(malformed(format, e)),
                }
            }
            Ok(docs)
        }
        PayloadFormat::Csv => parse_csv(body, csv_delimiter),
    }
}

/// serde_json says "EOF while parsing a value" after `{"id": 1,`; Meilisearch's document reader
/// names the construct left open, so the message says which one (object or list) it was.
fn object_eof(e: serde_json::Error, body: &[u8]) -> String {
    let text = e.to_string();
    if !e.is_eof() {
        return text;
    }
    let mut open = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{' | b'[') => open.push(b),
            (false, _, b'}' | b']') => {
                open.pop();
            }
            _ => {}
        }
    }
    match open.last() {
        Some(b'{') => text.replace("EOF while parsing a value", "EOF while parsing an object"),
        Some(b'[') => text.replace("EOF while parsing a value", "EOF while parsing a list"),
        _ => text,
    }
}

/// CSV with Meilisearch's typed headers (`price:number`, `active:boolean`); empty cells are null.
fn parse_csv(body: &[u8], delimiter: u8) -> ApiResult<Vec<Document>> {
    let format = PayloadFormat::Csv;
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(body);
    let headers: Vec<(String, &'static str)> = reader
        .headers()
        .map_err(|e| malformed(format, e))?
        .iter()
        .map(|h| match h.rsplit_once(':') {
            Some((name, "number")) => (name.to_owned(), "number"),
            Some((name, "boolean")) => (name.to_owned(), "boolean"),
            Some((name, "string")) => (name.to_owned(), "string"),
            _ => (h.to_owned(), "string"),
        })
        .collect();
    let mut docs = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| malformed(format, e))?;
        let mut doc = Map::new();
        for ((name, kind), cell) in headers.iter().zip(record.iter()) {
            let value = if cell.is_empty() {
                Value::Null
            } else {
                match *kind {
                    "number" => match cell.trim().parse::<i64>() {
                        Ok(i) => Value::from(i),
                        Err(_) => cell
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map(Value::Number)
                            .ok_or_else(|| malformed(format, format!("invalid float `{cell}`")))?,
                    },
                    "boolean" => match cell.trim() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        _ => return Err(malformed(format, format!("invalid boolean `{cell}`"))),
                    },
                    _ => Value::String(cell.to_owned()),
                }
            };
            doc.insert(name.clone(), value);
        }
        docs.push(doc);
    }
    Ok(docs)
}

/// Meilisearch's primary key inference: the single top-level field whose name ends with `id`.
pub fn infer_primary_key(first: Option<&Document>) -> Result<String, ResponseError> {
    let candidates: Vec<&String> = first
        .map(|doc| doc.keys().filter(|k| k.to_lowercase().ends_with("id")).collect())
        .unwrap_or_default();
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ResponseError::new(
            Code::IndexPrimaryKeyNoCandidateFound,
            "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.",
        )),
        [a, b, ..] => Err(ResponseError::new(
            Code::IndexPrimaryKeyMultipleCandidatesFound,
            format!(
                "The primary key inference failed as the engine found {} fields ending with `id` in their names: '{a}' and '{b}'. Please specify the primary key manually using the `primaryKey` query parameter.",
                candidates.len()
            ),
        )),
    }
}

/// Whether a string is a valid document id: `[a-zA-Z0-9_-]`, 1 to 511 bytes.
pub fn valid_id_string(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 511
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The external id of a document under `primary_key`, or the error its task fails with.
pub fn document_id(doc: &Document, primary_key: &str) -> Result<String, ResponseError> {
    let missing = || {
        ResponseError::new(
            Code::MissingDocumentId,
            format!(
                "Document doesn't have a `{primary_key}` attribute: `{}`.",
                Value::Object(doc.clone())
            ),
        )
    };
    let value = values_at(doc, primary_key).into_iter().next().ok_or_else(missing)?;
    let invalid = || {
        ResponseError::new(
            Code::InvalidDocumentId,
            format!(
                "Document identifier `{value}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes."
            ),
        )
    };
    match value {
        Value::String(s) if valid_id_string(s) => Ok(s.clone()),
        Value::Number(n) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        _ => Err(invalid()),
    }
}

/// Every leaf value at a dotted path, following nested objects and arrays the way Meilisearch
/// flattens documents (`a.b` reads `{"a": {"b": 1}}`, `{"a.b": 1}` and `{"a": [{"b": 1}]}`).
/// Arrays at the end of the path are expanded into their elements.
pub fn values_at<'d>(doc: &'d Map<String, Value>, path: &str) -> Vec<&'d Value> {
    let mut out = Vec::new();
    collect_at(doc, path, &mut out);
    out
}

fn collect_at<'d>(obj: &'d Map<String, Value>, path: &str, out: &mut Vec<&'d Value>) {
    for (key, value) in obj {
        if key == path {
            push_leaves(value, out);
        } else if let Some(rest) = path.strip_prefix(key.as_str()).and_then(|r| r.strip_prefix('.')) {
            descend(value, rest, out);
        }
    }
}

fn descend<'d>(value: &'d Value, rest: &str, out: &mut Vec<&'d Value>) {
    match value {
        Value::Object(inner) => collect_at(inner, rest, out),
        Value::Array(items) => items.iter().for_each(|item| descend(item, rest, out)),
        _ => {}
    }
}

fn push_leaves<'d>(value: &'d Value, out: &mut Vec<&'d Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| push_leaves(item, out)),
        other => out.push(other),
    }
}

/// Whether the path exists in the document at all (even holding null or an empty array).
pub fn path_exists(doc: &Map<String, Value>, path: &str) -> bool {
    raw_values_at(doc, path).next().is_some()
}

/// The values at a path without expanding arrays at the end (for `IS EMPTY`).
pub fn raw_values_at<'d>(doc: &'d Map<String, Value>, path: &str) -> impl Iterator<Item = &'d Value> {
    let mut out = Vec::new();
    collect_raw(doc, path, &mut out);
    out.into_iter()
}

fn collect_raw<'d>(obj: &'d Map<String, Value>, path: &str, out: &mut Vec<&'d Value>) {
    for (key, value) in obj {
        if key == path {
            out.push(value);
        } else if let Some(rest) = path.strip_prefix(key.as_str()).and_then(|r| r.strip_prefix('.')) {
            match value {
                Value::Object(inner) => collect_raw(inner, rest, out),
                Value::Array(items) => {
                    for item in items {
                        if let Value::Object(inner) = item {
                            collect_raw(inner, rest, out);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Keeps only the attributes that are both displayed and asked for (`None` = all), in the
/// document's own order. A pattern selects a top-level field, its nested members or a wildcard.
pub fn select_fields(doc: &Document, displayed: &[String], asked: Option<&[String]>) -> Document {
    let shown = |field: &str| {
        displayed.iter().any(|p| super::settings::pattern_covers(p, field) || p.starts_with(&format!("{field}.")))
    };
    let wanted = |field: &str| match asked {
        None => true,
        Some(list) => list.iter().any(|p| {
            super::settings::pattern_covers(p, field) || p.starts_with(&format!("{field}."))
        }),
    };
    // `_vectors` is shown only on request (`retrieveVectors`, see `vectors::add_retrieved`)
    doc.iter()
        .filter(|(k, _)| *k != super::vectors::VECTORS_FIELD && shown(k) && wanted(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn inference_names_the_first_two_candidates() {
        let d = doc(json!({"id": "a", "uid": "b", "name": "x"}));
        let err = infer_primary_key(Some(&d)).unwrap_err();
        assert!(err.message.contains("found 2 fields ending with `id` in their names: 'id' and 'uid'"));
        assert_eq!(infer_primary_key(Some(&doc(json!({"pkg_id": 1})))).unwrap(), "pkg_id");
        assert_eq!(
            infer_primary_key(Some(&doc(json!({"name": 1})))).unwrap_err().code,
            "index_primary_key_no_candidate_found"
        );
    }

    #[test]
    fn ids_follow_meilisearch_rules() {
        assert_eq!(document_id(&doc(json!({"id": 1})), "id").unwrap(), "1");
        let err = document_id(&doc(json!({"id": "bad id"})), "id").unwrap_err();
        assert_eq!(err.message, "Document identifier `\"bad id\"` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.");
        assert_eq!(document_id(&doc(json!({"id": 1.5})), "id").unwrap_err().code, "invalid_document_id");
        assert_eq!(document_id(&doc(json!({"x": 1})), "id").unwrap_err().code, "missing_document_id");
    }

    #[test]
    fn truncated_json_names_the_open_object() {
        let err = parse_payload(PayloadFormat::Json, br#"[{"id": 1,"#, b',').unwrap_err();
        assert_eq!(err.0.message, "The `json` payload provided is malformed. `Couldn't serialize document value: EOF while parsing an object at line 1 column 10`.");
    }

    #[test]
    fn csv_headers_carry_types() {
        let docs = parse_payload(PayloadFormat::Csv, b"id,n:number,b:boolean\na,12,true\nb,,false\n", b',').unwrap();
        assert_eq!(Value::Object(docs[0].clone()), json!({"id": "a", "n": 12, "b": true}));
        assert_eq!(Value::Object(docs[1].clone()), json!({"id": "b", "n": null, "b": false}));
    }

    #[test]
    fn dotted_paths_read_nested_and_flat_fields() {
        let d = doc(json!({"a": {"b": 1}, "a.b": 2, "c": [{"b": 3}, {"b": [4, 5]}]}));
        assert_eq!(values_at(&d, "a.b"), vec![&json!(1), &json!(2)]);
        assert_eq!(values_at(&d, "c.b"), vec![&json!(3), &json!(4), &json!(5)]);
        assert!(values_at(&d, "a.c").is_empty());
    }

    proptest! {
        #[test]
        fn generated_valid_ids_are_accepted(id in "[a-zA-Z0-9_-]{1,64}") {
            prop_assert!(valid_id_string(&id));
        }

        #[test]
        fn ids_with_other_characters_are_refused(id in "[a-z]{0,5}[ .!/][a-z]{0,5}") {
            prop_assert!(!valid_id_string(&id));
        }
    }
}

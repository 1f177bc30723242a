//! Reading a hit's values for a (possibly dotted) attribute the way Meilisearch reads facet
//! and distinct values: `a.b` matches `{"a": {"b": …}}`, `{"a.b": …}` and arrays on the way,
//! strings compare by their normalized form.

use miroir_schemas::filter::normalize_facet;
use serde_json::{Map, Number, Value};

/// A value as `distinct` and facet counts compare it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FacetValue {
    Normalized(String),
    Number(Number),
}

impl FacetValue {
    fn from_leaf(value: &Value) -> Option<FacetValue> {
        match value {
            Value::Bool(b) => Some(FacetValue::Normalized(b.to_string())),
            Value::Number(n) => Some(FacetValue::Number(n.clone())),
            Value::String(s) => Some(FacetValue::Normalized(normalize_facet(s))),
            _ => None,
        }
    }
}

/// Calls `visit` with every facet value `document` holds for `attribute`.
pub fn visit_facet_values(document: &Map<String, Value>, attribute: &str, visit: &mut impl FnMut(FacetValue)) {
    visit_object(document, attribute, &mut |value| match value {
        Value::Array(items) => items.iter().filter_map(FacetValue::from_leaf).for_each(&mut *visit),
        leaf => FacetValue::from_leaf(leaf).into_iter().for_each(&mut *visit),
    });
}

/// The facet values of `attribute` in a document and its extra document, in that order.
pub fn facet_values(document: &Map<String, Value>, extra: &Map<String, Value>, attribute: &str) -> Vec<FacetValue> {
    let mut values = Vec::new();
    visit_facet_values(document, attribute, &mut |value| values.push(value));
    visit_facet_values(extra, attribute, &mut |value| values.push(value));
    values
}

fn visit_object(object: &Map<String, Value>, path: &str, visit: &mut impl FnMut(&Value)) {
    for (key, value) in object {
        if key == path {
            visit(value);
        } else if let Some(rest) = path.strip_prefix(key.as_str()).and_then(|rest| rest.strip_prefix('.')) {
            visit_nested(value, rest, visit);
        }
    }
}

fn visit_nested(value: &Value, path: &str, visit: &mut impl FnMut(&Value)) {
    match value {
        Value::Object(object) => visit_object(object, path, visit),
        Value::Array(items) => items.iter().for_each(|item| visit_nested(item, path, visit)),
        _ => {}
    }
}

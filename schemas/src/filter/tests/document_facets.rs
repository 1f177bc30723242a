//! What a document holds for one filterable attribute, as Meilisearch indexes it: numbers,
//! normalized strings (booleans as `true`/`false`), and whether the attribute exists, is
//! `null` or is empty. Part of the test oracle ([`super::oracle`]).

use serde_json::{Map, Value};

use crate::filter::normalize_facet;

/// Longest string facet Meilisearch keeps, in bytes; longer values are cut.
const MAX_FACET_VALUE_LENGTH: usize = 500 - 32;

/// The facet values of one attribute of one document.
#[derive(Debug, Default)]
pub struct Facets {
    pub exists: bool,
    pub null: bool,
    pub empty: bool,
    pub numbers: Vec<f64>,
    pub strings: Vec<String>,
}

impl Facets {
    /// Walks the document the way Meilisearch flattens it: `a.b` names both a key `a.b` and
    /// the key `b` inside the object (or objects of an array) under `a`; array elements are
    /// values of the array's own attribute.
    pub fn of(document: &Map<String, Value>, attribute: &str) -> Facets {
        let mut facets = Facets::default();
        facets.visit_object(document, "", attribute);
        facets
    }

    fn visit_object(&mut self, object: &Map<String, Value>, base: &str, attribute: &str) {
        for (key, value) in object {
            let path = if base.is_empty() { key.clone() } else { format!("{base}.{key}") };
            if path == attribute {
                self.add(value, true);
            }
            let leads_to_attribute =
                attribute.len() > path.len() && attribute.starts_with(path.as_str()) && attribute.as_bytes()[path.len()] == b'.';
            if path == attribute || leads_to_attribute {
                match value {
                    Value::Object(inner) => self.visit_object(inner, &path, attribute),
                    Value::Array(items) => self.visit_array(items, &path, attribute),
                    _ => {}
                }
            }
        }
    }

    fn visit_array(&mut self, items: &[Value], path: &str, attribute: &str) {
        for item in items {
            match item {
                Value::Object(inner) => self.visit_object(inner, path, attribute),
                Value::Array(inner) => self.visit_array(inner, path, attribute),
                value if path == attribute => self.add(value, false),
                _ => {}
            }
        }
    }

    /// Records one value met at the attribute; `null` and emptiness only count for the
    /// attribute's own value, not for elements of an array under it.
    fn add(&mut self, value: &Value, own_value: bool) {
        self.exists = true;
        match value {
            Value::Number(n) => self.numbers.extend(n.as_f64()),
            Value::String(s) if !s.is_empty() => self.strings.push(truncate(normalize_facet(s))),
            Value::String(_) => self.empty |= own_value,
            Value::Bool(b) => self.strings.push(b.to_string()),
            Value::Null => self.null |= own_value,
            Value::Array(a) => self.empty |= own_value && a.is_empty(),
            Value::Object(o) => self.empty |= own_value && o.is_empty(),
        }
    }
}

fn truncate(mut value: String) -> String {
    if value.len() > MAX_FACET_VALUE_LENGTH {
        let mut end = MAX_FACET_VALUE_LENGTH;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    value
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn facets(doc: Value, attribute: &str) -> Facets {
        Facets::of(doc.as_object().unwrap(), attribute)
    }

    #[test]
    fn nested_and_flattened_paths_both_count() {
        let doc = json!({"a": {"b": 1}, "a.b": "X", "c": [{"b": 2}, {"b": [3, true]}]});
        let f = facets(doc.clone(), "a.b");
        assert_eq!(f.numbers, [1.0]);
        assert_eq!(f.strings, ["x"]);
        let f = facets(doc, "c.b");
        assert_eq!((f.numbers, f.strings), (vec![2.0, 3.0], vec!["true".to_owned()]));
    }

    #[test]
    fn null_and_empty_only_for_the_attribute_itself() {
        assert!(facets(json!({"a": null}), "a").null);
        assert!(!facets(json!({"a": [null]}), "a").null);
        assert!(facets(json!({"a": []}), "a").empty);
        assert!(facets(json!({"a": ""}), "a").empty);
        assert!(facets(json!({"a": {}}), "a").empty);
        assert!(!facets(json!({"a": [[]]}), "a").empty);
        assert!(facets(json!({"a": [[]]}), "a").exists);
        assert!(!facets(json!({"b": 1}), "a").exists);
    }
}

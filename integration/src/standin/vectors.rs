//! User-provided embeddings (`source: userProvided` embedders): what `_vectors` holds, how a
//! document shows it under `retrieveVectors`, and the similarity a vector search ranks by.
//!
//! Meilisearch ranks by `1 - distance` of its vector store; the stand-in uses the cosine
//! similarity mapped onto `[0, 1]` (`(1 + cos) / 2`): the same order, not the same floats, which
//! is all the differential needs (it compares one stand-in node with a cluster of them).

use serde_json::{json, Map, Value};

use super::settings::View;
use super::store::Index;
use super::tasks::Document;

/// The reserved field holding a document's embeddings.
pub const VECTORS_FIELD: &str = "_vectors";

/// Whether `index` has an embedder called `name`.
pub fn has_embedder(index: &Index, name: &str) -> bool {
    View(&index.settings).object("embedders").is_some_and(|embedders| embedders.contains_key(name))
}

/// The embedder names of `index`, in settings order.
fn embedder_names(index: &Index) -> Vec<String> {
    View(&index.settings).object("embedders").map(|embedders| embedders.keys().cloned().collect()).unwrap_or_default()
}

/// The embeddings `doc` carries for `embedder`: `_vectors.<embedder>` is one vector, a list of
/// vectors, or `{"embeddings": …, "regenerate": …}` holding either.
pub fn embeddings(doc: &Document, embedder: &str) -> Vec<Vec<f64>> {
    let Some(entry) = doc.get(VECTORS_FIELD).and_then(|vectors| vectors.get(embedder)) else { return Vec::new() };
    let entry = entry.get("embeddings").unwrap_or(entry);
    let Some(items) = entry.as_array() else { return Vec::new() };
    if items.iter().all(Value::is_number) && !items.is_empty() {
        return vec![items.iter().filter_map(Value::as_f64).collect()];
    }
    items.iter().filter_map(|item| Some(item.as_array()?.iter().filter_map(Value::as_f64).collect())).collect()
}

/// `_vectors` as `retrieveVectors` shows it: every embedder of the index, normalized.
pub fn retrieved(index: &Index, doc: &Document) -> Value {
    let mut out = Map::new();
    for name in embedder_names(index) {
        out.insert(name.clone(), json!({"embeddings": embeddings(doc, &name), "regenerate": false}));
    }
    Value::Object(out)
}

/// Adds `_vectors` to a displayed document when the client asked for it.
pub fn add_retrieved(index: &Index, doc: &Document, shown: &mut Map<String, Value>, retrieve_vectors: bool) {
    if retrieve_vectors {
        shown.insert(VECTORS_FIELD.to_owned(), retrieved(index, doc));
    }
}

/// The similarity of two vectors in `[0, 1]` (1: same direction); 0 for a zero vector.
pub fn similarity(left: &[f64], right: &[f64]) -> f64 {
    let dot: f64 = left.iter().zip(right).map(|(l, r)| l * r).sum();
    let norms = left.iter().map(|v| v * v).sum::<f64>().sqrt() * right.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norms == 0.0 {
        return 0.0;
    }
    (1.0 + (dot / norms).clamp(-1.0, 1.0)) / 2.0
}

/// The best similarity of `doc`'s embeddings for `embedder` to `target`, `None` without any.
pub fn best_similarity(doc: &Document, embedder: &str, target: &[f64]) -> Option<f64> {
    embeddings(doc, embedder).iter().map(|vector| similarity(vector, target)).reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(value: Value) -> Document {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn every_vectors_form_is_read() {
        assert_eq!(embeddings(&doc(json!({"_vectors": {"e": [1, 2]}})), "e"), vec![vec![1.0, 2.0]]);
        assert_eq!(embeddings(&doc(json!({"_vectors": {"e": [[1], [2]]}})), "e"), vec![vec![1.0], vec![2.0]]);
        assert_eq!(embeddings(&doc(json!({"_vectors": {"e": {"embeddings": [3], "regenerate": false}}})), "e"), vec![vec![3.0]]);
        assert!(embeddings(&doc(json!({"_vectors": {"e": null}})), "e").is_empty());
        assert!(embeddings(&doc(json!({"id": 1})), "e").is_empty());
    }

    #[test]
    fn similarity_orders_by_angle() {
        assert_eq!(similarity(&[1.0, 0.0], &[2.0, 0.0]), 1.0);
        assert_eq!(similarity(&[1.0, 0.0], &[0.0, 1.0]), 0.5);
        assert_eq!(similarity(&[1.0, 0.0], &[-1.0, 0.0]), 0.0);
        assert_eq!(similarity(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!(similarity(&[1.0, 0.1], &[1.0, 0.0]) > similarity(&[1.0, 1.0], &[1.0, 0.0]));
    }
}

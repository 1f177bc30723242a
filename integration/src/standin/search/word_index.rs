//! A word → documents map over every field of an index, so a keyword search ranks only the
//! documents that can match instead of tokenizing the whole index for every query.
//!
//! Every matching strategy needs the first query word to match (a document matching none of the
//! leading words is not a hit), so the documents holding a word that matches it are a superset of
//! the hits; [`super::rank::rank_document`] still decides each of them exactly. The map covers
//! every field, a superset of any `searchableAttributes` or `attributesToSearchOn`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::text::{match_word, searchable_text, tokenize, QueryTerm};
use crate::standin::documents::values_at;
use crate::standin::tasks::Document;
use crate::standin::vectors::VECTORS_FIELD;

/// Source of the generation numbers that tell an index's contents apart (see [`next_generation`]).
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A number never handed out before: an index takes a new one at every change of its documents,
/// so a map built for one generation is never used for other contents (clones share both).
pub fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, Ordering::Relaxed)
}

/// The words of an index's documents, each with the internal ids of the documents holding it.
#[derive(Debug, Default)]
pub struct WordIndex {
    postings: HashMap<String, Vec<u64>>,
}

impl WordIndex {
    pub fn build<'d>(documents: impl IntoIterator<Item = (&'d u64, &'d Document)>) -> WordIndex {
        let mut postings: HashMap<String, Vec<u64>> = HashMap::new();
        for (internal, doc) in documents {
            for key in doc.keys().filter(|key| *key != VECTORS_FIELD) {
                for value in values_at(doc, key) {
                    let Some(text) = searchable_text(value) else { continue };
                    for word in tokenize(&text) {
                        let list = postings.entry(word.text).or_default();
                        // documents are visited in id order: a repeat is always the last entry
                        if list.last() != Some(internal) {
                            list.push(*internal);
                        }
                    }
                }
            }
        }
        WordIndex { postings }
    }

    /// The documents holding a word that `term` matches.
    pub fn documents_matching(&self, term: &QueryTerm) -> BTreeSet<u64> {
        if term.max_typos == 0 && !term.prefix {
            return self.postings.get(&term.word).into_iter().flatten().copied().collect();
        }
        self.postings
            .iter()
            .filter(|(word, _)| match_word(term, word).is_some())
            .flat_map(|(_, documents)| documents.iter().copied())
            .collect()
    }
}

/// An index's cached map and the generation it was built for.
#[derive(Debug, Default, Clone)]
pub struct WordIndexCache(Arc<parking_lot::Mutex<Option<(u64, Arc<WordIndex>)>>>);

impl WordIndexCache {
    /// The map for `generation`, built from `documents` when the cached one is older.
    pub fn get<'d>(&self, generation: u64, documents: impl IntoIterator<Item = (&'d u64, &'d Document)>) -> Arc<WordIndex> {
        let mut slot = self.0.lock();
        match slot.as_ref() {
            Some((built_for, index)) if *built_for == generation => Arc::clone(index),
            _ => {
                let index = Arc::new(WordIndex::build(documents));
                *slot = Some((generation, Arc::clone(&index)));
                index
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn term(word: &str, prefix: bool, max_typos: u32) -> QueryTerm {
        QueryTerm { word: word.into(), prefix, max_typos }
    }

    #[test]
    fn words_of_every_field_lead_to_their_documents() {
        let mut documents = BTreeMap::new();
        documents.insert(0, json!({"id": "a", "name": "Python library", "tags": ["dev::lang"]}).as_object().unwrap().clone());
        documents.insert(1, json!({"id": "b", "summary": "a libary", "_vectors": {"e": [1]}}).as_object().unwrap().clone());
        documents.insert(2, json!({"id": "c", "n": 42}).as_object().unwrap().clone());
        let index = WordIndex::build(&documents);
        assert_eq!(index.documents_matching(&term("library", false, 0)), BTreeSet::from([0]));
        assert_eq!(index.documents_matching(&term("library", false, 1)), BTreeSet::from([0, 1]), "one typo reaches `libary`");
        assert_eq!(index.documents_matching(&term("lib", true, 0)), BTreeSet::from([0, 1]));
        assert_eq!(index.documents_matching(&term("42", false, 0)), BTreeSet::from([2]));
        assert_eq!(index.documents_matching(&term("lang", false, 0)), BTreeSet::from([0]));
        assert!(index.documents_matching(&term("1", false, 0)).is_empty(), "`_vectors` is not searchable");
    }

    #[test]
    fn the_cache_rebuilds_for_a_new_generation_only() {
        let cache = WordIndexCache::default();
        let mut documents = BTreeMap::new();
        documents.insert(0, json!({"w": "alpha"}).as_object().unwrap().clone());
        let first = cache.get(7, &documents);
        documents.insert(1, json!({"w": "beta"}).as_object().unwrap().clone());
        assert!(Arc::ptr_eq(&first, &cache.get(7, &documents)), "same generation: same map");
        let second = cache.get(8, &documents);
        assert_eq!(second.documents_matching(&term("beta", false, 0)), BTreeSet::from([1]));
    }
}

//! The Debian packages corpus (63,666 documents, primary key `id`) and NDJSON batches of it.

use serde_json::{Map, Value};

/// Every document of the corpus.
pub const CORPUS_SIZE: usize = 63_666;

/// A document of the corpus.
pub type Document = Map<String, Value>;

/// The first `count` documents of the corpus.
pub fn corpus(count: usize) -> Vec<Document> {
    let documents = miroir_integration::corpus::corpus_documents(count).expect("reading the corpus");
    assert!(documents.len() == count.min(CORPUS_SIZE), "the corpus gave {} documents, wanted {count}", documents.len());
    documents
}

/// `documents` as an NDJSON body.
pub fn ndjson<'a>(documents: impl IntoIterator<Item = &'a Document>) -> Vec<u8> {
    let mut out = Vec::new();
    for document in documents {
        serde_json::to_writer(&mut out, document).expect("a map serializes");
        out.push(b'\n');
    }
    out
}

/// The primary key value of a corpus document.
pub fn doc_id(document: &Document) -> &str {
    document["id"].as_str().expect("corpus ids are strings")
}

//! The Debian packages corpus (63,666 documents, primary key `id`) and NDJSON batches of it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

pub const CORPUS: &str = "/work/shared/datasets/debian-packages.ndjson.zst";
/// Every document of the corpus.
pub const CORPUS_SIZE: usize = 63_666;

/// A document of the corpus.
pub type Document = Map<String, Value>;

/// The first `count` documents of the corpus (decompressed with `zstd -dc`).
pub fn corpus(count: usize) -> Vec<Document> {
    let mut child = Command::new("zstd")
        .args(["-dc", CORPUS])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("zstd must be on PATH to read the corpus");
    let reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    let documents: Vec<Document> = reader
        .lines()
        .take(count)
        .map(|line| serde_json::from_str(&line.expect("reading the corpus")).expect("a JSON object per corpus line"))
        .collect();
    // Stopping early leaves zstd writing into a closed pipe: end it.
    child.kill().ok();
    child.wait().ok();
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

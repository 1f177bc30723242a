//! Test-only access to the recorded Meilisearch 1.50 exchanges.

use serde_json::Value;

/// One recorded request/response exchange.
pub struct Exchange {
    pub name: String,
    pub path: String,
    pub status: u16,
    pub response: Value,
}

/// Reads `transcripts-v1.50.jsonl` from `$MIROIR_REFERENCE_DIR` (default: the shared
/// reference directory of the workspace). Panics with the path when it is missing, so a test
/// never passes vacuously.
pub fn transcript() -> Vec<Exchange> {
    let dir = std::env::var("MIROIR_REFERENCE_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/meilisearch-reference").to_owned());
    let path = format!("{dir}/transcripts-v1.50.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read the reference transcript {path}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let record: Value = serde_json::from_str(line).expect("transcript line is JSON");
            Exchange {
                name: record["name"].as_str().unwrap_or_default().to_owned(),
                path: record["request"]["path"].as_str().unwrap_or_default().to_owned(),
                status: record["status"].as_u64().expect("status") as u16,
                response: record["response"].clone(),
            }
        })
        .collect()
}

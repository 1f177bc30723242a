//! `/indexes/{uid}/similar` over shards. Pure.
//!
//! The target document lives in one shard. That shard's index answers Meilisearch's own
//! `/similar` (which validates the request, excludes the target and reports Meilisearch's
//! exact errors). Every other shard cannot know the target, so it answers a pure vector
//! search (`hybrid.semanticRatio: 1`) with the target's embedding, read from its shard with
//! `retrieveVectors`. Both rank by the same similarity (`1 - distance`, shifted by the
//! embedder's distribution), which is each hit's `_rankingScore`, so the answers merge by it.

use serde_json::{json, Map, Value};
use std::cmp::Ordering;

/// Meilisearch's defaults for `offset` and `limit`.
const DEFAULT_OFFSET: usize = 0;
const DEFAULT_LIMIT: usize = 20;

/// The client's similar request, as far as the merge needs it. Fields whose value has the wrong
/// type are left to the target shard's node, which refuses them with Meilisearch's error.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarPlan {
    /// The body the client sent (tenant filter already ANDed in).
    request: Map<String, Value>,
    /// The target's id as Meilisearch writes it (`id` is a string or an integer), when valid.
    pub id: Option<String>,
    pub offset: usize,
    pub limit: usize,
    pub embedder: Option<String>,
    pub show_ranking_score: bool,
    pub show_ranking_score_details: bool,
    /// A valid `rankingScoreThreshold`. Applied here, on the merged list, because Meilisearch's
    /// rule depends on the whole window: the first hit of the window under the threshold ends
    /// the list, and the estimate then counts only the documents before it.
    pub ranking_score_threshold: Option<f64>,
}

impl SimilarPlan {
    pub fn new(request: &Map<String, Value>) -> SimilarPlan {
        let id = match request.get("id") {
            Some(Value::String(id)) => Some(id.clone()),
            Some(Value::Number(number)) if number.is_u64() || number.is_i64() => Some(number.to_string()),
            _ => None,
        };
        let count = |name: &str, default: usize| match request.get(name) {
            Some(value) => value.as_u64().map_or(default, |n| n as usize),
            None => default,
        };
        let flag = |name: &str| request.get(name).and_then(Value::as_bool).unwrap_or(false);
        SimilarPlan {
            id,
            offset: count("offset", DEFAULT_OFFSET),
            limit: count("limit", DEFAULT_LIMIT),
            embedder: request.get("embedder").and_then(Value::as_str).map(str::to_owned),
            show_ranking_score: flag("showRankingScore"),
            show_ranking_score_details: flag("showRankingScoreDetails"),
            ranking_score_threshold: request.get("rankingScoreThreshold").and_then(Value::as_f64).filter(|t| (0.0..=1.0).contains(t)),
            request: request.clone(),
        }
    }

    /// How many hits each shard must return for the merged window to be exact.
    pub fn fetch(&self) -> usize {
        self.offset.saturating_add(self.limit)
    }

    /// The `/similar` body for the target's shard: the client's, asking for the whole window
    /// from 0 with scores. A field the client sent with a wrong type is kept as sent, so the
    /// node reports it exactly as Meilisearch would.
    pub fn target_request(&self) -> Value {
        let mut body = self.request.clone();
        let mut set_if_valid = |name: &str, valid: fn(&Value) -> bool, value: Value| {
            if body.get(name).is_none_or(valid) {
                body.insert(name.to_owned(), value);
            }
        };
        let is_count = |v: &Value| v.is_u64();
        set_if_valid("offset", is_count, json!(0));
        if self.request.get("offset").is_none_or(is_count) {
            set_if_valid("limit", is_count, json!(self.fetch()));
        }
        set_if_valid("showRankingScore", Value::is_boolean, json!(true));
        set_if_valid("showRankingScoreDetails", Value::is_boolean, json!(true));
        // a valid threshold is applied by the merge; an invalid one is the node's to refuse
        if self.ranking_score_threshold.is_some() {
            body.shift_remove("rankingScoreThreshold");
        }
        Value::Object(body)
    }

    /// The search body for any other shard: a pure vector search for `vector` under the
    /// client's filter, display options and threshold. Without a vector (the target has no
    /// embedding for this embedder) it only counts the filtered documents, as Meilisearch's
    /// similar then returns no hit but still estimates the candidates.
    pub fn other_shard_request(&self, vector: Option<&Value>) -> Value {
        let mut body = Map::new();
        for name in ["filter", "attributesToRetrieve", "retrieveVectors"] {
            if let Some(value) = self.request.get(name) {
                body.insert(name.to_owned(), value.clone());
            }
        }
        match (vector, &self.embedder) {
            (Some(vector), Some(embedder)) => {
                body.insert("vector".into(), vector.clone());
                body.insert("hybrid".into(), json!({"embedder": embedder, "semanticRatio": 1.0}));
                body.insert("limit".into(), json!(self.fetch()));
            }
            _ => {
                body.insert("limit".into(), json!(0));
            }
        }
        body.insert("offset".into(), json!(0));
        body.insert("showRankingScore".into(), json!(true));
        body.insert("showRankingScoreDetails".into(), json!(true));
        Value::Object(body)
    }
}

/// The embedding of `document` for `embedder` as `retrieveVectors` shows it
/// (`_vectors.<embedder>.embeddings`: one vector, or a list of them, of which the first is
/// used), or `None` when the document has none.
pub fn target_vector(document: &Value, embedder: &str) -> Option<Value> {
    let entry = document.get("_vectors")?.get(embedder)?;
    let embeddings = entry.get("embeddings").unwrap_or(entry);
    let items = embeddings.as_array()?;
    match items.first()? {
        Value::Number(_) => Some(embeddings.clone()),
        first @ Value::Array(_) => Some(first.clone()),
        _ => None,
    }
}

/// One shard's answer: its `/similar` (the target's shard) or vector-search JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardAnswer {
    pub body: Value,
    /// Whether this is a vector search, whose hits without an embedding (ranked last with a
    /// `null` similarity) are not similar documents.
    pub is_vector_search: bool,
}

/// The client's response: every shard's hits ordered by similarity (ties: shard order, then
/// the shard's own order), the window cut (and ended at the first hit under the threshold),
/// internal scores removed unless asked, and the estimated total summed and capped at
/// `max_total_hits` like a node's.
pub fn merge(plan: &SimilarPlan, answers: &[ShardAnswer], max_total_hits: usize, processing_time_ms: u128) -> Value {
    let mut ranked: Vec<(f64, usize, usize, &Map<String, Value>)> = Vec::new();
    let mut estimated = 0u64;
    for (shard_position, answer) in answers.iter().enumerate() {
        estimated += answer.body.get("estimatedTotalHits").and_then(Value::as_u64).unwrap_or(0);
        let hits = answer.body.get("hits").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        for (position, hit) in hits.iter().enumerate() {
            let Some(hit) = hit.as_object() else { continue };
            if answer.is_vector_search && similarity(hit).is_none() {
                continue;
            }
            let score = hit.get("_rankingScore").and_then(Value::as_f64).unwrap_or(0.0);
            ranked.push((score, shard_position, position, hit));
        }
    }
    ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal).then((a.1, a.2).cmp(&(b.1, b.2))));
    let skipped = plan.offset.min(ranked.len());
    let mut window: Vec<(f64, &Map<String, Value>)> =
        ranked.into_iter().skip(plan.offset).take(plan.limit).map(|(score, _, _, hit)| (score, hit)).collect();
    if let Some(threshold) = plan.ranking_score_threshold {
        if let Some(cut) = window.iter().position(|(score, _)| *score < threshold) {
            window.truncate(cut);
            estimated = (skipped + cut) as u64;
        }
    }
    let hits: Vec<Value> = window.into_iter().map(|(_, hit)| Value::Object(client_hit(plan, hit))).collect();
    let mut body = Map::new();
    body.insert("hits".into(), Value::Array(hits));
    body.insert("id".into(), json!(plan.id.clone().unwrap_or_default()));
    body.insert("processingTimeMs".into(), json!(processing_time_ms));
    body.insert("offset".into(), json!(plan.offset));
    body.insert("limit".into(), json!(plan.limit));
    body.insert("estimatedTotalHits".into(), json!(estimated.min(max_total_hits as u64)));
    Value::Object(body)
}

/// `_rankingScoreDetails.vectorSort.similarity` (`None` for a document without an embedding).
fn similarity(hit: &Map<String, Value>) -> Option<f64> {
    hit.get("_rankingScoreDetails")?.get("vectorSort")?.get("similarity")?.as_f64()
}

/// The hit as the client sees it: scores only when asked, and the details of a similar query
/// (only `vectorSort`: a search may also list the index's later ranking rules).
fn client_hit(plan: &SimilarPlan, hit: &Map<String, Value>) -> Map<String, Value> {
    let mut hit = hit.clone();
    super::node_answer::hide_shard_field(&mut hit);
    if !plan.show_ranking_score {
        hit.shift_remove("_rankingScore");
    }
    match hit.shift_remove("_rankingScoreDetails") {
        Some(details) if plan.show_ranking_score_details => {
            let vector_only: Map<String, Value> = details
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(rule, _)| *rule == "vectorSort")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            hit.insert("_rankingScoreDetails".into(), Value::Object(vector_only));
        }
        _ => {}
    }
    hit
}

#[cfg(test)]
mod tests;

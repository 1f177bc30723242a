//! One node's answer to a proxy-mode federated `/multi-search`, parsed into what the merge
//! needs. A node answer that lacks a field the merge relies on is refused as a whole, as
//! Meilisearch's own coordinator refuses a remote's (`remote_bad_response`).

use super::error::MergeError;
use super::facets::IndexFacets;
use super::score::ScoreValue;
use miroir_schemas::node_layout::MIROIR_DOCUMENT_FIELDS;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Fields of `_federation` a node adds in proxy mode.
const FEDERATION: &str = "_federation";
const WEIGHTED_SCORE_VALUES: &str = "weightedScoreValues";
const WEIGHTED_RANKING_SCORE: &str = "weightedRankingScore";
const QUERIES_POSITION: &str = "queriesPosition";
const INDEX_UID: &str = "indexUid";
const EXTRA_DOCUMENT: &str = "extra_document";
const PINNED_POSITION: &str = "pinnedPosition";

/// A hit as a node returned it, its `_federation` object taken apart.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeHit {
    /// The hit as the client will see it, minus `_federation` (key order preserved).
    pub document: Map<String, Value>,
    pub score: Vec<ScoreValue>,
    /// `_rankingScore × weight` (semantic score when present), the comparator's last resort.
    pub weighted_global_score: f64,
    /// Position of the query inside the node's request.
    pub node_query: usize,
    /// The node index that produced the hit (`movies__rank-1`).
    pub node_index_uid: String,
    /// Attributes the node retrieved only for us (`federation.distinct` and its facets).
    pub extra_document: Map<String, Value>,
    /// Set on pinned documents: their position in the final list.
    pub pinned_position: Option<usize>,
    /// Where `_federation` sat among the hit's keys, to put the client's one back there.
    pub federation_key_position: usize,
}

/// One node's answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeAnswer {
    /// Hits in the node's order (best first).
    pub hits: Vec<NodeHit>,
    pub processing_time_ms: u64,
    /// `totalHits` in page mode, `estimatedTotalHits` otherwise.
    pub total_hits: usize,
    /// `facetsByIndex`, keyed by node index uid.
    pub facets_by_index: BTreeMap<String, IndexFacets>,
}

impl NodeAnswer {
    /// Parses the body of a node's `200` answer.
    pub fn parse(body: &Value) -> Result<NodeAnswer, MergeError> {
        let object = body.as_object().ok_or_else(|| MergeError::bad_answer("", "an object", body))?;
        let hits = object
            .get("hits")
            .and_then(Value::as_array)
            .ok_or_else(|| MergeError::missing(".hits"))?
            .iter()
            .map(NodeHit::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let total_hits = ["totalHits", "estimatedTotalHits"]
            .iter()
            .find_map(|key| object.get(*key))
            .ok_or_else(|| MergeError::missing(".estimatedTotalHits"))?;
        let total_hits =
            total_hits.as_u64().ok_or_else(|| MergeError::bad_answer(".estimatedTotalHits", "an integer", total_hits))? as usize;
        let processing_time_ms = object.get("processingTimeMs").and_then(Value::as_u64).unwrap_or(0);
        let facets_by_index = match object.get("facetsByIndex") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(by_index)) => by_index
                .iter()
                .map(|(index, facets)| Ok((index.clone(), IndexFacets::parse(index, facets)?)))
                .collect::<Result<_, MergeError>>()?,
            Some(other) => return Err(MergeError::bad_answer(".facetsByIndex", "an object", other)),
        };
        Ok(NodeAnswer { hits, processing_time_ms, total_hits, facets_by_index })
    }
}

/// Removes Miroir's document fields (shard, TTL expiry) from a document a node returned, and
/// from its `_formatted` copy: clients never see them.
pub fn hide_shard_field(document: &mut Map<String, Value>) {
    for field in MIROIR_DOCUMENT_FIELDS {
        document.shift_remove(field);
        if let Some(Value::Object(formatted)) = document.get_mut("_formatted") {
            formatted.shift_remove(field);
        }
    }
}

impl NodeHit {
    pub fn parse(hit: &Value) -> Result<NodeHit, MergeError> {
        let mut document = hit.as_object().cloned().ok_or_else(|| MergeError::bad_answer(".hits[]", "an object", hit))?;
        hide_shard_field(&mut document);
        let federation_key_position = document.keys().position(|key| key == FEDERATION).unwrap_or(document.len());
        let federation = match document.shift_remove(FEDERATION) {
            Some(Value::Object(federation)) => federation,
            Some(other) => return Err(MergeError::bad_answer("._federation", "an object", &other)),
            None => return Err(MergeError::missing("._federation")),
        };
        let field = |name: &'static str| federation.get(name).ok_or(MergeError::MissingPath(name));
        let score_values = field(WEIGHTED_SCORE_VALUES)?;
        let score: Vec<ScoreValue> =
            serde_json::from_value(score_values.clone()).map_err(|error| MergeError::BadScoreValues(error.to_string()))?;
        let weighted = field(WEIGHTED_RANKING_SCORE)?;
        let weighted_global_score =
            weighted.as_f64().ok_or_else(|| MergeError::bad_answer("._federation.weightedRankingScore", "a number", weighted))?;
        let position = field(QUERIES_POSITION)?;
        let node_query =
            position.as_u64().ok_or_else(|| MergeError::bad_answer("._federation.queriesPosition", "an integer", position))? as usize;
        let index = field(INDEX_UID)?;
        let node_index_uid = index.as_str().ok_or_else(|| MergeError::bad_answer("._federation.indexUid", "a string", index))?.to_owned();
        let mut extra_document = match federation.get(EXTRA_DOCUMENT) {
            Some(Value::Object(extra)) => extra.clone(),
            _ => Map::new(),
        };
        hide_shard_field(&mut extra_document);
        let pinned_position = federation.get(PINNED_POSITION).and_then(Value::as_u64).map(|p| p as usize);
        Ok(NodeHit {
            document,
            score,
            weighted_global_score,
            node_query,
            node_index_uid,
            extra_document,
            pinned_position,
            federation_key_position,
        })
    }
}

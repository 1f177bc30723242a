//! Planning a single-index search: from the client's `/indexes/{uid}/search` body to the one
//! federated `/multi-search` body each chosen node gets, and the parameters the merge needs.

use super::error::MergeError;
use super::facets::{FacetOrderRules, DEFAULT_MAX_VALUES_PER_FACET};
use miroir_schemas::error::Code;
use miroir_schemas::node_layout::{layout_node_index_uid, narrowed_to_shards, ReplicaRank};
use miroir_schemas::placement::NodeIndexPart;
use miroir_schemas::topology::ShardId;
use serde_json::{json, Map, Value};

/// Meilisearch's default `limit` / `hitsPerPage`.
pub const DEFAULT_LIMIT: usize = 20;
/// Meilisearch's default `pagination.maxTotalHits`.
pub const DEFAULT_MAX_TOTAL_HITS: usize = 1000;

/// Client parameters that never reach a node as they are: pagination and facets move into the
/// node's `federation` object, `distinct` becomes `federation.distinct` (so the node returns the
/// distinct value in `extra_document` even when it is not displayed), and the rest is refused
/// inside a federated query by Meilisearch.
const PARAMETERS_NOT_FORWARDED: &[&str] =
    &["offset", "limit", "page", "hitsPerPage", "facets", "distinct", "showPerformanceDetails", "personalize", "useNetwork"];

/// The index settings the merge depends on, as the gateway's catalog knows them.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSearchSettings {
    /// `faceting.maxValuesPerFacet` as the client sees it.
    pub max_values_per_facet: usize,
    /// `faceting.sortFacetValuesBy`.
    pub sort_facet_values_by: FacetOrderRules,
    /// `pagination.maxTotalHits`.
    pub max_total_hits: usize,
    /// `distinctAttribute`.
    pub distinct_attribute: Option<String>,
    /// `maxValuesPerFacet` the node indexes actually carry (today the client's value); only used
    /// to tell whether a shard's facet list may have been cut.
    pub node_max_values_per_facet: usize,
}

impl Default for IndexSearchSettings {
    fn default() -> Self {
        IndexSearchSettings {
            max_values_per_facet: DEFAULT_MAX_VALUES_PER_FACET,
            sort_facet_values_by: FacetOrderRules::default(),
            max_total_hits: DEFAULT_MAX_TOTAL_HITS,
            distinct_attribute: None,
            node_max_values_per_facet: DEFAULT_MAX_VALUES_PER_FACET,
        }
    }
}

impl IndexSearchSettings {
    /// Reads the parts of a Meilisearch settings object (`GET /indexes/{uid}/settings`) the
    /// merge needs; missing parts keep Meilisearch's defaults.
    pub fn from_settings(settings: &Value) -> IndexSearchSettings {
        let defaults = IndexSearchSettings::default();
        let number = |pointer: &str, default: usize| settings.pointer(pointer).and_then(Value::as_u64).map_or(default, |n| n as usize);
        let max_values_per_facet = number("/faceting/maxValuesPerFacet", defaults.max_values_per_facet);
        IndexSearchSettings {
            max_values_per_facet,
            sort_facet_values_by: settings.pointer("/faceting/sortFacetValuesBy").map(FacetOrderRules::from_setting).unwrap_or_default(),
            max_total_hits: number("/pagination/maxTotalHits", defaults.max_total_hits),
            distinct_attribute: settings.get("distinctAttribute").and_then(Value::as_str).map(str::to_owned),
            node_max_values_per_facet: max_values_per_facet,
        }
    }
}

/// `offset`/`limit`, or `page`/`hitsPerPage` (which also asks for exhaustive totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pagination {
    OffsetLimit { offset: usize, limit: usize },
    Pages { page: usize, hits_per_page: usize },
}

impl Pagination {
    /// Reads the client's pagination parameters; `page` or `hitsPerPage` switches to pages.
    pub fn from_request(request: &Map<String, Value>) -> Result<Pagination, MergeError> {
        let page = optional_usize(request, "page", Code::InvalidSearchPage)?;
        let hits_per_page = optional_usize(request, "hitsPerPage", Code::InvalidSearchHitsPerPage)?;
        if page.is_some() || hits_per_page.is_some() {
            return Ok(Pagination::Pages { page: page.unwrap_or(1), hits_per_page: hits_per_page.unwrap_or(DEFAULT_LIMIT) });
        }
        Ok(Pagination::OffsetLimit {
            offset: optional_usize(request, "offset", Code::InvalidSearchOffset)?.unwrap_or(0),
            limit: optional_usize(request, "limit", Code::InvalidSearchLimit)?.unwrap_or(DEFAULT_LIMIT),
        })
    }

    /// `(skip, take)` over the merged list; page 0 shows nothing.
    pub fn window(self) -> (usize, usize) {
        match self {
            Pagination::OffsetLimit { offset, limit } => (offset, limit),
            Pagination::Pages { page: 0, .. } => (0, 0),
            Pagination::Pages { page, hits_per_page } => ((page - 1).saturating_mul(hits_per_page), hits_per_page),
        }
    }

    /// How many merged hits can ever be shown: Meilisearch never shows a hit past `maxTotalHits`.
    pub fn required_hits(self, max_total_hits: usize) -> usize {
        let (skip, take) = self.window();
        skip.saturating_add(take).min(max_total_hits)
    }

    /// The pagination part of a node's `federation`: the node returns the first
    /// `offset + limit` hits (as Meilisearch's own coordinator forwards it), or, for pages,
    /// page 1 of `page × hitsPerPage` hits so that the node counts `totalHits` exhaustively.
    pub fn node_federation(self, max_total_hits: usize) -> Map<String, Value> {
        let required = self.required_hits(max_total_hits);
        let mut federation = Map::new();
        match self {
            Pagination::OffsetLimit { .. } => {
                federation.insert("limit".into(), required.into());
                federation.insert("offset".into(), 0.into());
            }
            Pagination::Pages { page: 0, hits_per_page } => {
                federation.insert("page".into(), 0.into());
                federation.insert("hitsPerPage".into(), hits_per_page.into());
            }
            Pagination::Pages { .. } => {
                federation.insert("page".into(), 1.into());
                federation.insert("hitsPerPage".into(), required.into());
            }
        }
        federation
    }
}

impl Pagination {
    /// [`Pagination::node_federation`] asking for at least `fetch` hits (a distinct refill).
    /// Page mode keeps page 1 of a bigger page, so the node's `totalHits` stays exhaustive.
    pub fn node_federation_fetching(self, max_total_hits: usize, fetch: usize) -> Map<String, Value> {
        let mut federation = self.node_federation(max_total_hits);
        if fetch > self.required_hits(max_total_hits) && federation.get("page").and_then(Value::as_u64) != Some(0) {
            let field = if federation.contains_key("hitsPerPage") { "hitsPerPage" } else { "limit" };
            federation.insert(field.into(), fetch.into());
        }
        federation
    }
}

/// Where a node query came from: the client query and the node index part it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOrigin {
    /// Position of the query in the client's request (0 for a single search).
    pub query: usize,
    /// The user's index uid.
    pub index_uid: String,
    /// The lowest shard the query covers: each shard is answered once per client query, so this
    /// names the query's stream uniquely and orders ties the same way every time.
    pub shard: ShardId,
    /// The replica rank of the node index asked.
    pub rank: ReplicaRank,
    /// The index layout of the node index asked (docs/resharding.md).
    pub layout: Option<u32>,
    /// The shards to narrow the query to, when the node index holds others too.
    pub narrowed_to: Option<Vec<ShardId>>,
}

impl QueryOrigin {
    /// Client query `query` on `index_uid`, asked of the node index `part` of layout `layout`
    /// names.
    pub fn new(query: usize, index_uid: &str, layout: Option<u32>, part: &NodeIndexPart) -> QueryOrigin {
        QueryOrigin {
            query,
            index_uid: index_uid.to_owned(),
            shard: part.shards[0],
            rank: part.rank,
            layout,
            narrowed_to: (!part.whole).then(|| part.shards.clone()),
        }
    }
}

/// The body one node gets, and, for each of its queries in order, where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRequest {
    pub body: Value,
    pub origins: Vec<QueryOrigin>,
}

/// Everything the merge of a single-index search needs besides the node answers.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeParams {
    pub index_uid: String,
    /// `q` as the client sent it (`""` when absent), echoed as `query`.
    pub query: String,
    pub pagination: Pagination,
    /// `facets` when the client asked for any (even an empty list).
    pub facets: Option<Value>,
    /// The `distinct` parameter, else the index's `distinctAttribute`.
    pub distinct: Option<String>,
    pub show_ranking_score: bool,
    pub show_ranking_score_details: bool,
    /// Hybrid/semantic search: the answer carries `semanticHitCount`.
    pub hybrid: bool,
    /// The client's `vector` when it also asked for `retrieveVectors`: a node echoes it as
    /// `queryVector` right after `query`.
    pub query_vector: Option<Value>,
    pub settings: IndexSearchSettings,
}

/// Whether Meilisearch runs `request` as a semantic or hybrid search (its `search_kind`), the
/// searches whose answer carries `semanticHitCount`: `hybrid` with a non-zero `semanticRatio`
/// (0.5 by default) and a query or a vector. Anything else is a keyword search.
pub fn is_ai_search(request: &Map<String, Value>) -> bool {
    let Some(hybrid) = request.get("hybrid").filter(|hybrid| !hybrid.is_null()) else { return false };
    if hybrid.get("semanticRatio").and_then(Value::as_f64).unwrap_or(0.5) == 0.0 {
        return false;
    }
    let has_query = request.get("q").and_then(Value::as_str).is_some_and(|q| !q.trim().is_empty());
    has_query || request.get("vector").is_some_and(|vector| !vector.is_null())
}

/// A planned single-index search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    /// The client's query without the parameters that move to `federation`.
    node_query: Map<String, Value>,
    pub merge: MergeParams,
    /// Hits asked of each node when more than the page needs (see [`SearchPlan::node_fetch`]).
    node_fetch_floor: usize,
}

impl SearchPlan {
    pub fn new(index_uid: &str, request: &Map<String, Value>, settings: IndexSearchSettings) -> Result<SearchPlan, MergeError> {
        let pagination = Pagination::from_request(request)?;
        let distinct = match request.get("distinct") {
            None | Some(Value::Null) => settings.distinct_attribute.clone(),
            Some(Value::String(attribute)) => Some(attribute.clone()),
            Some(other) => return Err(invalid(Code::InvalidSearchDistinct, "distinct", "a string", other)),
        };
        let facets = match request.get("facets") {
            None | Some(Value::Null) => None,
            Some(facets @ Value::Array(_)) => Some(facets.clone()),
            Some(other) => return Err(invalid(Code::InvalidSearchFacets, "facets", "an array", other)),
        };
        let query = request.get("q").and_then(Value::as_str).unwrap_or_default().to_owned();
        let flag = |name: &str| request.get(name).and_then(Value::as_bool).unwrap_or(false);
        let merge = MergeParams {
            index_uid: index_uid.to_owned(),
            query,
            pagination,
            facets,
            distinct,
            show_ranking_score: flag("showRankingScore"),
            show_ranking_score_details: flag("showRankingScoreDetails"),
            hybrid: is_ai_search(request),
            query_vector: request.get("vector").filter(|vector| !vector.is_null() && flag("retrieveVectors")).cloned(),
            settings,
        };
        let node_query = request
            .iter()
            .filter(|(name, _)| !PARAMETERS_NOT_FORWARDED.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        Ok(SearchPlan { node_query, merge, node_fetch_floor: 0 })
    }

    /// How many hits each node is asked for: what the page needs, or more once widened.
    pub fn node_fetch(&self) -> usize {
        self.merge.pagination.required_hits(self.merge.settings.max_total_hits).max(self.node_fetch_floor)
    }

    /// The same search asking each node for `fetch` hits (used when cross-shard `distinct` left
    /// the page unsettled, see [`crate::search::distinct_refill`]).
    pub fn widened(&self, fetch: usize) -> SearchPlan {
        SearchPlan { node_fetch_floor: fetch, ..self.clone() }
    }

    /// The federated `/multi-search` body for a node answering through `parts` (one query per
    /// node index). Send it with the header `Meili-Proxy-Search: true`.
    pub fn node_request(&self, layout: Option<u32>, parts: &[NodeIndexPart]) -> NodeRequest {
        let origins: Vec<QueryOrigin> = parts.iter().map(|part| QueryOrigin::new(0, &self.merge.index_uid, layout, part)).collect();
        let queries: Vec<Value> = origins.iter().map(|origin| node_query(&self.node_query, origin)).collect();
        let mut federation = self.merge.pagination.node_federation_fetching(self.merge.settings.max_total_hits, self.node_fetch_floor);
        if let Some(facets) = &self.merge.facets {
            let by_index = origins.iter().map(|origin| (node_index_of(origin), facets.clone())).collect();
            federation.insert("facetsByIndex".into(), Value::Object(by_index));
        }
        if let Some(distinct) = &self.merge.distinct {
            federation.insert("distinct".into(), distinct.clone().into());
        }
        NodeRequest { body: json!({"federation": federation, "queries": queries}), origins }
    }
}

/// The client's query aimed at one node index, narrowed to the origin's shards when the node
/// index holds others.
pub(crate) fn node_query(query: &Map<String, Value>, origin: &QueryOrigin) -> Value {
    let mut query = query.clone();
    query.insert("indexUid".into(), node_index_of(origin).into());
    if let Some(shards) = &origin.narrowed_to {
        let filter = narrowed_to_shards(query.get("filter").unwrap_or(&Value::Null), shards);
        query.insert("filter".into(), filter);
    }
    Value::Object(query)
}

pub(crate) fn node_index_of(origin: &QueryOrigin) -> String {
    layout_node_index_uid(&origin.index_uid, origin.layout, origin.rank)
}

fn optional_usize(request: &Map<String, Value>, name: &str, code: Code) -> Result<Option<usize>, MergeError> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_u64().map(|n| Some(n as usize)).ok_or_else(|| invalid(code, name, "a positive integer", value)),
    }
}

/// Meilisearch's wording for a parameter of the wrong type.
fn invalid(code: Code, name: &str, expected: &str, found: &Value) -> MergeError {
    let kind = match found {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    MergeError::InvalidParameter {
        code,
        message: format!("Invalid value type at `.{name}`: expected {expected}, but found {kind}: `{found}`"),
    }
}

/// For the merge's tests: each shard `k` alone in a whole node index of rank `k`, so node index
/// names (`movies__rank-k`) follow the shards.
#[cfg(test)]
pub(crate) fn test_parts(shards: &[u32]) -> Vec<NodeIndexPart> {
    shards.iter().map(|&k| NodeIndexPart { rank: ReplicaRank(k), shards: vec![ShardId(k)], whole: true }).collect()
}

#[cfg(test)]
mod tests;

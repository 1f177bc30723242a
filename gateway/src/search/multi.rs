//! `/multi-search` over sharded indexes: federated (one merged list over every query, weights,
//! `facetsByIndex`, `mergeFacets`) and plain (one answer per query), built from the same parts
//! as a single-index search.

use super::error::MergeError;
use super::facets::{distribution_json, sort_values, stats_json, FacetMerge, FacetOrder, IndexFacets};
use super::kmerge::{merge_streams, Distinct, Merged, RankedHit, Window};
use super::plan::{node_index_of, node_query, IndexSearchSettings, NodeRequest, Pagination, QueryOrigin, SearchPlan};
use super::single::{
    client_hit, insert_hits_info, merged_total, ranked_streams, refill, search_response, semantic_hit_count, MergedSearch, NodeResult,
};
use miroir_schemas::error::Code;
use miroir_schemas::node_layout::parse_node_index_uid;
use miroir_schemas::placement::NodeIndexPart;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Plain multi-search: each query is a single-index search of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiSearchPlan {
    pub searches: Vec<SearchPlan>,
}

impl MultiSearchPlan {
    /// `queries` is the client's `queries` array; `settings_of` gives an index's settings.
    pub fn new(queries: &[Value], settings_of: impl Fn(&str) -> IndexSearchSettings) -> Result<MultiSearchPlan, MergeError> {
        let searches = queries
            .iter()
            .enumerate()
            .map(|(position, query)| {
                let (index_uid, query) = split_index_uid(position, query)?;
                SearchPlan::new(&index_uid, &query, settings_of(&index_uid))
            })
            .collect::<Result<_, _>>()?;
        Ok(MultiSearchPlan { searches })
    }

    /// `{"results": [{"indexUid", …one search answer…}]}`; `merged[i]` is query `i` merged
    /// (see [`crate::search::settle`]).
    pub fn response(&self, merged: &[MergedSearch], request_uid: Option<&str>) -> Value {
        let answers: Vec<Value> = self
            .searches
            .iter()
            .zip(merged)
            .map(|(plan, merged)| {
                let Value::Object(answer) = search_response(&plan.merge, merged, request_uid) else { unreachable!() };
                let mut with_index = Map::new();
                with_index.insert("indexUid".into(), plan.merge.index_uid.clone().into());
                with_index.extend(answer);
                Value::Object(with_index)
            })
            .collect();
        json!({ "results": answers })
    }
}

/// One client query of a federated search.
#[derive(Debug, Clone, PartialEq)]
struct FederatedQuery {
    index_uid: String,
    /// The query without `indexUid`, with `federationOptions` reduced to `weight`.
    body: Map<String, Value>,
    /// Per-query `distinct` (only without `federation.distinct`).
    distinct: Option<String>,
}

/// A planned federated multi-search.
#[derive(Debug, Clone, PartialEq)]
pub struct FederatedPlan {
    queries: Vec<FederatedQuery>,
    pagination: Pagination,
    facets_by_index: BTreeMap<String, Value>,
    /// `mergeFacets`: `None` = facets stay by index; `Some(max)` = one distribution, cut to `max` if given.
    merge_facets: Option<Option<usize>>,
    distinct: Option<String>,
    hybrid: bool,
    settings: BTreeMap<String, IndexSearchSettings>,
    /// Hits asked of each node when more than the page needs (see [`FederatedPlan::widened`]).
    node_fetch_floor: usize,
}

impl FederatedPlan {
    /// `body` is the client's `{"federation": …, "queries": […]}`.
    pub fn new(body: &Map<String, Value>, settings_of: impl Fn(&str) -> IndexSearchSettings) -> Result<FederatedPlan, MergeError> {
        let empty = Map::new();
        let federation = body.get("federation").and_then(Value::as_object).unwrap_or(&empty);
        let pagination = Pagination::from_request(federation)?;
        let distinct = federation.get("distinct").and_then(Value::as_str).map(str::to_owned);
        let facets_by_index: BTreeMap<String, Value> = match federation.get("facetsByIndex") {
            Some(Value::Object(by_index)) => {
                by_index.iter().filter(|(_, facets)| !facets.is_null()).map(|(index, facets)| (index.clone(), facets.clone())).collect()
            }
            _ => BTreeMap::new(),
        };
        let merge_facets = match federation.get("mergeFacets") {
            None | Some(Value::Null) => None,
            Some(merge) => Some(merge.get("maxValuesPerFacet").and_then(Value::as_u64).map(|max| max as usize)),
        };
        let raw_queries = body.get("queries").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let mut settings = BTreeMap::new();
        let mut queries = Vec::with_capacity(raw_queries.len());
        let mut hybrid = false;
        for (position, raw) in raw_queries.iter().enumerate() {
            let (index_uid, mut query) = split_index_uid(position, raw)?;
            let index_settings = settings.entry(index_uid.clone()).or_insert_with(|| settings_of(&index_uid)).clone();
            hybrid |= super::plan::is_ai_search(&query);
            let weight = query.get("federationOptions").and_then(|options| options.get("weight")).cloned();
            query.shift_remove("federationOptions");
            if let Some(weight) = weight {
                query.insert("federationOptions".into(), json!({ "weight": weight }));
            }
            let query_distinct = match query.get("distinct").and_then(Value::as_str) {
                Some(attribute) => Some(attribute.to_owned()),
                None if distinct.is_none() => index_settings.distinct_attribute.clone(),
                None => None,
            };
            queries.push(FederatedQuery { index_uid, body: query, distinct: query_distinct });
        }
        for index in facets_by_index.keys() {
            settings.entry(index.clone()).or_insert_with(|| settings_of(index));
        }
        Ok(FederatedPlan { queries, pagination, facets_by_index, merge_facets, distinct, hybrid, settings, node_fetch_floor: 0 })
    }

    /// Meilisearch clamps each index's hit list to its own `maxTotalHits`; across indexes
    /// nothing is clamped, so the largest bound is the federated one.
    fn max_hits(&self) -> usize {
        self.settings.values().map(|s| s.max_total_hits).max().unwrap_or(super::plan::DEFAULT_MAX_TOTAL_HITS)
    }

    /// How many hits each node is asked for.
    pub fn node_fetch(&self) -> usize {
        self.pagination.required_hits(self.max_hits()).max(self.node_fetch_floor)
    }

    /// The same search asking each node for `fetch` hits (cross-shard `distinct` left the page
    /// unsettled, see [`FederatedPlan::distinct_refill`]).
    pub fn widened(&self, fetch: usize) -> FederatedPlan {
        FederatedPlan { node_fetch_floor: fetch, ..self.clone() }
    }

    /// As [`crate::search::distinct_refill`] for a single search: with a federation-wide or a
    /// per-query `distinct`, how many hits to ask each node for so that the page is exact, or
    /// `None` when it is settled.
    pub fn distinct_refill(&self, results: &[NodeResult], merged: &Merged) -> Option<usize> {
        let has_distinct = self.distinct.is_some() || self.queries.iter().any(|query| query.distinct.is_some());
        if !has_distinct {
            return None;
        }
        refill(self.pagination, self.max_hits(), self.node_fetch(), results, &merged.page)
    }

    /// The indexes the queries search, in query order (repeated when several queries search one).
    pub fn query_indexes(&self) -> impl Iterator<Item = &str> {
        self.queries.iter().map(|query| query.index_uid.as_str())
    }

    /// The indexes `facetsByIndex` names.
    pub fn facet_indexes(&self) -> impl Iterator<Item = &str> {
        self.facets_by_index.keys().map(String::as_str)
    }

    /// The body a node answering through `parts` gets: every client query once per part (one
    /// node index each, of index layout `layout`).
    pub fn node_request(&self, layout: Option<u32>, parts: &[NodeIndexPart]) -> NodeRequest {
        self.node_request_of(layout, parts, &|_| true)
    }

    /// [`FederatedPlan::node_request`] with only the queries (and `facetsByIndex` entries) of
    /// the indexes `in_layout` accepts: those whose node indexes are in `layout`.
    pub fn node_request_of(&self, layout: Option<u32>, parts: &[NodeIndexPart], in_layout: &dyn Fn(&str) -> bool) -> NodeRequest {
        let mut origins = Vec::new();
        let mut queries = Vec::new();
        for (position, query) in self.queries.iter().enumerate().filter(|(_, query)| in_layout(&query.index_uid)) {
            for part in parts {
                let origin = QueryOrigin::new(position, &query.index_uid, layout, part);
                queries.push(node_query(&query.body, &origin));
                origins.push(origin);
            }
        }
        let mut federation = self.pagination.node_federation_fetching(self.max_hits(), self.node_fetch_floor);
        let mut by_index = Map::new();
        for (index, facets) in self.facets_by_index.iter().filter(|(index, _)| in_layout(index)) {
            for part in parts {
                by_index.insert(node_index_of(&QueryOrigin::new(0, index, layout, part)), facets.clone());
            }
        }
        if !by_index.is_empty() {
            federation.insert("facetsByIndex".into(), Value::Object(by_index));
        }
        if let Some(distinct) = &self.distinct {
            federation.insert("distinct".into(), distinct.clone().into());
        }
        NodeRequest { body: json!({"federation": federation, "queries": queries}), origins }
    }

    /// Merges the node answers' hits: the page, and the hits `distinct` rejected.
    pub fn merge(&self, results: &[NodeResult]) -> Result<Merged, MergeError> {
        let (skip, take) = self.pagination.window();
        let window = Window { skip, take, max_hits: self.max_hits() };
        let per_query: Vec<Option<String>> = self.queries.iter().map(|query| query.distinct.clone()).collect();
        let distinct = match &self.distinct {
            Some(global) => Distinct::Global(global),
            None => Distinct::PerQuery(&per_query),
        };
        Ok(merge_streams(ranked_streams(results)?, distinct, window))
    }

    /// Merges the node answers into the client's federated answer.
    pub fn response(&self, results: &[NodeResult], request_uid: Option<&str>) -> Result<Value, MergeError> {
        let merged = self.merge(results)?;
        self.response_from(results, &merged, request_uid)
    }

    /// The client's federated answer from the node answers and their merged hits.
    pub fn response_from(&self, results: &[NodeResult], merged: &Merged, request_uid: Option<&str>) -> Result<Value, MergeError> {
        let mut response = Map::new();
        let hits = merged.page.iter().map(|ranked| {
            let mut document = client_hit(ranked, true, true);
            let federation = json!({
                "indexUid": ranked.origin.index_uid,
                "queriesPosition": ranked.origin.query,
                "weightedRankingScore": ranked.hit.weighted_global_score,
            });
            let at = ranked.hit.federation_key_position.min(document.len());
            document.shift_insert(at, "_federation".into(), federation);
            Value::Object(document)
        });
        response.insert("hits".into(), Value::Array(hits.collect()));
        response.insert("processingTimeMs".into(), results.iter().map(|r| r.answer.processing_time_ms).max().unwrap_or(0).into());
        insert_hits_info(&mut response, self.pagination, merged_total(results, merged));
        let facets = self.facets_by_index(results, &merged.rejected);
        match self.merge_facets {
            Some(max_values) => {
                let (distribution, stats) = self.merge_across_indexes(facets, max_values)?;
                response.insert("facetDistribution".into(), distribution);
                response.insert("facetStats".into(), stats);
            }
            None if !facets.is_empty() => {
                let by_index = facets
                    .iter()
                    .map(|(index, facets)| (index.clone(), json!({"distribution": distribution_json(facets), "stats": stats_json(facets)})))
                    .collect();
                response.insert("facetsByIndex".into(), Value::Object(by_index));
            }
            None => {}
        }
        if let Some(request_uid) = request_uid {
            response.insert("requestUid".into(), request_uid.into());
        }
        if self.hybrid {
            response.insert("semanticHitCount".into(), semantic_hit_count(&merged.page).into());
        }
        Ok(Value::Object(response))
    }

    /// Each asked index's facets: shards summed, rejected hits removed, sorted and cut by that
    /// index's settings (what a single node computes per index).
    fn facets_by_index(&self, results: &[NodeResult], rejected: &[RankedHit]) -> BTreeMap<String, IndexFacets> {
        let mut merges: BTreeMap<String, FacetMerge> = BTreeMap::new();
        for result in results {
            for (node_index, shard_facets) in &result.answer.facets_by_index {
                let index = parse_node_index_uid(node_index).map_or(node_index.as_str(), |(index, _)| index);
                if !self.facets_by_index.contains_key(index) {
                    continue;
                }
                let node_limit = self.settings.get(index).map_or(usize::MAX, |s| s.node_max_values_per_facet);
                merges.entry(index.to_owned()).or_default().add(shard_facets, node_limit);
            }
        }
        for hit in rejected {
            if let Some(merge) = merges.get_mut(&hit.origin.index_uid) {
                merge.remove_hit(&hit.hit.document, &hit.hit.extra_document);
            }
        }
        // which walk a node's alphabetical distribution takes depends on how many documents
        // matched; the federation's total stands in for each index's own count
        let candidates: usize = results.iter().map(|result| result.answer.total_hits).sum();
        merges
            .into_iter()
            .map(|(index, merge)| {
                let settings = self.settings.get(&index).cloned().unwrap_or_default();
                let facets = merge.finish(&settings.sort_facet_values_by, Some(settings.max_values_per_facet), candidates);
                (index, facets)
            })
            .collect()
    }

    /// `mergeFacets`: one distribution over every index. Two indexes must agree on a facet's order.
    fn merge_across_indexes(&self, facets: BTreeMap<String, IndexFacets>, max_values: Option<usize>) -> Result<(Value, Value), MergeError> {
        let mut order_of: BTreeMap<String, (String, FacetOrder)> = BTreeMap::new();
        let mut merged = FacetMerge::default();
        for (index, index_facets) in &facets {
            let rules = &self.settings.get(index).cloned().unwrap_or_default().sort_facet_values_by;
            for facet in index_facets.distribution.keys() {
                let order = rules.order_of(facet);
                let (first_index, first_order) = order_of.entry(facet.clone()).or_insert_with(|| (index.clone(), order));
                if *first_order != order {
                    return Err(MergeError::InconsistentFacetOrder(inconsistent_order_message(
                        facet,
                        first_index,
                        *first_order,
                        index,
                        order,
                    )));
                }
            }
            merged.add(index_facets, usize::MAX);
        }
        // every value is kept here, and sorted below by the facet's order
        let mut result = merged.finish(&Default::default(), None, 0);
        for (facet, values) in &mut result.distribution {
            sort_values(values, order_of.get(facet).map_or(FacetOrder::Alpha, |(_, order)| *order));
            if let Some(max_values) = max_values {
                values.truncate(max_values);
            }
        }
        Ok((distribution_json(&result), stats_json(&result)))
    }
}

fn inconsistent_order_message(facet: &str, previous_uid: &str, previous: FacetOrder, current_uid: &str, current: FacetOrder) -> String {
    let name = |order: FacetOrder| match order {
        FacetOrder::Alpha => "alphabetically",
        FacetOrder::Count => "by count",
    };
    format!(
        "Inconsistent order for values in facet `{facet}`: index `{previous_uid}` orders {}, but index `{current_uid}` orders {}.\n - Hint: Remove `federation.mergeFacets` or change `faceting.sortFacetValuesBy` to be consistent in settings.",
        name(previous),
        name(current)
    )
}

/// Takes `indexUid` out of a client query.
fn split_index_uid(position: usize, query: &Value) -> Result<(String, Map<String, Value>), MergeError> {
    let mut query = query.as_object().cloned().unwrap_or_default();
    match query.shift_remove("indexUid") {
        Some(Value::String(index_uid)) => Ok((index_uid, query)),
        _ => Err(MergeError::InvalidParameter {
            code: Code::MissingIndexUid,
            message: format!("Missing field `indexUid` inside `.queries[{position}]`"),
        }),
    }
}

#[cfg(test)]
mod tests;

//! Merging the node answers of a single-index search into the exact answer a single
//! Meilisearch node gives to `/indexes/{uid}/search`.

use super::error::MergeError;
use super::facets::{distribution_json, stats_json, FacetMerge, IndexFacets};
use super::kmerge::{merge_streams, Distinct, Merged, RankedHit, Window};
use super::node_answer::NodeAnswer;
use super::plan::{MergeParams, Pagination, QueryOrigin};
use super::score::ScoreValue;
use serde_json::{Map, Value};

/// One node's answer, with the origins of the queries it was sent (`NodeRequest::origins`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResult {
    pub origins: Vec<QueryOrigin>,
    pub answer: NodeAnswer,
}

/// Hits, totals and facets merged over every node answer, before any response shaping.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedSearch {
    pub page: Vec<RankedHit>,
    /// Sum of the nodes' totals minus the hits `distinct` rejected. Never capped at
    /// `maxTotalHits`: a real node counts every candidate and only stops pagination there.
    pub total_hits: usize,
    pub processing_time_ms: u64,
    /// Present when facets were asked for.
    pub facets: Option<IndexFacets>,
}

/// Tags every hit with its origin and splits the answers into sorted streams.
pub(crate) fn ranked_streams(results: &[NodeResult]) -> Result<Vec<Vec<RankedHit>>, MergeError> {
    results
        .iter()
        .map(|result| {
            result
                .answer
                .hits
                .iter()
                .enumerate()
                .map(|(position, hit)| {
                    let origin = result.origins.get(hit.node_query).ok_or(MergeError::UnknownNodeQuery(hit.node_query))?;
                    Ok(RankedHit { hit: hit.clone(), origin: origin.clone(), position })
                })
                .collect()
        })
        .collect()
}

/// Sum of node totals minus rejected hits. A real node does not cap its count at
/// `maxTotalHits` (with `maxTotalHits: 10` and 50 matches it answers `estimatedTotalHits: 50`),
/// so neither does the merge.
pub(crate) fn merged_total(results: &[NodeResult], merged: &Merged) -> usize {
    let sum: usize = results.iter().map(|result| result.answer.total_hits).sum();
    sum.saturating_sub(merged.rejected.len())
}

/// With `distinct`, the merge drops cross-shard duplicates and so reaches deeper into the node
/// answers than the page's size; a node that returned all `fetched` hits it was asked for may
/// hold unseen hits that rank before the page's last hit (or fill a short page). Returns how many
/// hits to ask each node for next time, or `None` when the page is settled: no `distinct`, or
/// every cut node answer's last hit ranks after the page's last hit. The fetch grows fourfold up
/// to `maxTotalHits`, so a search takes at most a few rounds.
pub fn distinct_refill(params: &MergeParams, fetched: usize, results: &[NodeResult], merged: &MergedSearch) -> Option<usize> {
    params.distinct.as_ref()?;
    refill(params.pagination, params.settings.max_total_hits, fetched, results, &merged.page)
}

/// [`distinct_refill`] for any merge with `distinct`: the page `page` cut from `results` by
/// `pagination`, each node having been asked for `fetched` hits.
pub(crate) fn refill(pagination: Pagination, max_hits: usize, fetched: usize, results: &[NodeResult], page: &[RankedHit]) -> Option<usize> {
    let (skip, take) = pagination.window();
    let wanted = skip.saturating_add(take).min(max_hits).saturating_sub(skip);
    if wanted == 0 || fetched >= max_hits {
        return None;
    }
    let page_full = page.len() >= wanted;
    let unsettled = results.iter().any(|result| {
        let hits = &result.answer.hits;
        if hits.len() < fetched {
            return false;
        }
        // only the node's last hit matters: anything it did not send ranks after it
        let node_last = hits.last().and_then(|hit| {
            let origin = result.origins.get(hit.node_query)?.clone();
            Some(RankedHit { hit: hit.clone(), origin, position: hits.len() - 1 })
        });
        !page_full
            || match (node_last, page.last()) {
                (Some(node_last), Some(page_last)) => page_last.rank(&node_last) == std::cmp::Ordering::Less,
                _ => true,
            }
    });
    unsettled.then(|| fetched.saturating_mul(4).min(max_hits))
}

/// Page mode with `distinct`: `totalHits` is exhaustive, and summing the nodes' counts would
/// count a value once per shard holding it. The exact count is the number of hits the merge's
/// `distinct` kept over every node's whole list, known once every node's list is exhausted (it
/// returned fewer hits than the `fetched` asked). A real node does not cap this count at
/// `maxTotalHits`; but a node returns at most `max_hits` hits, so when a node still holds more
/// at that depth the count is a lower bound: what the merge kept, or the largest node's own
/// exhaustive count if that is more (ARCHITECTURE.md, "What a sharded answer cannot match").
/// `None` when this does not apply, `Some(Ok(total))`, or `Some(Err(fetch))`: ask each node for
/// `fetch` hits first.
pub fn exhaustive_distinct_total(
    pagination: Pagination,
    has_distinct: bool,
    max_hits: usize,
    fetched: usize,
    results: &[NodeResult],
    distinct_kept: usize,
) -> Option<Result<usize, usize>> {
    // page 0 is answered by the nodes' own counts: they are asked for page 0, which has no hits
    if !has_distinct || !matches!(pagination, Pagination::Pages { page, .. } if page > 0) {
        return None;
    }
    let exhausted = results.iter().all(|result| result.answer.hits.len() < fetched);
    if exhausted {
        return Some(Ok(distinct_kept));
    }
    if fetched >= max_hits {
        let largest_node = results.iter().map(|result| result.answer.total_hits).max().unwrap_or(0);
        return Some(Ok(distinct_kept.max(largest_node)));
    }
    Some(Err(max_hits))
}

/// How a search's node answers stand once merged.
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// The answer is exact.
    Done(MergedSearch),
    /// `distinct` needs more hits from each node: ask for this many and merge again.
    Refill(usize),
}

/// Merges the node answers of `plan`, each node having been asked for `plan.node_fetch()` hits,
/// and says whether `distinct` needs another round (see [`distinct_refill`] and
/// [`exhaustive_distinct_total`]).
pub fn settle(plan: &super::SearchPlan, results: &[NodeResult]) -> Result<Settled, MergeError> {
    let fetched = plan.node_fetch();
    let (mut merged, distinct_kept) = merge_search_with_hits(&plan.merge, results)?;
    if let Some(fetch) = distinct_refill(&plan.merge, fetched, results, &merged) {
        return Ok(Settled::Refill(fetch));
    }
    let max_hits = plan.merge.settings.max_total_hits;
    match exhaustive_distinct_total(plan.merge.pagination, plan.merge.distinct.is_some(), max_hits, fetched, results, distinct_kept) {
        Some(Err(fetch)) => Ok(Settled::Refill(fetch)),
        Some(Ok(total)) => {
            merged.total_hits = total;
            Ok(Settled::Done(merged))
        }
        None => Ok(Settled::Done(merged)),
    }
}

/// Merges hits, totals and facets.
pub fn merge_search(params: &MergeParams, results: &[NodeResult]) -> Result<MergedSearch, MergeError> {
    Ok(merge_search_with_hits(params, results)?.0)
}

/// [`merge_search`], with the number of hits `distinct` kept ([`Merged::distinct_kept`]).
fn merge_search_with_hits(params: &MergeParams, results: &[NodeResult]) -> Result<(MergedSearch, usize), MergeError> {
    let (skip, take) = params.pagination.window();
    let window = Window { skip, take, max_hits: params.settings.max_total_hits };
    let merged = merge_streams(ranked_streams(results)?, Distinct::from_attribute(params.distinct.as_deref()), window);
    let total_hits = merged_total(results, &merged);
    let facets = params.facets.as_ref().map(|_| {
        let mut facets = FacetMerge::default();
        for result in results {
            for shard_facets in result.answer.facets_by_index.values() {
                facets.add(shard_facets, params.settings.node_max_values_per_facet);
            }
        }
        for rejected in &merged.rejected {
            facets.remove_hit(&rejected.hit.document, &rejected.hit.extra_document);
        }
        facets.finish(&params.settings.sort_facet_values_by, Some(params.settings.max_values_per_facet), total_hits)
    });
    let search = MergedSearch {
        total_hits,
        processing_time_ms: results.iter().map(|result| result.answer.processing_time_ms).max().unwrap_or(0),
        page: merged.page,
        facets,
    };
    Ok((search, merged.distinct_kept))
}

/// The client's hit: the node's document minus everything internal, `_rankingScore` and
/// `_rankingScoreDetails` kept only when the client asked for them.
pub(crate) fn client_hit(hit: &RankedHit, show_score: bool, show_details: bool) -> Map<String, Value> {
    let mut document = hit.hit.document.clone();
    if !show_score {
        document.shift_remove("_rankingScore");
    }
    if !show_details {
        document.shift_remove("_rankingScoreDetails");
    }
    document
}

/// The pagination fields of an answer, in Meilisearch's order. A real 1.50 node echoes the
/// requested `offset` even past `maxTotalHits` (its search goes through the federated path,
/// which reports the request's values).
pub(crate) fn insert_hits_info(response: &mut Map<String, Value>, pagination: Pagination, total_hits: usize) {
    match pagination {
        Pagination::OffsetLimit { offset, limit } => {
            response.insert("limit".into(), limit.into());
            response.insert("offset".into(), offset.into());
            response.insert("estimatedTotalHits".into(), total_hits.into());
        }
        Pagination::Pages { page, hits_per_page } => {
            let total_pages = if hits_per_page == 0 { 0 } else { total_hits.div_ceil(hits_per_page) };
            response.insert("hitsPerPage".into(), hits_per_page.into());
            response.insert("page".into(), page.into());
            response.insert("totalPages".into(), total_pages.into());
            response.insert("totalHits".into(), total_hits.into());
        }
    }
}

/// Hybrid answers count the shown hits that a vector ranked.
pub(crate) fn semantic_hit_count(page: &[RankedHit]) -> usize {
    page.iter().filter(|ranked| ranked.hit.score.iter().any(|value| matches!(value, ScoreValue::VectorSort(_)))).count()
}

/// The `/indexes/{uid}/search` answer: `hits, query, processingTimeMs`, the pagination fields,
/// `facetDistribution`/`facetStats` when facets were asked, `requestUid`, `semanticHitCount`
/// for hybrid searches — Meilisearch's key order.
pub fn search_response(params: &MergeParams, merged: &MergedSearch, request_uid: Option<&str>) -> Value {
    let mut response = Map::new();
    let hits = merged
        .page
        .iter()
        .map(|hit| Value::Object(client_hit(hit, params.show_ranking_score, params.show_ranking_score_details)))
        .collect();
    response.insert("hits".into(), Value::Array(hits));
    response.insert("query".into(), params.query.clone().into());
    if let Some(vector) = &params.query_vector {
        response.insert("queryVector".into(), vector.clone());
    }
    response.insert("processingTimeMs".into(), merged.processing_time_ms.into());
    insert_hits_info(&mut response, params.pagination, merged.total_hits);
    if let Some(facets) = &merged.facets {
        response.insert("facetDistribution".into(), distribution_json(facets));
        response.insert("facetStats".into(), stats_json(facets));
    }
    if let Some(request_uid) = request_uid {
        response.insert("requestUid".into(), request_uid.into());
    }
    if params.hybrid {
        response.insert("semanticHitCount".into(), semantic_hit_count(&merged.page).into());
    }
    Value::Object(response)
}

#[cfg(test)]
mod tests;

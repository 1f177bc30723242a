//! `/multi-search`: independent queries, or one federated answer merged with Meilisearch's
//! comparator over weighted score values (shown to proxies as `_federation.weightedScoreValues`).

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Map, Value};

use super::params::{from_json, SearchParams};
use super::rank::{compare_score_values, weighted_score_values, ScoreValue};
use crate::standin::error::{ApiError, ApiResult};
use crate::standin::store::Store;
use miroir_schemas::error::Code;

const QUERY_EXTRA: &[&str] = &["indexUid", "federationOptions"];
const FEDERATION_FIELDS: &[&str] = &["limit", "offset", "page", "hitsPerPage", "facetsByIndex", "mergeFacets", "distinct"];

fn inside(i: usize) -> String {
    format!("Inside `.queries[{i}]`: ")
}

struct Query {
    index_uid: String,
    params: SearchParams,
    weight: f64,
    position: u64,
}

fn read_queries(body: &Map<String, Value>, federated: bool) -> ApiResult<Vec<Query>> {
    let Some(Value::Array(raw)) = body.get("queries") else {
        return Err(ApiError::new(Code::BadRequest, "Missing field `queries`"));
    };
    let mut out = Vec::new();
    for (i, q) in raw.iter().enumerate() {
        let wrap = |e: ApiError| e.prefixed(&inside(i)).with_status(400);
        let Value::Object(q) = q else {
            return Err(wrap(ApiError::new(Code::BadRequest, "Invalid value type: expected an object")));
        };
        let index_uid = q.get("indexUid").and_then(Value::as_str).ok_or_else(|| {
            wrap(ApiError::new(Code::MissingIndexUid, "Missing field `indexUid`"))
        })?;
        let params = from_json(q, QUERY_EXTRA).map_err(wrap)?;
        let options = q.get("federationOptions").filter(|v| !v.is_null());
        if options.is_some() && !federated {
            return Err(wrap(ApiError::new(Code::InvalidMultiSearchFederationOptions, format!(
                "Using `federationOptions` is not allowed in a non-federated search.\n - Hint: remove `federationOptions` from query #{i} or add `federation` to the request."
            ))));
        }
        if federated {
            for (field, name) in [("offset", params.offset), ("limit", params.limit), ("page", params.page), ("hitsPerPage", params.hits_per_page)] {
                if name.is_some() {
                    return Err(wrap(ApiError::new(Code::InvalidMultiSearchQueryPagination, format!(
                        "Using pagination options is not allowed in federated queries.\n - Hint: remove `{field}` from query #{i} or remove `federation` from the request\n - Hint: pass `federation.limit` and `federation.offset` for pagination in federated search"
                    ))));
                }
            }
            if params.facets.is_some() {
                return Err(wrap(ApiError::new(Code::InvalidMultiSearchQueryFacets, format!(
                    "Using facet options is not allowed in federated queries.\n - Hint: remove `facets` from query #{i} or remove `federation` from the request\n - Hint: pass `federation.facetsByIndex.{index_uid}: {:?}` for facets in federated search", Vec::<String>::new()
                ))));
            }
        }
        let weight = options.and_then(|o| o.get("weight")).map_or(Ok(1.0), |w| {
            w.as_f64().filter(|w| *w >= 0.0).ok_or_else(|| {
                wrap(ApiError::new(Code::InvalidMultiSearchWeight, format!(
                    "Invalid value at `.queries[{i}].federationOptions.weight`: the value of `weight` is invalid, expected a positive float (>= 0.0)."
                )))
            })
        })?;
        let position = options.and_then(|o| o.get("queryPosition")).and_then(Value::as_u64).unwrap_or(i as u64);
        out.push(Query { index_uid: index_uid.to_owned(), params, weight, position });
    }
    Ok(out)
}

/// Answers `/multi-search`. `proxy` = the `Meili-Proxy-Search: true` header with the network
/// feature on: hits then carry `weightedScoreValues`.
pub fn multi_search(store: &Store, body: &Value, proxy: bool) -> ApiResult<Value> {
    let Value::Object(body) = body else {
        return Err(ApiError::new(Code::BadRequest, "Invalid value type: expected an object"));
    };
    if let Some(unknown) = body.keys().find(|k| *k != "queries" && *k != "federation") {
        return Err(ApiError::unknown_field(unknown, &["queries", "federation"]));
    }
    match body.get("federation").filter(|f| !f.is_null()) {
        None => {
            let queries = read_queries(body, false)?;
            let mut results = Vec::new();
            for (i, q) in queries.iter().enumerate() {
                let wrap = |e: ApiError| e.prefixed(&inside(i)).with_status(400);
                let index = store.index(&q.index_uid).map_err(wrap)?;
                let Value::Object(answer) = super::search_response(index, &q.params).map_err(wrap)? else {
                    unreachable!("search answers are objects")
                };
                let mut result = Map::new();
                result.insert("indexUid".into(), json!(q.index_uid));
                result.extend(answer);
                results.push(Value::Object(result));
            }
            Ok(json!({ "results": results }))
        }
        Some(federation) => federated(store, body, federation, proxy),
    }
}

/// A hit of the merged list, formatted only if it lands in the window.
struct MergedHit<'a> {
    ranked: &'a super::Ranked<'a>,
    index: &'a crate::standin::store::Index,
    query: &'a Query,
    values: Vec<ScoreValue>,
    weighted_global: f64,
    position: usize,
    rank_in_query: usize,
    /// `federation.distinct` and the hit's first value of it, raw and normalized.
    distinct_raw: Option<(&'a str, Value)>,
    distinct_value: Option<String>,
}

impl MergedHit<'_> {
    fn format(self, proxy: bool) -> Map<String, Value> {
        let mut hit = super::format_hit(self.index, &self.query.params, self.ranked);
        let mut fed_info = Map::new();
        fed_info.insert("indexUid".into(), json!(self.query.index_uid));
        fed_info.insert("queriesPosition".into(), json!(self.query.position));
        fed_info.insert("weightedRankingScore".into(), json!(self.weighted_global));
        if proxy {
            fed_info.insert("weightedScoreValues".into(), Value::Array(self.values.iter().map(ScoreValue::to_json).collect()));
            // a distinct value the client did not retrieve still reaches the coordinator
            let mut extra = Map::new();
            if let Some((attribute, value)) = self.distinct_raw.filter(|(attribute, _)| !hit.contains_key(*attribute)) {
                extra.insert(attribute.to_owned(), value);
            }
            fed_info.insert("extra_document".into(), Value::Object(extra));
        }
        hit.insert("_federation".into(), Value::Object(fed_info));
        hit
    }
}

fn federated(store: &Store, body: &Map<String, Value>, federation: &Value, proxy: bool) -> ApiResult<Value> {
    let Value::Object(fed) = federation else {
        return Err(ApiError::new(Code::InvalidMultiSearchFederated, "Invalid value type at `.federation`: expected an object"));
    };
    if let Some(unknown) = fed.keys().find(|k| !FEDERATION_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unknown_field(unknown, FEDERATION_FIELDS));
    }
    let queries = read_queries(body, true)?;
    let number = |name: &str| fed.get(name).and_then(Value::as_u64).map(|n| n as usize);
    let (offset, limit, page, per_page) = (number("offset"), number("limit"), number("page"), number("hitsPerPage"));
    let pages = page.is_some() || per_page.is_some();
    let distinct = fed.get("distinct").and_then(Value::as_str);

    // every query runs first (its errors in query order), then the hits are merged
    let mut outcomes = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        let wrap = |e: ApiError| e.prefixed(&inside(i)).with_status(400);
        let index = store.index(&q.index_uid).map_err(wrap)?;
        let mut params = q.params.clone();
        params.show_ranking_score = false;
        params.show_ranking_score_details = false;
        outcomes.push((q, index, super::run(index, &params).map_err(wrap)?));
    }
    let mut merged: Vec<MergedHit<'_>> = Vec::new();
    let mut seen: HashSet<(String, u64)> = HashSet::new();
    let mut candidates: BTreeMap<String, BTreeMap<u64, &crate::standin::tasks::Document>> = BTreeMap::new();
    for (position, (q, index, outcome)) in outcomes.iter().enumerate() {
        let by_index = candidates.entry(q.index_uid.clone()).or_default();
        for (rank_in_query, ranked) in outcome.hits.iter().enumerate() {
            by_index.insert(ranked.internal, ranked.doc);
            // a document found by several queries of one index keeps its first, best occurrence
            if !seen.insert((q.index_uid.clone(), ranked.internal)) {
                continue;
            }
            let distinct_raw = distinct.and_then(|attribute| Some((attribute, crate::standin::documents::values_at(ranked.doc, attribute).first().copied()?.clone())));
            let distinct_value = distinct_raw.as_ref().map(|(_, value)| crate::standin::filter_eval::normalize(&value.to_string()));
            merged.push(MergedHit {
                ranked,
                index,
                query: q,
                values: weighted_score_values(&ranked.details, q.weight),
                weighted_global: ranked.score * q.weight,
                position,
                rank_in_query,
                distinct_raw,
                distinct_value,
            });
        }
    }
    merged.sort_by(|a, b| {
        compare_score_values(&b.values, &a.values, b.weighted_global, a.weighted_global)
            .then(a.position.cmp(&b.position))
            .then(a.rank_in_query.cmp(&b.rank_in_query))
    });
    if distinct.is_some() {
        let mut seen_values = HashSet::new();
        merged.retain(|hit| hit.distinct_value.as_ref().is_none_or(|value| seen_values.insert(value.clone())));
    }
    let total: usize = candidates.values().map(BTreeMap::len).sum();
    let (skip, take) = if pages {
        let per = per_page.unwrap_or(20);
        let p = page.unwrap_or(1);
        (p.saturating_sub(1) * per, if p == 0 { 0 } else { per })
    } else {
        (offset.unwrap_or(0), limit.unwrap_or(20))
    };
    let hits: Vec<Value> = merged.into_iter().skip(skip).take(take).map(|m| Value::Object(m.format(proxy))).collect();

    let mut out = Map::new();
    out.insert("hits".into(), Value::Array(hits));
    out.insert("processingTimeMs".into(), json!(0));
    if pages {
        let per = per_page.unwrap_or(20);
        out.insert("hitsPerPage".into(), json!(per));
        out.insert("page".into(), json!(page.unwrap_or(1)));
        out.insert("totalPages".into(), json!(if per == 0 { 0 } else { total.div_ceil(per) }));
        out.insert("totalHits".into(), json!(total));
    } else {
        out.insert("limit".into(), json!(limit.unwrap_or(20)));
        out.insert("offset".into(), json!(offset.unwrap_or(0)));
        out.insert("estimatedTotalHits".into(), json!(total));
    }
    if let Some(Value::Object(by_index)) = fed.get("facetsByIndex") {
        facets_by_index(store, by_index, fed.get("mergeFacets"), &candidates, &mut out)?;
    }
    out.insert("requestUid".into(), json!(uuid::Uuid::now_v7().to_string()));
    Ok(Value::Object(out))
}

fn facets_by_index(
    store: &Store,
    by_index: &Map<String, Value>,
    merge: Option<&Value>,
    candidates: &BTreeMap<String, BTreeMap<u64, &crate::standin::tasks::Document>>,
    out: &mut Map<String, Value>,
) -> ApiResult<()> {
    let mut per_index = Map::new();
    let mut merged_counts: BTreeMap<String, BTreeMap<String, (String, u64)>> = BTreeMap::new();
    let mut merged_stats: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut first_index = None;
    for (uid, names) in by_index {
        let index = store.index(uid).map_err(|e| e.with_status(400))?;
        first_index.get_or_insert(index);
        let names: Vec<String> = names.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        super::facets::check_facets(index, &names).map_err(|e| e.with_status(400))?;
        let docs: Vec<&crate::standin::tasks::Document> =
            candidates.get(uid).map(|m| m.values().copied().collect()).unwrap_or_default();
        let (distribution, stats) = super::facets::distribution(index, &names, &docs);
        for name in super::facets::expand(index, &names) {
            let (counts, minmax) = super::facets::counts(&name, &docs);
            let slot = merged_counts.entry(name.clone()).or_default();
            for (key, (shown, count)) in counts {
                slot.entry(key).or_insert((shown, 0)).1 += count;
            }
            if let Some((lo, hi)) = minmax {
                let entry = merged_stats.entry(name).or_insert((lo, hi));
                *entry = (entry.0.min(lo), entry.1.max(hi));
            }
        }
        per_index.insert(uid.clone(), json!({"distribution": distribution, "stats": stats}));
    }
    match (merge.filter(|m| !m.is_null()), first_index) {
        (Some(merge), Some(index)) => {
            let max_values = merge.get("maxValuesPerFacet").and_then(Value::as_u64).map(|n| n as usize);
            let mut distribution = Map::new();
            for (name, counts) in merged_counts {
                let mut ordered = super::facets::ordered(index, &name, counts);
                if let Some(max) = max_values {
                    ordered = ordered.into_iter().take(max).collect();
                }
                distribution.insert(name, Value::Object(ordered));
            }
            let stats: Map<String, Value> = merged_stats
                .into_iter()
                .map(|(name, (min, max))| (name, json!({"min": min, "max": max})))
                .collect();
            out.insert("facetDistribution".into(), Value::Object(distribution));
            out.insert("facetStats".into(), Value::Object(stats));
        }
        _ => {
            out.insert("facetsByIndex".into(), Value::Object(per_index));
        }
    }
    Ok(())
}

/// Unused ordering helper kept private to this module's tests.
#[cfg(test)]
fn order(a: &[ScoreValue], b: &[ScoreValue]) -> std::cmp::Ordering {
    compare_score_values(a, b, 0.0, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::cmp::Ordering;

    #[test]
    fn sort_values_decide_before_later_scores() {
        let a = vec![ScoreValue::Weighted(0.875), ScoreValue::Sort { asc: false, value: json!(17384.0) }, ScoreValue::Weighted(0.1)];
        let b = vec![ScoreValue::Weighted(0.875), ScoreValue::Sort { asc: false, value: json!(14100.0) }, ScoreValue::Weighted(0.9)];
        assert_eq!(order(&a, &b), Ordering::Greater);
        let c = vec![ScoreValue::Weighted(0.9)];
        assert_eq!(order(&c, &a), Ordering::Greater);
    }
}

//! Facet distribution and stats over a set of candidates, and facet search.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::standin::documents::values_at;
use crate::standin::error::{ApiError, ApiResult};
use crate::standin::filter_eval::normalize;
use crate::standin::settings::{pattern_covers, View};
use crate::standin::store::Index;
use crate::standin::tasks::Document;
use miroir_schemas::error::Code;

pub fn check_facets(index: &Index, names: &[String]) -> ApiResult<()> {
    let patterns = View(&index.settings).filterable_patterns();
    for name in names {
        if name == "*" || patterns.iter().any(|p| pattern_covers(p, name)) {
            continue;
        }
        let mut sorted = patterns.clone();
        sorted.sort();
        let message = if sorted.is_empty() {
            format!("Invalid facet distribution: Pattern `{name}` is not filterable. This index does not have configured filterable attributes.")
        } else {
            format!("Invalid facet distribution: Pattern `{name}` is not filterable. Available filterable attributes patterns are: `{}`.", sorted.join(", "))
        };
        return Err(ApiError::new(Code::InvalidSearchFacets, message));
    }
    Ok(())
}

/// The facet key of a value: numbers as Meilisearch prints them, strings as written.
fn facet_key(value: &Value) -> Option<(String, String)> {
    match value {
        Value::String(s) => Some((normalize(s), s.trim().to_owned())),
        Value::Number(n) => {
            let f = n.as_f64()?;
            Some((format!("{f}"), format!("{f}")))
        }
        Value::Bool(b) => Some((b.to_string(), b.to_string())),
        _ => None,
    }
}

/// Per facet: value → count of candidates holding it (each document counted once per value).
pub fn counts(name: &str, candidates: &[&Document]) -> (BTreeMap<String, (String, u64)>, Option<(f64, f64)>) {
    let mut counts: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut stats: Option<(f64, f64)> = None;
    for doc in candidates {
        let mut seen = std::collections::HashSet::new();
        for value in values_at(doc, name) {
            if let Some(f) = value.as_f64() {
                stats = Some(match stats {
                    None => (f, f),
                    Some((lo, hi)) => (lo.min(f), hi.max(f)),
                });
            }
            if let Some((key, shown)) = facet_key(value) {
                if seen.insert(key.clone()) {
                    counts.entry(key).or_insert((shown, 0)).1 += 1;
                }
            }
        }
    }
    (counts, stats)
}

/// Sorts (alphabetically or by count) and truncates one facet's values.
pub fn ordered(index: &Index, name: &str, counts: BTreeMap<String, (String, u64)>) -> Map<String, Value> {
    let view = View(&index.settings);
    let mut entries: Vec<(String, String, u64)> = counts.into_iter().map(|(k, (shown, c))| (k, shown, c)).collect();
    if view.facet_sorted_by_count(name) {
        entries.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    } else {
        // by the displayed value, byte by byte, numbers included: what Meilisearch 1.50 returns
        entries.sort_by(|a, b| a.1.cmp(&b.1));
    }
    entries.truncate(view.max_values_per_facet());
    entries.into_iter().map(|(_, shown, c)| (shown, json!(c))).collect()
}

/// The facet names a request asks for, with `*` expanded to the filterable attributes.
pub fn expand(index: &Index, names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for name in names {
        if name == "*" {
            out.extend(View(&index.settings).filterable_patterns().into_iter().filter(|p| !p.contains('*')));
        } else {
            out.push(name.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `(facetDistribution, facetStats)`.
pub fn distribution(index: &Index, names: &[String], candidates: &[&Document]) -> (Value, Value) {
    let mut dist = Map::new();
    let mut stats = Map::new();
    for name in expand(index, names) {
        let (counts, minmax) = counts(&name, candidates);
        if let Some((min, max)) = minmax {
            stats.insert(name.clone(), json!({"min": min, "max": max}));
        }
        dist.insert(name.clone(), Value::Object(ordered(index, &name, counts)));
    }
    (Value::Object(dist), Value::Object(stats))
}

/// `POST /indexes/{uid}/facet-search`: values of one facet whose words start with the query.
pub fn facet_search(index: &Index, body: &Map<String, Value>) -> ApiResult<Value> {
    let name = body.get("facetName").and_then(Value::as_str).ok_or_else(|| {
        ApiError::new(Code::MissingFacetSearchFacetName, "Missing field `facetName`")
    })?;
    let patterns = View(&index.settings).filterable_patterns();
    if !patterns.iter().any(|p| pattern_covers(p, name)) {
        let mut sorted = patterns.clone();
        sorted.sort();
        return Err(ApiError::new(Code::InvalidFacetSearchFacetName, format!(
            "Attribute `{name}` is not facet-searchable. Available facet-searchable attributes patterns are: `{}`. To make it facet-searchable add it to the `filterableAttributes` index settings.",
            sorted.join(", ")
        )));
    }
    let query = body.get("facetQuery").and_then(Value::as_str).map(str::to_owned);
    let mut search_body = body.clone();
    search_body.remove("facetName");
    search_body.remove("facetQuery");
    search_body.remove("exhaustiveFacetCount");
    let params = super::params::from_json(&search_body, &[])?;
    let outcome = super::run(index, &params)?;
    let (counts, _) = counts(name, &outcome.facet_candidates);
    let needle = query.as_deref().map(normalize).unwrap_or_default();
    let hits: Vec<Value> = counts
        .into_iter()
        .filter(|(key, _)| {
            needle.is_empty()
                || key.starts_with(&needle)
                || super::text::tokenize(key).iter().any(|w| w.text.starts_with(&needle))
        })
        .take(View(&index.settings).max_values_per_facet())
        .map(|(_, (shown, count))| json!({"value": shown, "count": count}))
        .collect();
    Ok(json!({"facetHits": hits, "facetQuery": query, "processingTimeMs": 0}))
}

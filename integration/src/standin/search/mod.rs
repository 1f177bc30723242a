//! Search on one index: candidates, ranking, distinct, facets, pagination and hit formatting.

pub mod facets;
pub mod federated;
pub mod format;
pub mod params;
pub mod rank;
pub mod similar;
pub mod text;
pub mod word_index;

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use self::params::SearchParams;
use self::rank::{rank_document, Detail, MatchingStrategy, RankingContext};
use super::documents::values_at;
use super::error::{ApiError, ApiResult};
use super::filter_eval::{matches, unfilterable_message};
use super::settings::{pattern_covers, View};
use super::store::Index;
use super::tasks::Document;
use super::vectors;
use miroir_schemas::error::Code;
use miroir_schemas::filter::Filter;

/// One ranked document.
pub struct Ranked<'i> {
    pub internal: u64,
    pub doc: &'i Document,
    pub details: Vec<Detail>,
    pub score: f64,
}

/// The ranked candidates of a query, best first, before pagination.
pub struct Outcome<'i> {
    pub hits: Vec<Ranked<'i>>,
    /// The candidates before distinct and pagination (what facets count).
    pub facet_candidates: Vec<&'i Document>,
}

/// Parses, reserializes and checks a `filter` value for `index` (the reserialized form is
/// what Meilisearch reports positions against on the search route).
pub fn checked_filter(index: &Index, filter: Option<&Value>, code: Code) -> ApiResult<Option<Filter>> {
    let Some(value) = filter else { return Ok(None) };
    let parsed = miroir_schemas::filter::parse_json(value).map_err(|e| ApiError(e.to_response(code)))?;
    let Some(parsed) = parsed else { return Ok(None) };
    let reparsed = miroir_schemas::filter::parse(&parsed.to_string())
        .ok()
        .flatten()
        .unwrap_or(parsed);
    let patterns = View(&index.settings).filterable_patterns();
    if let Some(message) = unfilterable_message(&reparsed, &patterns) {
        return Err(ApiError::new(code, format!("Index `{}`: {message}", index.uid)));
    }
    Ok(Some(reparsed))
}

fn parse_sort(index: &Index, sort: &[String]) -> ApiResult<Vec<(String, bool)>> {
    let view = View(&index.settings);
    let sortable = view.strings("sortableAttributes");
    let mut out = Vec::new();
    for criterion in sort {
        let Some((field, dir)) = criterion.rsplit_once(':').filter(|(_, d)| *d == "asc" || *d == "desc") else {
            return Err(ApiError::new(Code::InvalidSearchSort, format!(
                "Invalid syntax for the sort parameter: expected expression ending by `:asc` or `:desc`, found `{criterion}`."
            )));
        };
        if !sortable.iter().any(|p| pattern_covers(p, field)) {
            let message = if sortable.is_empty() {
                format!("Index `{}`: Attribute `{field}` is not sortable. This index does not have configured sortable attributes.", index.uid)
            } else {
                format!("Index `{}`: Attribute `{field}` is not sortable. Available sortable attributes are: `{}`.", index.uid, sortable.join(", "))
            };
            return Err(ApiError::new(Code::InvalidSearchSort, message));
        }
        out.push((field.to_owned(), dir == "asc"));
    }
    if !out.is_empty() && !view.ranking_rules().iter().any(|r| r == "sort") {
        return Err(ApiError::new(Code::InvalidSearchSort, "You must specify where `sort` is listed in the rankingRules setting to use the sort parameter at search time."));
    }
    Ok(out)
}

fn searchable(index: &Index) -> Option<Vec<String>> {
    let list = View(&index.settings).strings("searchableAttributes");
    (!list.iter().any(|s| s == "*")).then_some(list)
}

fn check_search_on(index: &Index, on: Option<&Vec<String>>) -> ApiResult<()> {
    let (Some(on), Some(list)) = (on, searchable(index)) else { return Ok(()) };
    if let Some(bad) = on.iter().find(|a| *a != "*" && !list.iter().any(|s| pattern_covers(s, a))) {
        return Err(ApiError::new(Code::InvalidSearchAttributesToSearchOn, format!(
            "Index `{}`: Attribute `{bad}` is not searchable. Available searchable attributes are: `{}`.",
            index.uid, list.join(", ")
        )));
    }
    Ok(())
}

/// The effective distinct attribute, checked to be filterable.
fn distinct_attribute(index: &Index, p: &SearchParams) -> ApiResult<Option<String>> {
    let view = View(&index.settings);
    let Some(field) = p.distinct.clone() else { return Ok(view.distinct_attribute()) };
    let patterns = view.filterable_patterns();
    if !patterns.iter().any(|pat| pattern_covers(pat, &field)) {
        let mut sorted = patterns.clone();
        sorted.sort();
        let message = if sorted.is_empty() {
            format!("Index `{}`: Attribute `{field}` is not filterable and thus, cannot be used as distinct attribute. This index does not have configured filterable attributes.", index.uid)
        } else {
            format!("Index `{}`: Attribute `{field}` is not filterable and thus, cannot be used as distinct attribute. Available filterable attributes patterns are: `{}`.", index.uid, sorted.join(", "))
        };
        return Err(ApiError::new(Code::InvalidSearchDistinct, message));
    }
    Ok(Some(field))
}

/// A semantic search: the embedder and the query vector.
pub struct Semantic<'p> {
    pub embedder: &'p str,
    pub vector: &'p [f64],
}

/// Meilisearch's choice between a keyword and a semantic search (`search_kind`), with its
/// errors. The stand-in does not mix keyword and semantic results (a hybrid ratio strictly
/// between 0 and 1 with a query): it refuses such a search rather than answer wrongly. Nor does
/// it apply `sort` or custom ranking rules after the similarity (ties keep document order).
pub fn semantic_search<'p>(index: &Index, p: &'p SearchParams) -> ApiResult<Option<Semantic<'p>>> {
    let has_query = !p.q.trim().is_empty();
    let hybrid = match (&p.hybrid, &p.vector) {
        (None, Some(_)) => {
            return Err(ApiError::new(Code::MissingSearchHybrid, "Invalid request: missing `hybrid` parameter when `vector` or `media` are present."))
        }
        (None, None) => return Ok(None),
        (Some(hybrid), _) if hybrid.semantic_ratio == 0.0 => return Ok(None),
        (Some(_), None) if !has_query => return Ok(None),
        (Some(hybrid), _) => hybrid,
    };
    if !vectors::has_embedder(index, &hybrid.embedder) {
        return Err(ApiError::new(Code::InvalidSearchEmbedder, format!("Cannot find embedder with name `{}`.", hybrid.embedder)));
    }
    if has_query && hybrid.semantic_ratio < 1.0 {
        return Err(ApiError::new(Code::Internal, "the Meilisearch stand-in does not mix keyword and semantic results"));
    }
    let Some(vector) = p.vector.as_deref() else {
        return Err(ApiError::new(Code::InvalidSearchVector, "the Meilisearch stand-in only embeds user-provided vectors: `vector` is required"));
    };
    Ok(Some(Semantic { embedder: &hybrid.embedder, vector }))
}

/// Runs the query on the index: every check, then ranking, threshold and distinct.
pub fn run<'i>(index: &'i Index, p: &SearchParams) -> ApiResult<Outcome<'i>> {
    let semantic = semantic_search(index, p)?;
    let filter = checked_filter(index, p.filter.as_ref(), Code::InvalidSearchFilter)?;
    let sort = parse_sort(index, &p.sort)?;
    check_search_on(index, p.attributes_to_search_on.as_ref())?;
    let distinct = distinct_attribute(index, p)?;
    if let Some(facets) = &p.facets {
        facets::check_facets(index, facets)?;
    }
    let view = View(&index.settings);
    let typo = view.typo_tolerance();
    let terms = text::query_terms(&p.q, &typo);
    let rules = view.ranking_rules();
    let searchable = searchable(index);
    let strategy = match p.matching_strategy.as_deref() {
        Some("all") => MatchingStrategy::All,
        Some("frequency") => MatchingStrategy::Frequency,
        _ => MatchingStrategy::Last,
    };
    let ctx = RankingContext {
        terms: &terms,
        rules: &rules,
        sort: &sort,
        strategy,
        max_weight: searchable.as_ref().map(|s| s.len().saturating_sub(1) as u32),
    };
    let restrict = p.attributes_to_search_on.as_ref().filter(|on| !on.iter().any(|a| a == "*"));
    let mut hits = Vec::new();
    // a keyword search ranks only the documents that can match its first word
    let candidates: Box<dyn Iterator<Item = (&u64, &Document)>> = match (&semantic, terms.first()) {
        (None, Some(first)) => {
            let words = index.words.get(index.generation, &index.documents);
            let matching = words.documents_matching(first);
            Box::new(matching.into_iter().filter_map(|internal| index.documents.get_key_value(&internal)))
        }
        _ => Box::new(index.documents.iter()),
    };
    for (internal, doc) in candidates {
        if filter.as_ref().is_some_and(|f| !matches(f, doc)) {
            continue;
        }
        let details = match &semantic {
            Some(semantic) => vec![Detail::Vector { similarity: vectors::best_similarity(doc, semantic.embedder, semantic.vector) }],
            // a placeholder search ranks by sort values only: no words to read
            None if terms.is_empty() => rank_document(&ctx, doc, &[]).expect("a placeholder search matches every document"),
            None => {
                let fields = rank::document_fields(doc, searchable.as_deref(), restrict.map(Vec::as_slice));
                let Some(details) = rank_document(&ctx, doc, &fields) else { continue };
                details
            }
        };
        let score = rank::global_score(&details);
        if p.ranking_score_threshold.is_some_and(|t| score < t) {
            continue;
        }
        hits.push(Ranked { internal: *internal, doc, details, score });
    }
    hits.sort_by(|a, b| {
        rank::compare_details(&b.details, &a.details).then(a.internal.cmp(&b.internal))
    });
    let facet_candidates = hits.iter().map(|h| h.doc).collect();
    if let Some(field) = distinct {
        let mut seen = HashSet::new();
        hits.retain(|h| {
            let values = values_at(h.doc, &field);
            match values.first() {
                None => true,
                Some(v) => seen.insert(super::filter_eval::normalize(&v.to_string())),
            }
        });
    }
    Ok(Outcome { hits, facet_candidates })
}

/// The hit object: retrieved attributes, `_formatted`, `_matchesPosition`, scores.
pub fn format_hit(index: &Index, p: &SearchParams, hit: &Ranked<'_>) -> Map<String, Value> {
    let view = View(&index.settings);
    let displayed = view.strings("displayedAttributes");
    let mut out = super::documents::select_fields(hit.doc, &displayed, p.attributes_to_retrieve.as_deref());
    let terms = text::query_terms(&p.q, &view.typo_tolerance());
    vectors::add_retrieved(index, hit.doc, &mut out, p.retrieve_vectors);
    format::add_formatting(&mut out, hit.doc, &displayed, p, &terms, searchable(index).as_deref());
    if p.show_ranking_score {
        out.insert("_rankingScore".into(), json!(hit.score));
    }
    if p.show_ranking_score_details {
        out.insert("_rankingScoreDetails".into(), rank::details_json(&hit.details));
    }
    out
}

/// The pagination window and the fields describing it.
pub struct Window {
    pub skip: usize,
    pub take: usize,
}

pub fn window(index: &Index, p: &SearchParams) -> Window {
    let max_total = View(&index.settings).max_total_hits();
    let (skip, take) = if p.uses_pages() {
        let per_page = p.hits_per_page.unwrap_or(20);
        let page = p.page.unwrap_or(1);
        (page.saturating_sub(1) * per_page, if page == 0 { 0 } else { per_page })
    } else {
        (p.offset.unwrap_or(0), p.limit.unwrap_or(20))
    };
    let skip = skip.min(max_total);
    Window { skip, take: take.min(max_total - skip) }
}

/// The full answer of `POST /indexes/{uid}/search`.
pub fn search_response(index: &Index, p: &SearchParams) -> ApiResult<Value> {
    let outcome = run(index, p)?;
    let semantic = semantic_search(index, p)?.is_some();
    let w = window(index, p);
    let hits: Vec<Value> = outcome
        .hits
        .iter()
        .skip(w.skip)
        .take(w.take)
        .map(|h| Value::Object(format_hit(index, p, h)))
        .collect();
    let total = outcome.hits.len();
    let mut out = Map::new();
    out.insert("hits".into(), Value::Array(hits));
    out.insert("query".into(), json!(p.q));
    out.insert("processingTimeMs".into(), json!(0));
    if p.uses_pages() {
        let per_page = p.hits_per_page.unwrap_or(20);
        let total_hits = total.min(View(&index.settings).max_total_hits());
        out.insert("hitsPerPage".into(), json!(per_page));
        out.insert("page".into(), json!(p.page.unwrap_or(1)));
        out.insert("totalPages".into(), json!(if per_page == 0 { 0 } else { total_hits.div_ceil(per_page) }));
        out.insert("totalHits".into(), json!(total_hits));
    } else {
        out.insert("limit".into(), json!(p.limit.unwrap_or(20)));
        out.insert("offset".into(), json!(p.offset.unwrap_or(0)));
        // Meilisearch counts at most `pagination.maxTotalHits` hits, in either mode
        out.insert("estimatedTotalHits".into(), json!(total.min(View(&index.settings).max_total_hits())));
    }
    if let Some(names) = &p.facets {
        let (distribution, stats) = facets::distribution(index, names, &outcome.facet_candidates);
        out.insert("facetDistribution".into(), distribution);
        out.insert("facetStats".into(), stats);
    }
    out.insert("requestUid".into(), json!(uuid::Uuid::now_v7().to_string()));
    if semantic {
        let shown = out["hits"].as_array().map_or(0, Vec::len);
        out.insert("semanticHitCount".into(), json!(shown));
    }
    Ok(Value::Object(out))
}

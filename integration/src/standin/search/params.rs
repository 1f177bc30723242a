//! Search parameters: reading them from a JSON body or a query string, with Meilisearch's
//! unknown-field and type errors.

use serde_json::{Map, Value};

use crate::standin::error::{ApiError, ApiResult};
use miroir_schemas::error::Code;

pub const SEARCH_FIELDS: &[&str] = &[
    "q", "offset", "limit", "page", "hitsPerPage", "attributesToRetrieve", "attributesToCrop",
    "cropLength", "cropMarker", "attributesToHighlight", "highlightPreTag", "highlightPostTag",
    "showMatchesPosition", "filter", "sort", "distinct", "facets", "matchingStrategy",
    "attributesToSearchOn", "rankingScoreThreshold", "locales", "hybrid", "vector",
    "retrieveVectors", "media", "personalize", "useNetwork", "showRankingScore",
    "showRankingScoreDetails", "showPerformanceDetails",
];

#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    pub q: String,
    pub offset: Option<usize>,
    pub limit: Option<usize>,
    pub page: Option<usize>,
    pub hits_per_page: Option<usize>,
    pub attributes_to_retrieve: Option<Vec<String>>,
    pub attributes_to_crop: Vec<String>,
    pub crop_length: usize,
    pub crop_marker: String,
    pub attributes_to_highlight: Vec<String>,
    pub highlight_pre_tag: String,
    pub highlight_post_tag: String,
    pub show_matches_position: bool,
    pub filter: Option<Value>,
    pub sort: Vec<String>,
    pub distinct: Option<String>,
    pub facets: Option<Vec<String>>,
    pub matching_strategy: Option<String>,
    pub attributes_to_search_on: Option<Vec<String>>,
    pub ranking_score_threshold: Option<f64>,
    pub show_ranking_score: bool,
    pub show_ranking_score_details: bool,
    pub vector: Option<Vec<f64>>,
    pub hybrid: Option<Hybrid>,
    pub retrieve_vectors: bool,
}

/// `hybrid`: the embedder and how much of the ranking is semantic (Meilisearch's default 0.5).
#[derive(Debug, Clone)]
pub struct Hybrid {
    pub embedder: String,
    pub semantic_ratio: f64,
}

fn hybrid_field(v: &Value) -> ApiResult<Hybrid> {
    let Value::Object(hybrid) = v else {
        return Err(ApiError::invalid_type(Code::InvalidSearchHybridQuery, "hybrid", "an object", v));
    };
    let embedder = match hybrid.get("embedder") {
        Some(Value::String(name)) => name.clone(),
        Some(other) => return Err(ApiError::invalid_type(Code::InvalidSearchEmbedder, "hybrid.embedder", "a string", other)),
        None => return Err(ApiError::new(Code::InvalidSearchHybridQuery, "Missing field `embedder` inside `.hybrid`")),
    };
    let semantic_ratio = match hybrid.get("semanticRatio") {
        None => 0.5,
        Some(value) => match value.as_f64() {
            Some(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
            _ => {
                return Err(ApiError::new(
                    Code::InvalidSearchSemanticRatio,
                    "Invalid value at `.hybrid.semanticRatio`: the value of `semanticRatio` is invalid, expected a float between `0.0` and `1.0`.",
                ))
            }
        },
    };
    Ok(Hybrid { embedder, semantic_ratio })
}

fn vector_field(v: &Value) -> ApiResult<Vec<f64>> {
    let Value::Array(items) = v else {
        return Err(ApiError::invalid_type(Code::InvalidSearchVector, "vector", "an array", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| item.as_f64().ok_or_else(|| ApiError::invalid_type(Code::InvalidSearchVector, &format!("vector[{i}]"), "a number", item)))
        .collect()
}

impl SearchParams {
    pub fn uses_pages(&self) -> bool {
        self.page.is_some() || self.hits_per_page.is_some()
    }
}

fn code_for(field: &str) -> Code {
    match field {
        "q" => Code::InvalidSearchQ,
        "offset" => Code::InvalidSearchOffset,
        "limit" => Code::InvalidSearchLimit,
        "page" => Code::InvalidSearchPage,
        "hitsPerPage" => Code::InvalidSearchHitsPerPage,
        "attributesToRetrieve" => Code::InvalidSearchAttributesToRetrieve,
        "attributesToCrop" => Code::InvalidSearchAttributesToCrop,
        "cropLength" => Code::InvalidSearchCropLength,
        "cropMarker" => Code::InvalidSearchCropMarker,
        "attributesToHighlight" => Code::InvalidSearchAttributesToHighlight,
        "highlightPreTag" => Code::InvalidSearchHighlightPreTag,
        "highlightPostTag" => Code::InvalidSearchHighlightPostTag,
        "showMatchesPosition" => Code::InvalidSearchShowMatchesPosition,
        "filter" => Code::InvalidSearchFilter,
        "sort" => Code::InvalidSearchSort,
        "distinct" => Code::InvalidSearchDistinct,
        "facets" => Code::InvalidSearchFacets,
        "matchingStrategy" => Code::InvalidSearchMatchingStrategy,
        "attributesToSearchOn" => Code::InvalidSearchAttributesToSearchOn,
        "rankingScoreThreshold" => Code::InvalidSearchRankingScoreThreshold,
        "showRankingScore" => Code::InvalidSearchShowRankingScore,
        "showRankingScoreDetails" => Code::InvalidSearchShowRankingScoreDetails,
        "retrieveVectors" => Code::InvalidSearchRetrieveVectors,
        _ => Code::BadRequest,
    }
}

fn usize_field(field: &str, v: &Value) -> ApiResult<usize> {
    v.as_u64().map(|n| n as usize).ok_or_else(|| ApiError::invalid_type(code_for(field), field, "a positive integer", v))
}

fn string_field(field: &str, v: &Value) -> ApiResult<String> {
    v.as_str().map(str::to_owned).ok_or_else(|| ApiError::invalid_type(code_for(field), field, "a string", v))
}

fn bool_field(field: &str, v: &Value) -> ApiResult<bool> {
    v.as_bool().ok_or_else(|| ApiError::invalid_type(code_for(field), field, "a boolean", v))
}

fn list_field(field: &str, v: &Value) -> ApiResult<Vec<String>> {
    let Value::Array(items) = v else {
        return Err(ApiError::invalid_type(code_for(field), field, "an array", v));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str().map(str::to_owned).ok_or_else(|| {
                ApiError::invalid_type(code_for(field), &format!("{field}[{i}]"), "a string", item)
            })
        })
        .collect()
}

/// Reads search parameters from a JSON object; `extra` lists further accepted fields
/// (`indexUid`, `federationOptions` in multi-search), which are left to the caller.
pub fn from_json(body: &Map<String, Value>, extra: &[&str]) -> ApiResult<SearchParams> {
    let mut p = SearchParams {
        crop_length: 10,
        crop_marker: "…".into(),
        highlight_pre_tag: "<em>".into(),
        highlight_post_tag: "</em>".into(),
        ..SearchParams::default()
    };
    for (field, v) in body {
        let f = field.as_str();
        if extra.contains(&f) {
            continue;
        }
        if v.is_null() && f != "q" {
            continue;
        }
        match f {
            "q" => p.q = if v.is_null() { String::new() } else { string_field(f, v)? },
            "offset" => p.offset = Some(usize_field(f, v)?),
            "limit" => p.limit = Some(usize_field(f, v)?),
            "page" => p.page = Some(usize_field(f, v)?),
            "hitsPerPage" => p.hits_per_page = Some(usize_field(f, v)?),
            "attributesToRetrieve" => p.attributes_to_retrieve = Some(list_field(f, v)?),
            "attributesToCrop" => p.attributes_to_crop = list_field(f, v)?,
            "cropLength" => p.crop_length = usize_field(f, v)?,
            "cropMarker" => p.crop_marker = string_field(f, v)?,
            "attributesToHighlight" => p.attributes_to_highlight = list_field(f, v)?,
            "highlightPreTag" => p.highlight_pre_tag = string_field(f, v)?,
            "highlightPostTag" => p.highlight_post_tag = string_field(f, v)?,
            "showMatchesPosition" => p.show_matches_position = bool_field(f, v)?,
            "filter" => p.filter = Some(v.clone()),
            "sort" => p.sort = list_field(f, v)?,
            "distinct" => p.distinct = Some(string_field(f, v)?),
            "facets" => p.facets = Some(list_field(f, v)?),
            "matchingStrategy" => {
                let s = string_field(f, v)?;
                if !["last", "all", "frequency"].contains(&s.as_str()) {
                    return Err(ApiError::new(
                        Code::InvalidSearchMatchingStrategy,
                        format!("Unknown value `{s}` at `.matchingStrategy`: expected one of `last`, `all`, `frequency`"),
                    ));
                }
                p.matching_strategy = Some(s);
            }
            "attributesToSearchOn" => p.attributes_to_search_on = Some(list_field(f, v)?),
            "rankingScoreThreshold" => {
                let t = v.as_f64().ok_or_else(|| ApiError::invalid_type(code_for(f), f, "a number", v))?;
                if !(0.0..=1.0).contains(&t) {
                    return Err(ApiError::new(
                        Code::InvalidSearchRankingScoreThreshold,
                        format!("Invalid value at `.rankingScoreThreshold`: the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`."),
                    ));
                }
                p.ranking_score_threshold = Some(t);
            }
            "showRankingScore" => p.show_ranking_score = bool_field(f, v)?,
            "showRankingScoreDetails" => p.show_ranking_score_details = bool_field(f, v)?,
            "vector" => p.vector = Some(vector_field(v)?),
            "hybrid" => p.hybrid = Some(hybrid_field(v)?),
            "retrieveVectors" => p.retrieve_vectors = bool_field(f, v)?,
            other if SEARCH_FIELDS.contains(&other) => {}
            other => {
                let mut expected: Vec<&str> = SEARCH_FIELDS.to_vec();
                expected.extend_from_slice(extra);
                return Err(ApiError::unknown_field(other, &expected));
            }
        }
    }
    Ok(p)
}

/// Turns `GET /search` query parameters into the JSON body they stand for.
pub fn query_string_to_json(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in pairs {
        let value = match k.as_str() {
            "offset" | "limit" | "page" | "hitsPerPage" | "cropLength" => {
                v.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(v.clone()))
            }
            "rankingScoreThreshold" => v
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(v.clone())),
            "showMatchesPosition" | "showRankingScore" | "showRankingScoreDetails" | "retrieveVectors" => match v.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(v.clone()),
            },
            "attributesToRetrieve" | "attributesToCrop" | "attributesToHighlight" | "sort"
            | "facets" | "attributesToSearchOn" => Value::Array(
                v.split(',').filter(|s| !s.is_empty()).map(|s| Value::String(s.trim().to_owned())).collect(),
            ),
            _ => Value::String(v.clone()),
        };
        out.insert(k.clone(), value);
    }
    out
}

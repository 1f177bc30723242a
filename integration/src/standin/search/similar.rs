//! `POST /indexes/{uid}/similar` on one index: the documents whose embedding is nearest the
//! target's, the target excluded, under the filter (Meilisearch's `perform_similar`).

use serde_json::{json, Map, Value};

use super::params::SearchParams;
use super::rank::{global_score, Detail};
use super::{checked_filter, format_hit, Ranked};
use crate::standin::error::{ApiError, ApiResult};
use crate::standin::filter_eval::matches;
use crate::standin::settings::View;
use crate::standin::store::Index;
use crate::standin::vectors;
use miroir_schemas::error::Code;

/// The fields of a similar query, in Meilisearch's order.
const SIMILAR_FIELDS: &[&str] = &[
    "id", "offset", "limit", "filter", "embedder", "attributesToRetrieve", "retrieveVectors", "showRankingScore",
    "showRankingScoreDetails", "showPerformanceDetails", "rankingScoreThreshold",
];

struct SimilarQuery {
    id: Value,
    embedder: String,
    offset: usize,
    limit: usize,
    filter: Option<Value>,
    display: SearchParams,
}

fn read(body: &Map<String, Value>) -> ApiResult<SimilarQuery> {
    let mut display = SearchParams { crop_length: 10, ..SearchParams::default() };
    let (mut id, mut embedder, mut offset, mut limit, mut filter) = (None, None, 0, 20, None);
    for (field, value) in body {
        let count = |code: Code| value.as_u64().map(|n| n as usize).ok_or_else(|| ApiError::invalid_type(code, field, "a positive integer", value));
        let flag = |code: Code| value.as_bool().ok_or_else(|| ApiError::invalid_type(code, field, "a boolean", value));
        match field.as_str() {
            "id" => id = Some(value.clone()),
            "embedder" => match value {
                Value::String(name) => embedder = Some(name.clone()),
                Value::Null => return Err(ApiError::new(Code::InvalidSimilarEmbedder, "Invalid value type at `.embedder`: expected a string, but found null")),
                other => return Err(ApiError::invalid_type(Code::InvalidSimilarEmbedder, "embedder", "a string", other)),
            },
            "offset" => offset = count(Code::InvalidSimilarOffset)?,
            "limit" => limit = count(Code::InvalidSimilarLimit)?,
            "filter" => filter = Some(value.clone()).filter(|filter| !filter.is_null()),
            "attributesToRetrieve" => {
                let names = value.as_array().and_then(|items| items.iter().map(|item| item.as_str().map(str::to_owned)).collect());
                display.attributes_to_retrieve =
                    Some(names.ok_or_else(|| ApiError::invalid_type(Code::InvalidSimilarAttributesToRetrieve, field, "an array", value))?);
            }
            "retrieveVectors" => display.retrieve_vectors = flag(Code::InvalidSimilarRetrieveVectors)?,
            "showRankingScore" => display.show_ranking_score = flag(Code::InvalidSimilarShowRankingScore)?,
            "showRankingScoreDetails" => display.show_ranking_score_details = flag(Code::InvalidSimilarShowRankingScoreDetails)?,
            "showPerformanceDetails" => {
                flag(Code::InvalidSimilarShowPerformanceDetails)?;
            }
            "rankingScoreThreshold" => {
                let threshold = value.as_f64().ok_or_else(|| ApiError::invalid_type(Code::InvalidSimilarRankingScoreThreshold, field, "a number", value))?;
                if !(0.0..=1.0).contains(&threshold) {
                    return Err(ApiError::new(
                        Code::InvalidSimilarRankingScoreThreshold,
                        "Invalid value at `.rankingScoreThreshold`: the value of `rankingScoreThreshold` is invalid, expected a float between `0.0` and `1.0`.",
                    ));
                }
                display.ranking_score_threshold = Some(threshold);
            }
            other => return Err(ApiError::unknown_field(other, SIMILAR_FIELDS)),
        }
    }
    let id = id.ok_or_else(|| ApiError::new(Code::BadRequest, "Missing field `id`"))?;
    let embedder = embedder.ok_or_else(|| ApiError::new(Code::BadRequest, "Missing field `embedder`"))?;
    Ok(SimilarQuery { id, embedder, offset, limit, filter, display })
}

/// The id as Meilisearch accepts it (`Invalid value at `.id`: …` otherwise).
fn external_id(id: &Value) -> ApiResult<String> {
    let valid = match id {
        Value::String(text) if crate::standin::documents::valid_id_string(text) => Some(text.clone()),
        Value::Number(number) if number.is_u64() || number.is_i64() => Some(number.to_string()),
        _ => None,
    };
    valid.ok_or_else(|| {
        ApiError::new(
            Code::InvalidSimilarId,
            format!(
                "Invalid value at `.id`: Document identifier `{id}` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes."
            ),
        )
    })
}

/// The full answer of `POST /indexes/{uid}/similar`.
pub fn similar_response(index: &Index, body: &Map<String, Value>) -> ApiResult<Value> {
    let query = read(body)?;
    if !vectors::has_embedder(index, &query.embedder) {
        return Err(ApiError::new(Code::InvalidSimilarEmbedder, format!("Cannot find embedder with name `{}`.", query.embedder)));
    }
    let filter = checked_filter(index, query.filter.as_ref(), Code::InvalidSimilarFilter)?;
    let id = external_id(&query.id)?;
    let not_found = || ApiError::new(Code::NotFoundSimilarId, format!("Document `{id}` not found."));
    let internal_target = *index.ids.get(&id).ok_or_else(not_found)?;
    let target = index.documents.get(&internal_target).ok_or_else(not_found)?;
    let target_vector = vectors::embeddings(target, &query.embedder).into_iter().next();

    let mut candidates = 0usize;
    let mut ranked: Vec<Ranked<'_>> = Vec::new();
    for (internal, doc) in &index.documents {
        if *internal == internal_target || filter.as_ref().is_some_and(|filter| !matches(filter, doc)) {
            continue;
        }
        candidates += 1;
        let similarity = target_vector.as_deref().and_then(|target| vectors::best_similarity(doc, &query.embedder, target));
        if similarity.is_some() {
            let details = vec![Detail::Vector { similarity }];
            ranked.push(Ranked { internal: *internal, doc, score: global_score(&details), details });
        }
    }
    ranked.sort_by(|a, b| b.score.partial_cmp(&a.score).unwrap_or(std::cmp::Ordering::Equal).then(a.internal.cmp(&b.internal)));
    let window: Vec<&Ranked<'_>> = ranked.iter().skip(query.offset).take(query.limit).collect();
    // as Meilisearch: a hit under the threshold ends the list and the count keeps only the
    // documents seen before it
    let kept = match query.display.ranking_score_threshold {
        Some(threshold) => match window.iter().position(|hit| hit.score < threshold) {
            Some(cut) => {
                candidates = query.offset.min(ranked.len()) + cut;
                cut
            }
            None => window.len(),
        },
        None => window.len(),
    };
    let hits: Vec<Value> = window[..kept].iter().map(|hit| Value::Object(format_hit(index, &query.display, hit))).collect();
    Ok(json!({
        "hits": hits,
        "id": id,
        "processingTimeMs": 0,
        "offset": query.offset,
        "limit": query.limit,
        "estimatedTotalHits": candidates.min(View(&index.settings).max_total_hits()),
    }))
}

//! `GET /indexes/{uid}/search` and `GET /indexes/{uid}/documents`: query-string parameters
//! turned into the JSON body of the POST route, as Meilisearch converts them, with its errors
//! for values that do not parse. Pure.

use super::error::ReadError;
use miroir_schemas::error::Code;
use serde_json::{Map, Number, Value};

#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Boolean,
    Float,
    /// Comma-separated list.
    List,
    /// Comma-separated list of floats.
    FloatList,
    /// `sort`: comma-separated, `_geoPoint(lat, lng):dir` kept whole.
    Sort,
    /// A JSON filter when it parses as JSON, else the string.
    Filter,
    String,
}

fn search_parameter(name: &str) -> Option<(Kind, Code)> {
    use Code::*;
    use Kind::*;
    Some(match name {
        "q" => (String, InvalidSearchQ),
        "offset" => (Integer, InvalidSearchOffset),
        "limit" => (Integer, InvalidSearchLimit),
        "page" => (Integer, InvalidSearchPage),
        "hitsPerPage" => (Integer, InvalidSearchHitsPerPage),
        "cropLength" => (Integer, InvalidSearchCropLength),
        "attributesToRetrieve" => (List, InvalidSearchAttributesToRetrieve),
        "attributesToCrop" => (List, InvalidSearchAttributesToCrop),
        "attributesToHighlight" => (List, InvalidSearchAttributesToHighlight),
        "attributesToSearchOn" => (List, InvalidSearchAttributesToSearchOn),
        "facets" => (List, InvalidSearchFacets),
        "locales" => (List, InvalidSearchLocales),
        "cropMarker" => (String, InvalidSearchCropMarker),
        "highlightPreTag" => (String, InvalidSearchHighlightPreTag),
        "highlightPostTag" => (String, InvalidSearchHighlightPostTag),
        "matchingStrategy" => (String, InvalidSearchMatchingStrategy),
        "distinct" => (String, InvalidSearchDistinct),
        "filter" => (Filter, InvalidSearchFilter),
        "sort" => (Sort, InvalidSearchSort),
        "showMatchesPosition" => (Boolean, InvalidSearchShowMatchesPosition),
        "showRankingScore" => (Boolean, InvalidSearchShowRankingScore),
        "showRankingScoreDetails" => (Boolean, InvalidSearchShowRankingScoreDetails),
        "showPerformanceDetails" => (Boolean, InvalidSearchShowPerformanceDetails),
        "retrieveVectors" => (Boolean, InvalidSearchRetrieveVectors),
        "rankingScoreThreshold" => (Float, InvalidSearchRankingScoreThreshold),
        "vector" => (FloatList, InvalidSearchVector),
        _ => return None,
    })
}

fn documents_parameter(name: &str) -> Option<(Kind, Code)> {
    use Code::*;
    use Kind::*;
    Some(match name {
        "offset" => (Integer, InvalidDocumentOffset),
        "limit" => (Integer, InvalidDocumentLimit),
        "fields" => (List, InvalidDocumentFields),
        "ids" => (List, InvalidDocumentIds),
        "retrieveVectors" => (Boolean, InvalidDocumentRetrieveVectors),
        "filter" => (Filter, InvalidDocumentFilter),
        "sort" => (Sort, InvalidDocumentSort),
        _ => return None,
    })
}

fn similar_parameter(name: &str) -> Option<(Kind, Code)> {
    use Code::*;
    use Kind::*;
    Some(match name {
        "id" => (String, InvalidSimilarId),
        "embedder" => (String, InvalidSimilarEmbedder),
        "offset" => (Integer, InvalidSimilarOffset),
        "limit" => (Integer, InvalidSimilarLimit),
        "attributesToRetrieve" => (List, InvalidSimilarAttributesToRetrieve),
        "retrieveVectors" => (Boolean, InvalidSimilarRetrieveVectors),
        // a string: the GET route has no JSON filter form
        "filter" => (String, InvalidSimilarFilter),
        "showRankingScore" => (Boolean, InvalidSimilarShowRankingScore),
        "showRankingScoreDetails" => (Boolean, InvalidSimilarShowRankingScoreDetails),
        "showPerformanceDetails" => (Boolean, InvalidSimilarShowPerformanceDetails),
        "rankingScoreThreshold" => (Float, InvalidSimilarRankingScoreThreshold),
        _ => return None,
    })
}

fn invalid(code: Code, name: &str, problem: String) -> ReadError {
    ReadError::user(code, format!("Invalid value in parameter `{name}`: {problem}"))
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|item| !item.is_empty())
}

/// Meilisearch's `sort` splitting: commas separate rules, except inside `_geoPoint(lat, lng)`.
pub fn split_sort(sort: &str) -> Vec<String> {
    let mut rules: Vec<String> = Vec::new();
    let mut inside_geo_point = false;
    for part in sort.trim_matches('"').split(',').map(str::trim) {
        if part.starts_with("_geoPoint(") {
            rules.push(part.to_owned());
            inside_geo_point = true;
        } else if inside_geo_point && !rules.is_empty() {
            let rule = rules.last_mut().expect("checked non-empty");
            rule.push(',');
            rule.push_str(part);
            inside_geo_point = !(part.ends_with("):desc") || part.ends_with("):asc"));
        } else {
            rules.push(part.to_owned());
        }
    }
    rules
}

fn convert(name: &str, raw: &str, kind: Kind, code: Code) -> Result<Value, ReadError> {
    Ok(match kind {
        Kind::String => Value::String(raw.to_owned()),
        Kind::Integer => raw
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| invalid(code, name, format!("could not parse `{raw}` as a positive integer")))?,
        Kind::Boolean => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(invalid(code, name, format!("could not parse `{raw}` as a boolean, expected either `true` or `false`"))),
        },
        Kind::Float => raw
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| invalid(code, name, format!("could not parse `{raw}` as a float")))?,
        Kind::List => Value::Array(list(raw).map(|item| Value::String(item.to_owned())).collect()),
        Kind::FloatList => Value::Array(
            list(raw)
                .map(|item| {
                    item.parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .map(Value::Number)
                        .ok_or_else(|| invalid(code, name, format!("could not parse `{item}` as a float")))
                })
                .collect::<Result<_, _>>()?,
        ),
        Kind::Sort => Value::Array(split_sort(raw).into_iter().map(Value::String).collect()),
        Kind::Filter => serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned())),
    })
}

fn to_body(pairs: &[(String, String)], parameter: fn(&str) -> Option<(Kind, Code)>) -> Result<Map<String, Value>, ReadError> {
    let mut body = Map::new();
    for (name, raw) in pairs {
        let value = match parameter(name) {
            Some((kind, code)) => convert(name, raw, kind, code)?,
            // unknown parameters are the HTTP layer's to refuse; keep them as strings
            None => Value::String(raw.clone()),
        };
        body.insert(name.clone(), value);
    }
    Ok(body)
}

/// The POST body equivalent to `GET /indexes/{uid}/search?<pairs>`. `hybridEmbedder` and
/// `hybridSemanticRatio` become `hybrid`.
pub fn search_query_to_body(pairs: &[(String, String)]) -> Result<Map<String, Value>, ReadError> {
    let (hybrid, rest): (Vec<_>, Vec<_>) =
        pairs.iter().cloned().partition(|(name, _)| name == "hybridEmbedder" || name == "hybridSemanticRatio");
    let mut body = to_body(&rest, search_parameter)?;
    let embedder = hybrid.iter().find(|(name, _)| name == "hybridEmbedder").map(|(_, v)| v.clone());
    let ratio = hybrid.iter().find(|(name, _)| name == "hybridSemanticRatio").map(|(_, v)| v.clone());
    match (embedder, ratio) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(ReadError::user(
                Code::InvalidSearchHybridQuery,
                "`hybridEmbedder` is mandatory when `hybridSemanticRatio` is present",
            ))
        }
        (Some(embedder), ratio) => {
            let mut hybrid = Map::new();
            hybrid.insert("embedder".into(), embedder.into());
            if let Some(ratio) = ratio {
                hybrid
                    .insert("semanticRatio".into(), convert("hybridSemanticRatio", &ratio, Kind::Float, Code::InvalidSearchSemanticRatio)?);
            }
            body.insert("hybrid".into(), Value::Object(hybrid));
        }
    }
    if body.contains_key("vector") && !body.contains_key("hybrid") {
        return Err(ReadError::user(Code::MissingSearchHybrid, "`hybridEmbedder` is mandatory when `vector` is present"));
    }
    Ok(body)
}

/// The parameters of `GET /indexes/{uid}/similar`, in Meilisearch's order.
const SIMILAR_PARAMETERS: &[&str] = &[
    "id",
    "embedder",
    "offset",
    "limit",
    "attributesToRetrieve",
    "retrieveVectors",
    "filter",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
    "rankingScoreThreshold",
];

/// The `/similar` body equivalent to `GET /indexes/{uid}/similar?<pairs>`, with the query
/// string's own errors (unknown and missing parameters).
pub fn similar_query_to_body(pairs: &[(String, String)]) -> Result<Map<String, Value>, ReadError> {
    if let Some((unknown, _)) = pairs.iter().find(|(name, _)| !SIMILAR_PARAMETERS.contains(&name.as_str())) {
        return Err(ReadError::user(Code::BadRequest, crate::request_errors::query_param_unknown(unknown, SIMILAR_PARAMETERS)));
    }
    let body = to_body(pairs, similar_parameter)?;
    for required in ["id", "embedder"] {
        if !body.contains_key(required) {
            return Err(ReadError::user(Code::BadRequest, format!("Missing parameter `{required}`")));
        }
    }
    Ok(body)
}

/// The `documents/fetch` body equivalent to `GET /indexes/{uid}/documents?<pairs>`.
pub fn documents_query_to_body(pairs: &[(String, String)]) -> Result<Map<String, Value>, ReadError> {
    to_body(pairs, documents_parameter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn search_parameters_convert_like_meilisearch() {
        let body = search_query_to_body(&pairs(&[
            ("q", "d3"),
            ("limit", "2"),
            ("attributesToRetrieve", "id, name"),
            ("sort", "_geoPoint(1.5, 2):asc,name:desc"),
            ("filter", "[\"a = 1\"]"),
            ("showRankingScore", "true"),
            ("hybridEmbedder", "default"),
        ]))
        .unwrap();
        assert_eq!(
            Value::Object(body),
            json!({"q": "d3", "limit": 2, "attributesToRetrieve": ["id", "name"], "sort": ["_geoPoint(1.5,2):asc", "name:desc"],
                "filter": ["a = 1"], "showRankingScore": true, "hybrid": {"embedder": "default"}})
        );
        assert_eq!(search_query_to_body(&pairs(&[("filter", "genre = x")])).unwrap()["filter"], "genre = x");
    }

    #[test]
    fn unparsable_values_get_meilisearchs_errors() {
        let error = search_query_to_body(&pairs(&[("limit", "ten")])).unwrap_err().response_error();
        assert_eq!(error.code, "invalid_search_limit");
        assert_eq!(error.message, "Invalid value in parameter `limit`: could not parse `ten` as a positive integer");
        let error = documents_query_to_body(&pairs(&[("retrieveVectors", "yes")])).unwrap_err().response_error();
        assert_eq!(error.code, "invalid_document_retrieve_vectors");
        assert_eq!(
            error.message,
            "Invalid value in parameter `retrieveVectors`: could not parse `yes` as a boolean, expected either `true` or `false`"
        );
        let error = search_query_to_body(&pairs(&[("hybridSemanticRatio", "0.5")])).unwrap_err().response_error();
        assert_eq!(error.code, "invalid_search_hybrid_query");
    }

    #[test]
    fn similar_parameters_convert_like_meilisearch() {
        let body = similar_query_to_body(&pairs(&[
            ("id", "42"),
            ("embedder", "e"),
            ("limit", "3"),
            ("filter", "a = 1"),
            ("rankingScoreThreshold", "0.5"),
        ]))
        .unwrap();
        assert_eq!(Value::Object(body), json!({"id": "42", "embedder": "e", "limit": 3, "filter": "a = 1", "rankingScoreThreshold": 0.5}));
        let error = similar_query_to_body(&pairs(&[("id", "1"), ("embedder", "e"), ("offset", "-1")])).unwrap_err().response_error();
        assert_eq!(error.code, "invalid_similar_offset");
        assert_eq!(error.message, "Invalid value in parameter `offset`: could not parse `-1` as a positive integer");
        let error = similar_query_to_body(&pairs(&[("id", "287947")])).unwrap_err().response_error();
        assert_eq!((error.code.as_str(), error.message.as_str()), ("bad_request", "Missing parameter `embedder`"));
        let error = similar_query_to_body(&pairs(&[("id", "1"), ("marin", "x")])).unwrap_err().response_error();
        assert!(error.message.starts_with("Unknown parameter `marin`: expected one of `id`, `embedder`"), "{}", error.message);
    }

    #[test]
    fn document_listing_parameters() {
        let body =
            documents_query_to_body(&pairs(&[("limit", "3"), ("offset", "2"), ("fields", "id,name"), ("filter", "section = utils")]))
                .unwrap();
        assert_eq!(Value::Object(body), json!({"limit": 3, "offset": 2, "fields": ["id", "name"], "filter": "section = utils"}));
    }
}

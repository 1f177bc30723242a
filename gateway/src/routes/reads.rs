//! Read routes, mounted on the read path's [`ReadExecutor`](crate::read::ReadExecutor): the
//! executor plans, fans out and merges; these handlers only read the request.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::node_layout::{now_millis, with_unexpired};
use serde_json::{Map, Value};

use crate::auth::Auth;
use crate::error::GatewayError;
use crate::params::path_index_uid;
use crate::read::executor::ReadAnswer;
use crate::request_errors::{incorrect_type, unknown_field, Kind};
use crate::routes::write::json_request;
use crate::state::AppState;

/// The request's JSON object body.
async fn object_body(state: &AppState, headers: &HeaderMap, body: axum::body::Body) -> Result<Map<String, Value>, GatewayError> {
    match json_request(state, headers, body).await? {
        Value::Object(object) => Ok(object),
        other => Err(GatewayError::Meili(ResponseError::new(Code::BadRequest, incorrect_type(&[], &[Kind::Map], &other)))),
    }
}

/// The fields `POST /indexes/{uid}/search` accepts, in the order Meilisearch 1.50 lists them.
/// Checked here because the nodes see a federated query, whose own field list differs.
const SEARCH_FIELDS: &[&str] = &[
    "q",
    "offset",
    "limit",
    "page",
    "hitsPerPage",
    "attributesToRetrieve",
    "attributesToCrop",
    "cropLength",
    "cropMarker",
    "attributesToHighlight",
    "highlightPreTag",
    "highlightPostTag",
    "showMatchesPosition",
    "filter",
    "sort",
    "distinct",
    "facets",
    "matchingStrategy",
    "attributesToSearchOn",
    "rankingScoreThreshold",
    "locales",
    "hybrid",
    "vector",
    "retrieveVectors",
    "media",
    "personalize",
    "useNetwork",
    "showRankingScore",
    "showRankingScoreDetails",
    "showPerformanceDetails",
];

/// Meilisearch's `bad_request` for the first search field it does not know.
fn check_search_fields(request: &Map<String, Value>) -> Result<(), GatewayError> {
    match request.keys().find(|key| !SEARCH_FIELDS.contains(&key.as_str())) {
        Some(key) => Err(GatewayError::Meili(ResponseError::new(Code::BadRequest, unknown_field(&[], key, SEARCH_FIELDS)))),
        None => Ok(()),
    }
}

/// `POST /indexes/{uid}/search`.
pub async fn search(
    State(state): State<AppState>,
    auth: Auth,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<ReadAnswer, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let mut request = object_body(&state, &headers, body).await?;
    check_search_fields(&request)?;
    // A tenant token's filter is ANDed in before planning, so every shard query carries it.
    auth.restrict_search(&uid, &mut request);
    state.ttl().hide_expired(&uid, &mut request).await?;
    match crate::read::explain::requested(&headers)? {
        None => Ok(state.reads().search(&uid, &request).await?),
        Some(mode) => Ok(state.reads().explain_search(&uid, &request, mode).await?),
    }
}

/// `GET /indexes/{uid}/search?<query>`: converted as Meilisearch converts the query string,
/// then the same path as POST (tenant filter included).
pub async fn search_get(
    State(state): State<AppState>,
    auth: Auth,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<ReadAnswer, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let mut request = crate::read::query_string::search_query_to_body(&query)?;
    auth.restrict_search(&uid, &mut request);
    state.ttl().hide_expired(&uid, &mut request).await?;
    Ok(state.reads().search(&uid, &request).await?)
}

/// `GET /indexes/{uid}/documents`.
pub async fn list_documents(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<ReadAnswer, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    if state.ttl().field_of(&uid).await?.is_none() {
        return Ok(state.reads().list_documents(&uid, &query).await?);
    }
    let mut request = crate::read::query_string::documents_query_to_body(&query)?;
    state.ttl().hide_expired(&uid, &mut request).await?;
    Ok(state.reads().fetch_documents(&uid, &request).await?)
}

/// `POST /multi-search` (plain or federated).
pub async fn multi_search(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<ReadAnswer, GatewayError> {
    let mut request = object_body(&state, &headers, body).await?;
    auth.restrict_multi_search(&mut request)?;
    state.ttl().hide_expired_in_queries(&mut request).await?;
    Ok(state.reads().multi_search(&request).await?)
}

/// `POST /indexes/{uid}/facet-search`.
pub async fn facet_search(
    State(state): State<AppState>,
    auth: Auth,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<ReadAnswer, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let mut request = object_body(&state, &headers, body).await?;
    auth.restrict_search(&uid, &mut request);
    state.ttl().hide_expired(&uid, &mut request).await?;
    Ok(state.reads().facet_search(&uid, &request).await?)
}

/// `POST /indexes/{uid}/similar`.
pub async fn similar(
    State(state): State<AppState>,
    auth: Auth,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<ReadAnswer, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let mut request = object_body(&state, &headers, body).await?;
    // Meilisearch ANDs the tenant filter into the query's and also requires the target to match it
    auth.restrict_search(&uid, &mut request);
    similar_unexpired(&state, &auth, &uid, request).await
}

/// `/similar` of an index with TTL: the target must be unexpired too (as it must match the
/// tenant filter), and so must every document returned.
async fn similar_unexpired(state: &AppState, auth: &Auth, uid: &str, mut request: Map<String, Value>) -> Result<ReadAnswer, GatewayError> {
    let target_filter = match state.ttl().hide_expired(uid, &mut request).await? {
        Some(now) => Some(with_unexpired(&auth.rule_filter(uid).unwrap_or(Value::Null), now)),
        None => auth.rule_filter(uid),
    };
    Ok(state.reads().similar(uid, &request, target_filter).await?)
}

/// `GET /indexes/{uid}/similar?<query>`: converted as Meilisearch converts the query string.
pub async fn similar_get(
    State(state): State<AppState>,
    auth: Auth,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<ReadAnswer, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let mut request = crate::read::query_string::similar_query_to_body(&query)?;
    auth.restrict_search(&uid, &mut request);
    similar_unexpired(&state, &auth, &uid, request).await
}

/// `GET /indexes/{uid}/documents/{id}`.
pub async fn get_document(
    State(state): State<AppState>,
    Path((uid, id)): Path<(String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<ReadAnswer, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let expired_at = state.ttl().field_of(&uid).await?.map(|_| now_millis());
    Ok(state.reads().get_unexpired_document(&uid, &id, &query, expired_at).await?)
}

/// `POST /indexes/{uid}/documents/fetch`.
pub async fn fetch_documents(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<ReadAnswer, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let mut request = object_body(&state, &headers, body).await?;
    state.ttl().hide_expired(&uid, &mut request).await?;
    Ok(state.reads().fetch_documents(&uid, &request).await?)
}

/// Response header of `GET /indexes/{uid}/stats`: how many shards the index has now (its
/// layout's, docs/resharding.md). A header, so the body stays Meilisearch's.
pub const SHARD_COUNT_HEADER: &str = "miroir-shard-count";

/// `GET /indexes/{uid}/stats`, with the `Miroir-Shard-Count` header.
pub async fn index_stats(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Response, GatewayError> {
    path_index_uid(&uid, state.topology().replication_factor)?;
    let answer = state.reads().index_stats(&uid).await?;
    let shards = state.topology_changes().read(|book| book.layouts().shard_count(book.layouts().layout(&uid)));
    let mut response = answer.into_response();
    response.headers_mut().insert(HeaderName::from_static(SHARD_COUNT_HEADER), HeaderValue::from(shards));
    Ok(response)
}

/// `GET /stats`. A key restricted to some indexes sees only those (the database sizes still
/// count every index, as Meilisearch counts them).
pub async fn stats(State(state): State<AppState>, Auth(context): Auth) -> Result<ReadAnswer, GatewayError> {
    let mut answer = state.reads().stats().await?;
    if !context.all_indexes_authorized() {
        let updated_at = |uid: &str| state.catalog().read(|catalog| catalog.index(uid).map(|index| index.updated_at));
        restrict_stats(&mut answer.body, |uid| context.is_index_authorized(uid), updated_at);
    }
    Ok(answer)
}

/// Keeps the `indexes` of `/stats` that `allowed` accepts; `lastUpdate` becomes the latest
/// `updated_at` of those (Meilisearch takes it from the authorized indexes only).
pub fn restrict_stats(body: &mut Value, allowed: impl Fn(&str) -> bool, updated_at: impl Fn(&str) -> Option<time::OffsetDateTime>) {
    let Some(indexes) = body.get_mut("indexes").and_then(Value::as_object_mut) else { return };
    indexes.retain(|uid, _| allowed(uid));
    let last = indexes.keys().filter_map(|uid| updated_at(uid)).max();
    body["lastUpdate"] = last.map(miroir_schemas::tasks::rfc3339).into();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restricted_stats_keep_the_allowed_indexes_and_their_last_update() {
        let mut body = json!({
            "databaseSize": 100, "usedDatabaseSize": 50, "lastUpdate": "2026-01-03T00:00:00Z",
            "indexes": {"books": {"numberOfDocuments": 1}, "movies": {"numberOfDocuments": 2}, "movies_b": {"numberOfDocuments": 3}},
        });
        let day = |d: u8| time::Date::from_calendar_date(2026, time::Month::January, d).unwrap().midnight().assume_utc();
        let updated = |uid: &str| {
            Some(match uid {
                "books" => day(3),
                "movies" => day(1),
                _ => day(2),
            })
        };
        restrict_stats(&mut body, |uid| uid.starts_with("movies"), updated);
        assert_eq!(body["indexes"].as_object().unwrap().keys().collect::<Vec<_>>(), ["movies", "movies_b"]);
        assert_eq!((body["databaseSize"].clone(), body["lastUpdate"].clone()), (json!(100), json!("2026-01-02T00:00:00Z")));
        restrict_stats(&mut body, |_| false, updated);
        assert_eq!((body["indexes"].clone(), body["lastUpdate"].clone()), (json!({}), Value::Null));
    }

    /// The transcript's "search unknown parameter" exchange, message for message.
    #[test]
    fn unknown_search_fields_are_refused_like_meilisearch() {
        let request = json!({"q": "x", "notAParam": 1});
        let GatewayError::Meili(error) = check_search_fields(request.as_object().unwrap()).unwrap_err() else {
            panic!("expected a Meilisearch error")
        };
        assert_eq!(error.code, "bad_request");
        assert_eq!(
            error.message,
            "Unknown field `notAParam`: expected one of `q`, `offset`, `limit`, `page`, `hitsPerPage`, \
             `attributesToRetrieve`, `attributesToCrop`, `cropLength`, `cropMarker`, `attributesToHighlight`, \
             `highlightPreTag`, `highlightPostTag`, `showMatchesPosition`, `filter`, `sort`, `distinct`, `facets`, \
             `matchingStrategy`, `attributesToSearchOn`, `rankingScoreThreshold`, `locales`, `hybrid`, `vector`, \
             `retrieveVectors`, `media`, `personalize`, `useNetwork`, `showRankingScore`, `showRankingScoreDetails`, \
             `showPerformanceDetails`"
        );
        assert!(check_search_fields(json!({"q": "x", "limit": 3}).as_object().unwrap()).is_ok());
    }
}

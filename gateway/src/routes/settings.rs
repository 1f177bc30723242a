//! `/indexes/{uid}/settings` and each `/indexes/{uid}/settings/{name}` sub-route. Updates are
//! tasks applied to every shard; reads come from a replica of the first shard (every shard
//! holds the same settings).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::Json;
use miroir_clients::node::{NodeClient, NodeClientConfig};
use miroir_schemas::details::TaskDetails;
use miroir_schemas::envelope::Op;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::task_log::TaskType;
use miroir_schemas::topology::{node_index_uid, ShardId};
use serde_json::{Map, Value};

use crate::auth::json_error::{incorrect_type, unexpected, unknown_field, Kind, Step};
use crate::error::GatewayError;
use crate::params::{path_index_uid, QueryParams};
use crate::routes::write::{checked_query, current_catalog, json_request, new_entry, on_every_shard, submit, Accepted};
use crate::state::AppState;

/// The shape a setting's value must have (beyond `null`, which resets it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Strings,
    /// Strings or objects (filterable attribute rules).
    StringsOrObjects,
    RankingRules,
    StringToStrings,
    String,
    Object,
    Array,
    Integer,
    Boolean,
    OneOf(&'static [&'static str]),
}

/// One setting: camelCase name, sub-route, verb of its sub-route update, error code, shape.
struct Setting {
    name: &'static str,
    route: &'static str,
    patch: bool,
    code: Code,
    shape: Shape,
}

const fn setting(name: &'static str, route: &'static str, patch: bool, code: Code, shape: Shape) -> Setting {
    Setting { name, route, patch, code, shape }
}

/// Meilisearch 1.50's settings, in its order (the order of the unknown-field message).
const SETTINGS: &[Setting] = &[
    setting("displayedAttributes", "displayed-attributes", false, Code::InvalidSettingsDisplayedAttributes, Shape::Strings),
    setting("searchableAttributes", "searchable-attributes", false, Code::InvalidSettingsSearchableAttributes, Shape::Strings),
    setting("filterableAttributes", "filterable-attributes", false, Code::InvalidSettingsFilterableAttributes, Shape::StringsOrObjects),
    setting("sortableAttributes", "sortable-attributes", false, Code::InvalidSettingsSortableAttributes, Shape::Strings),
    setting("foreignKeys", "foreign-keys", false, Code::InvalidSettingsForeignKeys, Shape::Array),
    setting("rankingRules", "ranking-rules", false, Code::InvalidSettingsRankingRules, Shape::RankingRules),
    setting("stopWords", "stop-words", false, Code::InvalidSettingsStopWords, Shape::Strings),
    setting("nonSeparatorTokens", "non-separator-tokens", false, Code::InvalidSettingsNonSeparatorTokens, Shape::Strings),
    setting("separatorTokens", "separator-tokens", false, Code::InvalidSettingsSeparatorTokens, Shape::Strings),
    setting("dictionary", "dictionary", false, Code::InvalidSettingsDictionary, Shape::Strings),
    setting("synonyms", "synonyms", false, Code::InvalidSettingsSynonyms, Shape::StringToStrings),
    setting("distinctAttribute", "distinct-attribute", false, Code::InvalidSettingsDistinctAttribute, Shape::String),
    setting("proximityPrecision", "proximity-precision", false, Code::InvalidSettingsProximityPrecision, Shape::OneOf(&["byWord", "byAttribute"])),
    setting("typoTolerance", "typo-tolerance", true, Code::InvalidSettingsTypoTolerance, Shape::Object),
    setting("faceting", "faceting", true, Code::InvalidSettingsFaceting, Shape::Object),
    setting("pagination", "pagination", true, Code::InvalidSettingsPagination, Shape::Object),
    setting("embedders", "embedders", true, Code::InvalidSettingsEmbedders, Shape::Object),
    setting("searchCutoffMs", "search-cutoff-ms", false, Code::InvalidSettingsSearchCutoffMs, Shape::Integer),
    setting("localizedAttributes", "localized-attributes", false, Code::InvalidSettingsLocalizedAttributes, Shape::Array),
    setting("facetSearch", "facet-search", false, Code::InvalidSettingsFacetSearch, Shape::Boolean),
    setting("prefixSearch", "prefix-search", false, Code::InvalidSettingsPrefixSearch, Shape::OneOf(&["indexingTime", "disabled"])),
    setting("chat", "chat", true, Code::InvalidSettingsIndexChat, Shape::Object),
];

const BUILT_IN_RULES: [&str; 8] = ["words", "typo", "sort", "proximity", "attribute", "attributeRank", "wordPosition", "exactness"];

fn by_name(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

fn by_route(route: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.route == route)
}

fn is_ranking_rule(rule: &str) -> bool {
    BUILT_IN_RULES.contains(&rule)
        || rule
            .rsplit_once(':')
            .is_some_and(|(field, order)| !field.is_empty() && (order == "asc" || order == "desc"))
}

/// Checks one setting's value at `location`, with the setting's error code.
fn check_value(setting: &Setting, value: &Value, location: &[Step]) -> Result<(), ResponseError> {
    let wrong = |kinds: &[Kind], found: &Value, at: &[Step]| ResponseError::new(setting.code, incorrect_type(at, kinds, found));
    let items = |value: &Value| -> Result<Vec<(usize, Value)>, ResponseError> {
        value.as_array().map(|a| a.iter().cloned().enumerate().collect()).ok_or_else(|| wrong(&[Kind::Sequence], value, location))
    };
    let at = |i: usize| [location, &[Step::Index(i)]].concat();
    match setting.shape {
        _ if value.is_null() => {}
        Shape::Strings => {
            for (i, item) in items(value)? {
                if !item.is_string() {
                    return Err(wrong(&[Kind::String], &item, &at(i)));
                }
            }
        }
        Shape::StringsOrObjects => {
            for (i, item) in items(value)? {
                if !item.is_string() && !item.is_object() {
                    return Err(wrong(&[Kind::String, Kind::Map], &item, &at(i)));
                }
            }
        }
        Shape::RankingRules => {
            for (i, item) in items(value)? {
                let rule = item.as_str().ok_or_else(|| wrong(&[Kind::String], &item, &at(i)))?;
                if !is_ranking_rule(rule) {
                    return Err(ResponseError::new(
                        setting.code,
                        unexpected(&at(i), &format!("`{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules.")),
                    ));
                }
            }
        }
        Shape::StringToStrings => {
            let map = value.as_object().ok_or_else(|| wrong(&[Kind::Map], value, location))?;
            for (key, synonyms) in map {
                let at_key = [location, &[Step::Key(key.clone())]].concat();
                let list = synonyms.as_array().ok_or_else(|| wrong(&[Kind::Sequence], synonyms, &at_key))?;
                if let Some((i, bad)) = list.iter().enumerate().find(|(_, s)| !s.is_string()) {
                    return Err(wrong(&[Kind::String], bad, &[at_key.as_slice(), &[Step::Index(i)]].concat()));
                }
            }
        }
        Shape::String if !value.is_string() => return Err(wrong(&[Kind::String], value, location)),
        Shape::Object if !value.is_object() => return Err(wrong(&[Kind::Map], value, location)),
        Shape::Array if !value.is_array() => return Err(wrong(&[Kind::Sequence], value, location)),
        Shape::Integer if !value.is_u64() => return Err(wrong(&[Kind::Integer], value, location)),
        Shape::Boolean if !value.is_boolean() => return Err(wrong(&[Kind::Boolean], value, location)),
        Shape::OneOf(accepted) => {
            let text = value.as_str().ok_or_else(|| wrong(&[Kind::String], value, location))?;
            if !accepted.contains(&text) {
                return Err(ResponseError::new(setting.code, crate::auth::json_error::unknown_value(location, text, accepted)));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Checks a whole settings object (`PATCH /settings`).
pub fn check_settings(body: &Value) -> Result<Map<String, Value>, ResponseError> {
    let object = body.as_object().ok_or_else(|| ResponseError::new(Code::BadRequest, incorrect_type(&[], &[Kind::Map], body)))?;
    let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    for (name, value) in object {
        let setting = by_name(name).ok_or_else(|| ResponseError::new(Code::BadRequest, unknown_field(&[], name, &names)))?;
        check_value(setting, value, &[Step::Key(name.clone())])?;
    }
    Ok(object.clone())
}

async fn enqueue_settings(state: &AppState, uid: &str, settings: Map<String, Value>, query: &QueryParams) -> Result<Accepted, GatewayError> {
    current_catalog(state, |_| ()).await?;
    let entry = new_entry(TaskType::SettingsUpdate, Some(uid), TaskDetails::SettingsUpdate { settings: settings.clone() }, query);
    submit(state, entry, on_every_shard(state, Op::UpdateSettings { settings })).await
}

/// `PATCH /indexes/{uid}/settings`.
pub async fn update_all(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Accepted, GatewayError> {
    let query = checked_query(&state, &uid, query)?;
    let body = json_request(&state, &headers, body).await?;
    let settings = check_settings(&body)?;
    enqueue_settings(&state, &uid, settings, &query).await
}

/// `DELETE /indexes/{uid}/settings`: every setting back to its default.
pub async fn reset_all(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Accepted, GatewayError> {
    let query = checked_query(&state, &uid, query)?;
    current_catalog(&state, |_| ()).await?;
    let reset: Map<String, Value> = SETTINGS.iter().map(|s| (s.name.to_owned(), Value::Null)).collect();
    let entry = new_entry(TaskType::SettingsUpdate, Some(&uid), TaskDetails::SettingsUpdate { settings: reset }, &query);
    submit(&state, entry, on_every_shard(&state, Op::ResetSettings)).await
}

/// `PUT`/`PATCH`/`DELETE /indexes/{uid}/settings/{name}` (the verb must be the setting's own).
pub async fn update_one(
    State(state): State<AppState>,
    Path((uid, route)): Path<(String, String)>,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<axum::response::Response, GatewayError> {
    use axum::response::IntoResponse;
    let Some(setting) = by_route(&route) else { return Ok(axum::http::StatusCode::NOT_FOUND.into_response()) };
    let allowed = if method == Method::DELETE { true } else if setting.patch { method == Method::PATCH } else { method == Method::PUT };
    if !allowed {
        return Ok(axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response());
    }
    let query = checked_query(&state, &uid, query)?;
    let value = if method == Method::DELETE {
        Value::Null
    } else {
        let value = json_request(&state, &headers, body).await?;
        check_value(setting, &value, &[])?;
        value
    };
    let settings = Map::from_iter([(setting.name.to_owned(), value)]);
    Ok(enqueue_settings(&state, &uid, settings, &query).await?.into_response())
}

/// The settings of index `uid` as a replica of its first shard holds them.
async fn node_settings(state: &AppState, uid: &str) -> Result<Value, GatewayError> {
    path_index_uid(uid, state.topology().shard_count)?;
    if current_catalog(state, |catalog| catalog.index(uid).is_none()).await? {
        return Err(GatewayError::meili(Code::IndexNotFound, format!("Index `{uid}` not found.")));
    }
    let node_index = node_index_uid(uid, ShardId(0));
    let mut last_error = None;
    for node in state.placement().replicas(ShardId(0)) {
        let client = NodeClient::new(NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone()))
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
        match client.get_settings(&node_index).await {
            Ok(settings) => return Ok(settings),
            Err(error) => last_error = Some(error),
        }
    }
    let reason = last_error.map_or_else(|| "no replica holds shard-0".to_owned(), |e| e.to_string());
    Err(GatewayError::Meili(
        ResponseError::new(Code::Internal, format!("No replica of index `{uid}` could be read: {reason}")).with_http_status(503),
    ))
}

/// `GET /indexes/{uid}/settings`.
pub async fn get_all(State(state): State<AppState>, Path(uid): Path<String>) -> Result<Json<Value>, GatewayError> {
    node_settings(&state, &uid).await.map(Json)
}

/// `GET /indexes/{uid}/settings/{name}`.
pub async fn get_one(State(state): State<AppState>, Path((uid, route)): Path<(String, String)>) -> Result<axum::response::Response, GatewayError> {
    use axum::response::IntoResponse;
    let Some(setting) = by_route(&route) else { return Ok(axum::http::StatusCode::NOT_FOUND.into_response()) };
    let settings = node_settings(&state, &uid).await?;
    Ok(Json(settings.get(setting.name).cloned().unwrap_or(Value::Null)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transcript_settings_errors() {
        let invalid = check_settings(&json!({"rankingRules": ["nonsense"]})).unwrap_err();
        assert_eq!(invalid.code, "invalid_settings_ranking_rules");
        assert_eq!(
            invalid.message,
            "Invalid value at `.rankingRules[0]`: `nonsense` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."
        );
        let unknown = check_settings(&json!({"notASetting": 1})).unwrap_err();
        assert_eq!(unknown.code, "bad_request");
        assert_eq!(
            unknown.message,
            "Unknown field `notASetting`: expected one of `displayedAttributes`, `searchableAttributes`, `filterableAttributes`, `sortableAttributes`, `foreignKeys`, `rankingRules`, `stopWords`, `nonSeparatorTokens`, `separatorTokens`, `dictionary`, `synonyms`, `distinctAttribute`, `proximityPrecision`, `typoTolerance`, `faceting`, `pagination`, `embedders`, `searchCutoffMs`, `localizedAttributes`, `facetSearch`, `prefixSearch`, `chat`"
        );
    }

    #[test]
    fn values_are_type_checked_per_setting() {
        let ok = json!({"searchableAttributes": ["name"], "filterableAttributes": ["a", {"attributePatterns": ["b"]}],
                        "rankingRules": ["words", "release_date:desc"], "synonyms": {"a": ["b"]}, "distinctAttribute": null,
                        "typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}}, "searchCutoffMs": 150, "facetSearch": true,
                        "proximityPrecision": "byWord"});
        assert_eq!(check_settings(&ok).unwrap().len(), 9);
        let bad = check_settings(&json!({"displayedAttributes": "name"})).unwrap_err();
        assert_eq!(bad.code, "invalid_settings_displayed_attributes");
        assert_eq!(bad.message, "Invalid value type at `.displayedAttributes`: expected an array, but found a string: `\"name\"`");
        assert_eq!(check_settings(&json!({"synonyms": {"a": [1]}})).unwrap_err().code, "invalid_settings_synonyms");
        assert_eq!(check_settings(&json!({"proximityPrecision": "x"})).unwrap_err().code, "invalid_settings_proximity_precision");
    }

    #[test]
    fn every_setting_has_a_route_and_the_right_verb() {
        assert!(by_route("typo-tolerance").unwrap().patch);
        assert!(!by_route("filterable-attributes").unwrap().patch);
        assert_eq!(by_route("search-cutoff-ms").unwrap().name, "searchCutoffMs");
        assert_eq!(SETTINGS.len(), 22);
    }
}

//! Index settings: Meilisearch 1.50's defaults, validation of an update, and applying it.

use serde_json::{json, Map, Value};

use super::error::{ApiError, ApiResult};
use miroir_schemas::error::Code;

/// Every field `PATCH /settings` accepts, in Meilisearch's order (the unknown-field message lists them so).
pub const SETTING_FIELDS: &[&str] = &[
    "displayedAttributes",
    "searchableAttributes",
    "filterableAttributes",
    "sortableAttributes",
    "foreignKeys",
    "rankingRules",
    "stopWords",
    "nonSeparatorTokens",
    "separatorTokens",
    "dictionary",
    "synonyms",
    "distinctAttribute",
    "proximityPrecision",
    "typoTolerance",
    "faceting",
    "pagination",
    "embedders",
    "searchCutoffMs",
    "localizedAttributes",
    "facetSearch",
    "prefixSearch",
    "chat",
];

/// Fields accepted on update but not shown by `GET /settings` (EE / experimental).
const HIDDEN_FIELDS: &[&str] = &["foreignKeys", "chat"];

/// The settings of a fresh index, exactly as `GET /indexes/{uid}/settings` shows them.
pub fn defaults() -> Map<String, Value> {
    let value = json!({
        "displayedAttributes": ["*"],
        "searchableAttributes": ["*"],
        "filterableAttributes": [],
        "sortableAttributes": [],
        "rankingRules": ["words", "typo", "proximity", "attributeRank", "sort", "wordPosition", "exactness"],
        "stopWords": [],
        "nonSeparatorTokens": [],
        "separatorTokens": [],
        "dictionary": [],
        "synonyms": {},
        "distinctAttribute": null,
        "proximityPrecision": "byWord",
        "typoTolerance": {
            "enabled": true,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
            "disableOnWords": [],
            "disableOnAttributes": [],
            "disableOnNumbers": false
        },
        "faceting": {"maxValuesPerFacet": 100, "sortFacetValuesBy": {"*": "alpha"}},
        "pagination": {"maxTotalHits": 1000},
        "embedders": {},
        "searchCutoffMs": null,
        "localizedAttributes": null,
        "facetSearch": true,
        "prefixSearch": "indexingTime"
    });
    match value {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// `filterable-attributes` → `filterableAttributes`.
pub fn field_from_route(segment: &str) -> Option<&'static str> {
    let mut camel = String::new();
    let mut upper = false;
    for c in segment.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            camel.extend(c.to_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    SETTING_FIELDS
        .iter()
        .copied()
        .find(|f| *f == camel && !HIDDEN_FIELDS.contains(f))
}

fn code_for(field: &str) -> Code {
    match field {
        "displayedAttributes" => Code::InvalidSettingsDisplayedAttributes,
        "searchableAttributes" => Code::InvalidSettingsSearchableAttributes,
        "filterableAttributes" => Code::InvalidSettingsFilterableAttributes,
        "sortableAttributes" => Code::InvalidSettingsSortableAttributes,
        "foreignKeys" => Code::InvalidSettingsForeignKeys,
        "rankingRules" => Code::InvalidSettingsRankingRules,
        "stopWords" => Code::InvalidSettingsStopWords,
        "nonSeparatorTokens" => Code::InvalidSettingsNonSeparatorTokens,
        "separatorTokens" => Code::InvalidSettingsSeparatorTokens,
        "dictionary" => Code::InvalidSettingsDictionary,
        "synonyms" => Code::InvalidSettingsSynonyms,
        "distinctAttribute" => Code::InvalidSettingsDistinctAttribute,
        "proximityPrecision" => Code::InvalidSettingsProximityPrecision,
        "typoTolerance" => Code::InvalidSettingsTypoTolerance,
        "faceting" => Code::InvalidSettingsFaceting,
        "pagination" => Code::InvalidSettingsPagination,
        "embedders" => Code::InvalidSettingsEmbedders,
        "searchCutoffMs" => Code::InvalidSettingsSearchCutoffMs,
        "localizedAttributes" => Code::InvalidSettingsLocalizedAttributes,
        "facetSearch" => Code::InvalidSettingsFacetSearch,
        "prefixSearch" => Code::InvalidSettingsPrefixSearch,
        _ => Code::InvalidSettingsIndexChat,
    }
}

const BUILTIN_RULES: &[&str] =
    &["words", "typo", "proximity", "attribute", "attributeRank", "wordPosition", "sort", "exactness"];

fn valid_ranking_rule(rule: &str) -> bool {
    if BUILTIN_RULES.contains(&rule) {
        return true;
    }
    match rule.rsplit_once(':') {
        Some((field, dir)) => !field.is_empty() && (dir == "asc" || dir == "desc"),
        None => false,
    }
}

/// Checks one setting's value and returns it normalized as Meilisearch stores it (sets sorted).
/// `null` means "reset" and is always valid.
fn validate_field(field: &str, value: &Value) -> ApiResult<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let code = code_for(field);
    let string_list = |value: &Value| -> ApiResult<Vec<String>> {
        let Value::Array(items) = value else {
            return Err(ApiError::invalid_type(code, field, "an array", value));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(str::to_owned).ok_or_else(|| {
                    ApiError::invalid_type(code, &format!("{field}[{i}]"), "a string", item)
                })
            })
            .collect()
    };
    match field {
        "displayedAttributes" | "searchableAttributes" | "nonSeparatorTokens"
        | "separatorTokens" | "dictionary" => Ok(json!(string_list(value)?)),
        "sortableAttributes" | "stopWords" => {
            let mut list = string_list(value)?;
            list.sort();
            list.dedup();
            Ok(json!(list))
        }
        "filterableAttributes" => {
            let Value::Array(items) = value else {
                return Err(ApiError::invalid_type(code, field, "an array", value));
            };
            for (i, item) in items.iter().enumerate() {
                let ok = item.is_string()
                    || item.get("attributePatterns").is_some_and(Value::is_array);
                if !ok {
                    return Err(ApiError::invalid_type(code, &format!("{field}[{i}]"), "a string", item));
                }
            }
            Ok(value.clone())
        }
        "rankingRules" => {
            let rules = string_list(value)?;
            if let Some((i, bad)) = rules.iter().enumerate().find(|(_, r)| !valid_ranking_rule(r)) {
                return Err(ApiError::new(code, format!(
                    "Invalid value at `.rankingRules[{i}]`: `{bad}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."
                )));
            }
            Ok(json!(rules))
        }
        "distinctAttribute" | "proximityPrecision" | "prefixSearch" => match value {
            Value::String(_) => Ok(value.clone()),
            other => Err(ApiError::invalid_type(code, field, "a string", other)),
        },
        "facetSearch" => match value {
            Value::Bool(_) => Ok(value.clone()),
            other => Err(ApiError::invalid_type(code, field, "a boolean", other)),
        },
        "searchCutoffMs" => match value {
            Value::Number(n) if n.is_u64() => Ok(value.clone()),
            other => Err(ApiError::invalid_type(code, field, "a positive integer", other)),
        },
        "synonyms" | "typoTolerance" | "faceting" | "pagination" | "embedders" | "chat" => {
            match value {
                Value::Object(_) => Ok(value.clone()),
                other => Err(ApiError::invalid_type(code, field, "an object", other)),
            }
        }
        _ => Ok(value.clone()),
    }
}

/// Validates a whole `PATCH /settings` body; returns the normalized patch (also the task details).
pub fn validate_patch(body: &Value) -> ApiResult<Map<String, Value>> {
    let Value::Object(fields) = body else {
        return Err(ApiError::new(
            Code::BadRequest,
            format!("Invalid value type: expected an object, but found {}: `{body}`", super::error::json_kind(body)),
        ));
    };
    let mut patch = Map::new();
    for (field, value) in fields {
        if !SETTING_FIELDS.contains(&field.as_str()) {
            return Err(ApiError::unknown_field(field, SETTING_FIELDS));
        }
        patch.insert(field.clone(), validate_field(field, value)?);
    }
    Ok(patch)
}

/// Object settings are merged member by member (recursively); others are replaced; `null`
/// resets to the default.
pub fn apply_patch(current: &mut Map<String, Value>, patch: &Map<String, Value>) {
    let defaults = defaults();
    for (field, value) in patch {
        if HIDDEN_FIELDS.contains(&field.as_str()) {
            continue;
        }
        let default = defaults.get(field).cloned().unwrap_or(Value::Null);
        match (value, current.get_mut(field)) {
            (Value::Null, _) => {
                current.insert(field.clone(), default);
            }
            (Value::Object(update), Some(Value::Object(existing)))
                if matches!(field.as_str(), "typoTolerance" | "faceting" | "pagination") =>
            {
                merge_objects(existing, update, default.as_object());
            }
            _ => {
                current.insert(field.clone(), value.clone());
            }
        }
    }
}

fn merge_objects(existing: &mut Map<String, Value>, update: &Map<String, Value>, default: Option<&Map<String, Value>>) {
    for (key, value) in update {
        let default_member = default.and_then(|d| d.get(key));
        match (value, existing.get_mut(key)) {
            (Value::Null, _) => {
                existing.insert(key.clone(), default_member.cloned().unwrap_or(Value::Null));
            }
            (Value::Object(inner), Some(Value::Object(target))) if key != "sortFacetValuesBy" => {
                merge_objects(target, inner, default_member.and_then(Value::as_object));
            }
            (Value::Object(inner), Some(Value::Object(target))) => {
                for (k, v) in inner {
                    target.insert(k.clone(), v.clone());
                }
            }
            _ => {
                existing.insert(key.clone(), value.clone());
            }
        }
    }
}

/// A view of the settings the search and filter code reads.
pub struct View<'a>(pub &'a Map<String, Value>);

impl<'a> View<'a> {
    pub fn strings(&self, field: &str) -> Vec<String> {
        self.0
            .get(field)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// Filterable attribute patterns (strings, or the `attributePatterns` of object entries).
    pub fn filterable_patterns(&self) -> Vec<String> {
        let mut out = Vec::new();
        for item in self.0.get("filterableAttributes").and_then(Value::as_array).into_iter().flatten() {
            match item {
                Value::String(s) => out.push(s.clone()),
                Value::Object(o) => out.extend(
                    o.get("attributePatterns")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_owned)),
                ),
                _ => {}
            }
        }
        out
    }

    /// An object-valued setting (`embedders`, `faceting`, …).
    pub fn object(&self, field: &str) -> Option<&'a Map<String, Value>> {
        self.0.get(field).and_then(Value::as_object)
    }

    pub fn ranking_rules(&self) -> Vec<String> {
        self.strings("rankingRules")
    }

    pub fn distinct_attribute(&self) -> Option<String> {
        self.0.get("distinctAttribute").and_then(Value::as_str).map(str::to_owned)
    }

    pub fn max_total_hits(&self) -> usize {
        self.0
            .get("pagination")
            .and_then(|p| p.get("maxTotalHits"))
            .and_then(Value::as_u64)
            .unwrap_or(1000) as usize
    }

    pub fn max_values_per_facet(&self) -> usize {
        self.0
            .get("faceting")
            .and_then(|p| p.get("maxValuesPerFacet"))
            .and_then(Value::as_u64)
            .unwrap_or(100) as usize
    }

    /// Whether the facet's values are sorted by count (else alphabetically).
    pub fn facet_sorted_by_count(&self, facet: &str) -> bool {
        let by = self.0.get("faceting").and_then(|f| f.get("sortFacetValuesBy"));
        let order = by
            .and_then(|b| b.get(facet))
            .or_else(|| by.and_then(|b| b.get("*")))
            .and_then(Value::as_str);
        order == Some("count")
    }

    pub fn typo_tolerance(&self) -> TypoSettings {
        let t = self.0.get("typoTolerance");
        let get = |path: &[&str]| {
            let mut v = t;
            for p in path {
                v = v.and_then(|x| x.get(*p));
            }
            v
        };
        TypoSettings {
            enabled: get(&["enabled"]).and_then(Value::as_bool).unwrap_or(true),
            one_typo: get(&["minWordSizeForTypos", "oneTypo"]).and_then(Value::as_u64).unwrap_or(5) as usize,
            two_typos: get(&["minWordSizeForTypos", "twoTypos"]).and_then(Value::as_u64).unwrap_or(9) as usize,
            disable_on_words: get(&["disableOnWords"])
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_lowercase)).collect())
                .unwrap_or_default(),
            disable_on_attributes: get(&["disableOnAttributes"])
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            disable_on_numbers: get(&["disableOnNumbers"]).and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TypoSettings {
    pub enabled: bool,
    pub one_typo: usize,
    pub two_typos: usize,
    pub disable_on_words: Vec<String>,
    pub disable_on_attributes: Vec<String>,
    pub disable_on_numbers: bool,
}

/// Whether `field` (a dotted path) is covered by `pattern`: equal, a parent object of it,
/// or a `*` wildcard pattern matching it.
pub fn pattern_covers(pattern: &str, field: &str) -> bool {
    if pattern == "*" || pattern == field {
        return true;
    }
    if field.starts_with(pattern) && field[pattern.len()..].starts_with('.') {
        return true;
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return field.starts_with(prefix);
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return field.ends_with(suffix);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_tolerance_patch_merges_nested_members() {
        let mut s = defaults();
        let patch = validate_patch(&json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4}}})).unwrap();
        apply_patch(&mut s, &patch);
        let t = View(&s).typo_tolerance();
        assert_eq!((t.one_typo, t.two_typos, t.enabled), (4, 9, true));
        apply_patch(&mut s, &validate_patch(&json!({"typoTolerance": null})).unwrap());
        assert_eq!(s, defaults());
    }

    #[test]
    fn sortable_attributes_are_stored_sorted() {
        let patch = validate_patch(&json!({"sortableAttributes": ["b", "a", "b"]})).unwrap();
        assert_eq!(patch["sortableAttributes"], json!(["a", "b"]));
    }

    #[test]
    fn route_segments_map_to_fields() {
        assert_eq!(field_from_route("typo-tolerance"), Some("typoTolerance"));
        assert_eq!(field_from_route("search-cutoff-ms"), Some("searchCutoffMs"));
        assert_eq!(field_from_route("chat"), None);
        assert_eq!(field_from_route("nope"), None);
    }

    #[test]
    fn patterns_cover_nested_and_wildcards() {
        assert!(pattern_covers("a", "a.b"));
        assert!(!pattern_covers("a", "ab"));
        assert!(pattern_covers("a*", "ab"));
        assert!(pattern_covers("*", "x"));
    }
}

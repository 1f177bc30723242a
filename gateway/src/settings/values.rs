//! One reader per setting: the shape Meilisearch 1.50 accepts for it, checked with its
//! messages. A `null` top-level value (reset) is handled by the caller.

use serde_json::Value;

use super::check::{nullable, At, Checked, Reader};
use super::locales::LOCALES;
use crate::request_errors::Kind;

/// The reader of the setting named `name` (one of [`super::fields::FIELDS`]).
pub fn reader(name: &str) -> Reader {
    match name {
        "displayedAttributes" | "searchableAttributes" => |at, v| Ok(Value::from(at.string_list(v)?)),
        "filterableAttributes" => filterable_attributes,
        "sortableAttributes" | "stopWords" | "nonSeparatorTokens" | "separatorTokens" | "dictionary" => |at, v| at.string_set(v),
        "foreignKeys" => foreign_keys,
        "rankingRules" => ranking_rules,
        "synonyms" => |at, v| at.map_of(v, |at, list| Ok(Value::from(at.string_list(list)?))),
        "distinctAttribute" => |at, v| Ok(Value::from(at.string(v)?)),
        "proximityPrecision" => |at, v| at.variant(v, &["byWord", "byAttribute"]),
        "typoTolerance" => typo_tolerance,
        "faceting" => faceting,
        "pagination" => |at, v| {
            Ok(Value::Object(at.object(v, &[("maxTotalHits", |at, v| nullable(at, v, |at, v| Ok(at.non_zero(v)?.into())))], &[])?))
        },
        "embedders" => embedders,
        "searchCutoffMs" => |at, v| Ok(at.unsigned(v, u64::MAX)?.into()),
        "localizedAttributes" => localized_attributes,
        "facetSearch" => |at, v| at.boolean(v),
        "prefixSearch" => |at, v| at.variant(v, &["indexingTime", "disabled"]),
        "chat" => chat,
        other => unreachable!("`{other}` is not a setting"),
    }
}

fn boolean(at: &At, value: &Value) -> Checked {
    at.boolean(value)
}

fn nullable_boolean(at: &At, value: &Value) -> Checked {
    nullable(at, value, boolean)
}

fn nullable_usize(at: &At, value: &Value) -> Checked {
    nullable(at, value, |at, v| Ok(at.unsigned(v, u64::MAX)?.into()))
}

fn nullable_string(at: &At, value: &Value) -> Checked {
    nullable(at, value, |at, v| Ok(at.string(v)?.into()))
}

fn nullable_string_set(at: &At, value: &Value) -> Checked {
    nullable(at, value, |at, v| at.string_set(v))
}

fn string_list(at: &At, value: &Value) -> Checked {
    Ok(Value::from(at.string_list(value)?))
}

/// `["genre", {"attributePatterns": ["a*"], "features": {"facetSearch": true, "filter": {…}}}]`.
fn filterable_attributes(at: &At, value: &Value) -> Checked {
    let rules = at.array(value)?;
    let mut read = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let at = at.index(i);
        read.push(if rule.is_object() {
            Value::Object(at.object(
                rule,
                &[("attributePatterns", string_list), ("features", filterable_features)],
                &["attributePatterns"],
            )?)
        } else {
            Value::from(at.string(rule)?)
        });
    }
    Ok(Value::from(read))
}

fn filterable_features(at: &At, value: &Value) -> Checked {
    let filter: Reader = |at, v| Ok(Value::Object(at.object(v, &[("equality", boolean), ("comparison", boolean)], &[])?));
    Ok(Value::Object(at.object(value, &[("facetSearch", boolean), ("filter", filter)], &[])?))
}

fn foreign_keys(at: &At, value: &Value) -> Checked {
    let string: Reader = |at, v| Ok(at.string(v)?.into());
    let keys = at.array(value)?;
    let mut read = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        let fields = [("foreignIndexUid", string), ("fieldName", string)];
        read.push(Value::Object(at.index(i).object(key, &fields, &["foreignIndexUid", "fieldName"])?));
    }
    Ok(Value::from(read))
}

const BUILTIN_RULES: [&str; 8] = ["words", "typo", "proximity", "attribute", "attributeRank", "wordPosition", "sort", "exactness"];
const RESERVED_FIELDS: [&str; 7] = ["_geo", "_geojson", "_geoDistance", "_geoPoint", "_geoRadius", "_geoBoundingBox", "_geoPolygon"];

/// Why `rule` is not a ranking rule, in milli's words.
pub fn ranking_rule_error(rule: &str) -> Option<String> {
    if BUILTIN_RULES.contains(&rule) {
        return None;
    }
    let invalid = || {
        format!("`{rule}` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules.")
    };
    let field = match rule.rsplit_once(':') {
        Some((field, "asc" | "desc")) => field,
        _ => return Some(invalid()),
    };
    let reserved_for = |name: &str, usage: &str| {
        format!(
            "`{name}` is a reserved keyword and thus can't be used as a ranking rule. `{name}` can only be used for {usage} at search time"
        )
    };
    if field.starts_with("_geoPoint(") && field.ends_with(')') {
        return Some(reserved_for("_geoPoint", "sorting"));
    }
    if field.starts_with("_geoRadius") {
        return Some(reserved_for("_geoRadius", "filtering"));
    }
    if field.starts_with("_geoBoundingBox") {
        return Some(reserved_for("_geoBoundingBox", "filtering"));
    }
    if field.starts_with("_geoPoint") {
        return Some(reserved_for("_geoPoint", "sorting"));
    }
    if RESERVED_FIELDS.contains(&field) || field.starts_with("_geo(") || field.starts_with("_geoDistance(") {
        return Some(format!("`{field}` is a reserved keyword and thus can't be used as a ranking rule"));
    }
    None
}

fn ranking_rules(at: &At, value: &Value) -> Checked {
    let rules = at.array(value)?;
    for (i, rule) in rules.iter().enumerate() {
        let at = at.index(i);
        let text = at.string(rule)?;
        if let Some(message) = ranking_rule_error(&text) {
            return Err(at.invalid(&message));
        }
    }
    Ok(value.clone())
}

/// milli's check run after reading: `attribute` cannot be mixed with its two halves.
pub const MIXED_ATTRIBUTE_RULES: &str = "Mixed usage of the attribute, attributeRank, and wordPosition ranking rules. You must either use the attribute ranking rule alone or the attributeRank and wordPosition ranking rules.";

pub fn mixes_attribute_rules(rules: &Value) -> bool {
    let rules: Vec<&str> = rules.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    rules.contains(&"attribute") && rules.iter().any(|rule| matches!(*rule, "attributeRank" | "wordPosition"))
}

fn typo_tolerance(at: &At, value: &Value) -> Checked {
    let fields: [(&str, Reader); 5] = [
        ("enabled", nullable_boolean),
        ("minWordSizeForTypos", |at, v| nullable(at, v, min_word_size)),
        ("disableOnWords", nullable_string_set),
        ("disableOnAttributes", nullable_string_set),
        ("disableOnNumbers", nullable_boolean),
    ];
    Ok(Value::Object(at.object(value, &fields, &[])?))
}

fn min_word_size(at: &At, value: &Value) -> Checked {
    let size: Reader = |at, v| nullable(at, v, |at, v| Ok(at.unsigned(v, u64::from(u8::MAX))?.into()));
    let sizes = at.object(value, &[("oneTypo", size), ("twoTypos", size)], &[])?;
    if let (Some(one), Some(two)) = (sizes.get("oneTypo").and_then(Value::as_u64), sizes.get("twoTypos").and_then(Value::as_u64)) {
        if one > two {
            return Err(at.invalid(&format!("`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between `0` and `255`, and `twoTypos` should be greater or equals to `oneTypo` but found `oneTypo: {one}` and twoTypos: {two}`.")));
        }
    }
    Ok(Value::Object(sizes))
}

fn faceting(at: &At, value: &Value) -> Checked {
    let sort_by: Reader = |at, v| nullable(at, v, |at, v| at.map_of(v, |at, order| at.variant(order, &["alpha", "count"])));
    Ok(Value::Object(at.object(value, &[("maxValuesPerFacet", nullable_usize), ("sortFacetValuesBy", sort_by)], &[])?))
}

/// The fields of one embedder, in declaration order.
const EMBEDDER_FIELDS: [&str; 18] = [
    "source",
    "model",
    "revision",
    "pooling",
    "apiKey",
    "dimensions",
    "binaryQuantized",
    "documentTemplate",
    "documentTemplateMaxBytes",
    "url",
    "indexingFragments",
    "searchFragments",
    "request",
    "response",
    "headers",
    "searchEmbedder",
    "indexingEmbedder",
    "distribution",
];

/// Embedders are checked for shape (a map of objects or `null`, known fields, known source);
/// the finer rules of each source are left to the nodes, which fail the task with their error.
fn embedders(at: &At, value: &Value) -> Checked {
    at.map_of(value, |at, embedder| {
        if embedder.is_null() {
            return Ok(Value::Null);
        }
        let object = embedder.as_object().ok_or_else(|| at.wrong_type(&[Kind::Map], embedder))?;
        if let Some(key) = object.keys().find(|key| !EMBEDDER_FIELDS.contains(&key.as_str())) {
            return Err(at.error(crate::request_errors::unknown_field(&at.path, key, &EMBEDDER_FIELDS)));
        }
        if let Some(source) = object.get("source").filter(|source| !source.is_null()) {
            at.key("source").variant(source, &["openAi", "huggingFace", "ollama", "userProvided", "rest", "composite"])?;
        }
        let mut ordered = serde_json::Map::new();
        for name in EMBEDDER_FIELDS {
            if let Some(field) = object.get(name) {
                ordered.insert(name.to_owned(), field.clone());
            }
        }
        Ok(Value::Object(ordered))
    })
}

fn localized_attributes(at: &At, value: &Value) -> Checked {
    let rules = at.array(value)?;
    let mut read = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let locales: Reader = |at, v| {
            let list = at.array(v)?;
            for (i, locale) in list.iter().enumerate() {
                at.index(i).variant(locale, &LOCALES)?;
            }
            Ok(v.clone())
        };
        let fields: [(&str, Reader); 2] = [("attributePatterns", string_list), ("locales", locales)];
        read.push(Value::Object(at.index(i).object(rule, &fields, &["attributePatterns", "locales"])?));
    }
    Ok(Value::from(read))
}

/// Chat settings are checked for shape; applying them needs an experimental feature anyway.
fn chat(at: &At, value: &Value) -> Checked {
    let any_object: Reader =
        |at, v| nullable(at, v, |at, v| v.as_object().map(|_| v.clone()).ok_or_else(|| at.wrong_type(&[Kind::Map], v)));
    let fields: [(&str, Reader); 4] = [
        ("description", nullable_string),
        ("documentTemplate", nullable_string),
        ("documentTemplateMaxBytes", nullable_usize),
        ("searchParameters", any_object),
    ];
    Ok(Value::Object(at.object(value, &fields, &[])?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranking_rules_are_judged_like_milli() {
        for rule in ["words", "attributeRank", "price:asc", "release_date:desc", "a:b:desc"] {
            assert_eq!(ranking_rule_error(rule), None, "{rule}");
        }
        assert_eq!(
            ranking_rule_error("nonsense").unwrap(),
            "`nonsense` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."
        );
        assert_eq!(ranking_rule_error("_geo:asc").unwrap(), "`_geo` is a reserved keyword and thus can't be used as a ranking rule");
        assert_eq!(
            ranking_rule_error("_geoPoint(1, 2):asc").unwrap(),
            "`_geoPoint` is a reserved keyword and thus can't be used as a ranking rule. `_geoPoint` can only be used for sorting at search time"
        );
        assert_eq!(
            ranking_rule_error("_geoRadius(1,2,3):desc").unwrap(),
            "`_geoRadius` is a reserved keyword and thus can't be used as a ranking rule. `_geoRadius` can only be used for filtering at search time"
        );
        assert!(mixes_attribute_rules(&serde_json::json!(["attribute", "wordPosition"])));
        assert!(!mixes_attribute_rules(&serde_json::json!(["attributeRank", "wordPosition"])));
    }

    proptest! {
        /// Any `field:asc`/`field:desc` on a plain field name is a custom ranking rule.
        #[test]
        fn custom_rules_on_plain_fields_are_valid(field in "[a-z][a-z0-9_.]{0,20}", desc in any::<bool>()) {
            let rule = format!("{field}:{}", if desc { "desc" } else { "asc" });
            prop_assert_eq!(ranking_rule_error(&rule), None);
        }

        /// A word that is neither built in nor ends in `:asc`/`:desc` is refused.
        #[test]
        fn other_words_are_refused(word in "[a-zA-Z]{1,12}") {
            prop_assume!(!BUILTIN_RULES.contains(&word.as_str()));
            prop_assert!(ranking_rule_error(&word).is_some());
        }
    }
}

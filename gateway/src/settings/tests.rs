use super::*;
use proptest::prelude::*;
use serde_json::json;

fn error(body: Value) -> (String, String) {
    let error = parse_settings(&body).unwrap_err();
    (error.code, error.message)
}

fn one_error(route: &str, body: Value) -> (String, String) {
    let error = parse_one(fields::by_route(route).unwrap(), &body).unwrap_err();
    (error.code, error.message)
}

#[test]
fn transcript_errors() {
    assert_eq!(
        error(json!({"rankingRules": ["nonsense"]})),
        (
            "invalid_settings_ranking_rules".into(),
            "Invalid value at `.rankingRules[0]`: `nonsense` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules.".into()
        )
    );
    let (code, message) = error(json!({"notASetting": 1}));
    assert_eq!(code, "bad_request");
    assert_eq!(message, "Unknown field `notASetting`: expected one of `displayedAttributes`, `searchableAttributes`, `filterableAttributes`, `sortableAttributes`, `foreignKeys`, `rankingRules`, `stopWords`, `nonSeparatorTokens`, `separatorTokens`, `dictionary`, `synonyms`, `distinctAttribute`, `proximityPrecision`, `typoTolerance`, `faceting`, `pagination`, `embedders`, `searchCutoffMs`, `localizedAttributes`, `facetSearch`, `prefixSearch`, `chat`");
}

#[test]
fn wrong_types_carry_the_field_code_and_location() {
    assert_eq!(
        error(json!({"sortableAttributes": "name"})),
        (
            "invalid_settings_sortable_attributes".into(),
            "Invalid value type at `.sortableAttributes`: expected an array, but found a string: `\"name\"`".into()
        )
    );
    assert_eq!(
        error(json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": "5"}}})),
        (
            "invalid_settings_typo_tolerance".into(),
            "Invalid value type at `.typoTolerance.minWordSizeForTypos.oneTypo`: expected a positive integer, but found a string: `\"5\"`"
                .into()
        )
    );
    assert_eq!(
        error(json!({"typoTolerance": {"minWordSizeForTypos": {"oneTypo": 9, "twoTypos": 5}}})).1,
        "Invalid value at `.typoTolerance.minWordSizeForTypos`: `minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between `0` and `255`, and `twoTypos` should be greater or equals to `oneTypo` but found `oneTypo: 9` and twoTypos: 5`."
    );
    assert_eq!(
        error(json!({"typoTolerance": {"enabeld": true}})).1,
        "Unknown field `enabeld` inside `.typoTolerance`: did you mean `enabled`? expected one of `enabled`, `minWordSizeForTypos`, `disableOnWords`, `disableOnAttributes`, `disableOnNumbers`"
    );
    assert_eq!(
        error(json!({"proximityPrecision": "byWords"})),
        (
            "invalid_settings_proximity_precision".into(),
            "Unknown value `byWords` at `.proximityPrecision`: did you mean `byWord`? expected one of `byWord`, `byAttribute`".into()
        )
    );
    assert_eq!(error(json!({"pagination": {"maxTotalHits": 0}})).0, "invalid_settings_pagination");
    assert_eq!(
        error(json!({"searchCutoffMs": -1})).1,
        "Invalid value type at `.searchCutoffMs`: expected a positive integer, but found a negative integer: `-1`"
    );
    assert_eq!(error(json!({"facetSearch": "yes"})).0, "invalid_settings_facet_search");
    assert_eq!(
        error(json!({"localizedAttributes": [{"attributePatterns": ["*_ja"]}]})).1,
        "Missing field `locales` inside `.localizedAttributes[0]`"
    );
    assert_eq!(
        error(json!({"filterableAttributes": [{"attributePatterns": ["a"], "features": {"filter": {"equality": "x"}}}]})).1,
        "Invalid value type at `.filterableAttributes[0].features.filter.equality`: expected a boolean, but found a string: `\"x\"`"
    );
    assert_eq!(error(json!([])), ("bad_request".into(), "Invalid value type: expected an object, but found an array: `[]`".into()));
}

#[test]
fn the_first_error_in_body_order_wins() {
    assert_eq!(error(json!({"stopWords": 1, "nope": 2})).0, "invalid_settings_stop_words");
    assert_eq!(error(json!({"nope": 2, "stopWords": 1})).0, "bad_request");
}

#[test]
fn sub_routes_locate_errors_from_their_root() {
    assert_eq!(
        one_error("ranking-rules", json!(["words", "nonsense"])).1,
        "Invalid value at `[1]`: `nonsense` ranking rule is invalid. Valid ranking rules are words, typo, sort, proximity, attribute, exactness and custom ranking rules."
    );
    assert_eq!(
        one_error("sortable-attributes", json!({"a": 1})),
        ("invalid_settings_sortable_attributes".into(), "Invalid value type: expected an array, but found an object: `{\"a\":1}`".into())
    );
    assert_eq!(one_error("typo-tolerance", json!({"x": 1})).0, "invalid_settings_typo_tolerance");
}

#[test]
fn features_and_milli_rules_come_after_reading() {
    assert_eq!(error(json!({"chat": {"description": "d"}})).0, "feature_not_enabled");
    assert_eq!(
        error(json!({"foreignKeys": [{"foreignIndexUid": "a", "fieldName": "b"}]})).1,
        "setting `foreignKeys` in the index settings requires enabling the `foreign_keys` experimental feature. See https://github.com/orgs/meilisearch/discussions/873"
    );
    assert_eq!(error(json!({"rankingRules": ["attribute", "attributeRank"]})).1, values::MIXED_ATTRIBUTE_RULES);
    assert!(parse_settings(&json!({"chat": null, "foreignKeys": null})).is_ok(), "resetting needs no feature");
}

#[test]
fn updates_are_normalized_like_meilisearch_details() {
    let update = parse_settings(&json!({
        "sortableAttributes": ["name", "download_size", "name"],
        "searchableAttributes": ["b", "a"],
        "typoTolerance": {"disableOnNumbers": true, "minWordSizeForTypos": {"twoTypos": 8, "oneTypo": 4}},
        "synonyms": {"b": ["x"], "a": ["y"]},
        "displayedAttributes": null,
        "embedders": {"default": {"apiKey": "sk-0123456789abcdefghijklmnop", "source": "openAi"}}
    }))
    .unwrap();
    assert_eq!(
        Value::Object(update.clone()),
        json!({
            "displayedAttributes": null,
            "searchableAttributes": ["b", "a"],
            "sortableAttributes": ["download_size", "name"],
            "synonyms": {"a": ["y"], "b": ["x"]},
            "typoTolerance": {"minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 8}, "disableOnNumbers": true},
            "embedders": {"default": {"source": "openAi", "apiKey": "sk-0123456789abcdefghijklmnop"}}
        })
    );
    let keys: Vec<&String> = update.keys().collect();
    assert_eq!(keys, ["displayedAttributes", "searchableAttributes", "sortableAttributes", "synonyms", "typoTolerance", "embedders"]);
    let typo_keys: Vec<&String> = update["typoTolerance"].as_object().unwrap().keys().collect();
    assert_eq!(typo_keys, ["minWordSizeForTypos", "disableOnNumbers"]);
    let details = details(&update);
    assert_eq!(details["displayedAttributes"], json!(["*"]));
    assert_eq!(details["embedders"]["default"]["apiKey"], "sk-XXXXX...");
}

#[test]
fn resets() {
    let all = reset_all();
    assert_eq!(all.len(), 22);
    assert!(all.values().all(Value::is_null));
    let field = fields::by_route("stop-words").unwrap();
    assert_eq!(Value::Object(reset_one(field)), json!({"stopWords": null}));
    assert_eq!(Value::Object(parse_one(field, &Value::Null).unwrap()), json!({"stopWords": null}));
    assert_eq!(details(&all)["searchableAttributes"], json!(["*"]));
}

#[test]
fn secrets_are_hidden_by_length() {
    assert_eq!(hide_secret("short"), "XXX...");
    assert_eq!(hide_secret("0123456789ab"), "01XXXX...");
    assert_eq!(hide_secret("0123456789012345678901"), "012XXXXX...");
    assert_eq!(hide_secret(&"a".repeat(40)), "aaaaaXXXXXX...");
}

proptest! {
    /// A checked update checks again to itself: normalizing is idempotent, so replaying a
    /// task's settings (e.g. on a lagging replica) applies the same thing.
    #[test]
    fn normalized_updates_are_fixed_points(
        words in prop::collection::vec("[a-z]{0,6}", 0..8),
        synonyms in prop::collection::btree_map("[a-z]{1,4}", prop::collection::vec("[a-z]{1,4}", 0..3), 0..4),
        cutoff in proptest::option::of(0u64..5000),
        one in 0u8..10, extra in 0u8..10,
    ) {
        let body = json!({
            "stopWords": words, "dictionary": words, "displayedAttributes": words,
            "synonyms": synonyms, "searchCutoffMs": cutoff,
            "typoTolerance": {"minWordSizeForTypos": {"oneTypo": one, "twoTypos": one + extra}},
        });
        let once = parse_settings(&body).unwrap();
        let twice = parse_settings(&Value::Object(once.clone())).unwrap();
        prop_assert_eq!(&once, &twice);
        let stop_words: Vec<&str> = once["stopWords"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
        let mut sorted = stop_words.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(stop_words, sorted);
        prop_assert_eq!(&once["displayedAttributes"], &json!(words), "lists keep their order");
    }

    /// Whatever the body, parsing never panics and an error always carries a settings code or
    /// `bad_request`/`feature_not_enabled`.
    #[test]
    fn any_body_gets_an_answer(body in any_json()) {
        if let Err(error) = parse_settings(&body) {
            prop_assert!(error.code.starts_with("invalid_settings_") || error.code == "bad_request" || error.code == "feature_not_enabled", "{}", error.code);
        }
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z:_*]{0,8}".prop_map(Value::from),
    ];
    let inner = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let names: Vec<&'static str> = fields::names();
    prop::collection::vec((prop::sample::select(names), inner), 0..5)
        .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

use super::*;
use serde_json::json;

fn shard(distribution: Value, stats: Value) -> IndexFacets {
    IndexFacets::parse("movies__rank-0", &json!({"distribution": distribution, "stats": stats})).unwrap()
}

#[test]
fn sums_counts_takes_min_max_and_sorts_alphabetically_by_default() {
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"drama": 2, "action": 1}}), json!({"year": {"min": 1990.0, "max": 2000.0}})), 100);
    merge.add(&shard(json!({"genre": {"comedy": 4, "drama": 1}}), json!({"year": {"min": 1980.0, "max": 1995.0}})), 100);
    let merged = merge.finish(&FacetOrderRules::default(), Some(100), 10);
    assert_eq!(distribution_json(&merged), json!({"genre": {"action": 1, "comedy": 4, "drama": 3}}));
    assert_eq!(serde_json::to_string(&distribution_json(&merged)).unwrap(), r#"{"genre":{"action":1,"comedy":4,"drama":3}}"#);
    assert_eq!(stats_json(&merged), json!({"year": {"min": 1980.0, "max": 2000.0}}));
}

#[test]
fn count_order_is_biggest_first_per_facet_rule_and_truncated() {
    let rules = FacetOrderRules::from_setting(&json!({"*": "alpha", "genre": "count"}));
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"a": 1, "b": 5, "c": 5, "d": 2}, "tag": {"z": 9, "y": 1}}), json!({})), 100);
    let merged = merge.finish(&rules, Some(3), 10);
    assert_eq!(serde_json::to_string(&distribution_json(&merged)).unwrap(), r#"{"genre":{"c":5,"b":5,"d":2},"tag":{"y":1,"z":9}}"#);
}

#[test]
fn removing_a_rejected_hit_decrements_its_values_and_drops_zeros() {
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"Drama": 2, "Comedy": 1}, "year": {"1999": 1}}), json!({})), 100);
    let document = json!({"genre": ["drama", "comedy"]});
    let extra = json!({"year": 1999});
    merge.remove_hit(document.as_object().unwrap(), extra.as_object().unwrap());
    let merged = merge.finish(&FacetOrderRules::default(), None, 10);
    assert_eq!(distribution_json(&merged), json!({"genre": {"Drama": 1}, "year": {}}));
}

#[test]
fn count_order_exactness_detects_values_a_truncated_shard_may_hide() {
    // shard 0 is full (limit 2): values it did not return can have up to 3 there
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"a": 9, "b": 3}}), json!({})), 2);
    merge.add(&shard(json!({"genre": {"a": 1, "c": 2}}), json!({})), 2);
    assert!(!merge.count_order_is_exact("genre", 2), "c could really be 2 + 3");
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"a": 9, "b": 8}}), json!({})), 2);
    merge.add(&shard(json!({"genre": {"a": 1, "b": 1}}), json!({})), 5);
    assert!(merge.count_order_is_exact("genre", 2), "anything hidden has at most 8 < 9");
}

#[test]
fn alphabetical_order_is_numbers_by_displayed_text_then_strings_by_normalized_form() {
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"size": {"10": 1, "100": 1, "9": 2}, "tag": {"apt": 2, "Zlib": 1}}), json!({})), 100);
    merge.add(&shard(json!({"size": {"9.5": 1}, "tag": {"banana": 1, "zlib": 3}}), json!({})), 100);
    let merged = merge.finish(&FacetOrderRules::default(), Some(100), 10);
    assert_eq!(
        serde_json::to_string(&distribution_json(&merged)).unwrap(),
        r#"{"size":{"10":1,"100":1,"9":2,"9.5":1},"tag":{"apt":2,"banana":1,"Zlib":4}}"#
    );
}

#[test]
fn a_number_looking_string_is_listed_after_the_numbers() {
    // a CSV document holds the string "12"; a node lists numbers first, then strings
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"size": {"150": 1, "200": 1, "12": 1, "abc": 1}}), json!({})), 100);
    merge.add(&shard(json!({"size": {"120": 1, "40": 1}}), json!({})), 100);
    assert_eq!(numbers_listed(&[("150".into(), 1), ("200".into(), 1), ("12".into(), 1)]), ["150", "200"]);
    let merged = merge.finish(&FacetOrderRules::default(), Some(4), 10);
    assert_eq!(serde_json::to_string(&distribution_json(&merged)).unwrap(), r#"{"size":{"120":1,"150":1,"200":1,"40":1}}"#);
}

#[test]
fn spellings_that_normalize_alike_count_as_one_value_across_shards() {
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"Drama": 2}}), json!({})), 2);
    merge.add(&shard(json!({"genre": {"drama": 1, "comedy": 5}}), json!({})), 2);
    assert!(merge.count_order_is_exact("genre", 2), "drama was returned by the full shard as Drama");
    let merged = merge.finish(&FacetOrderRules::default(), None, 10);
    assert_eq!(distribution_json(&merged), json!({"genre": {"comedy": 5, "Drama": 3}}));
}

#[test]
fn alphabetical_truncation_follows_the_walk_a_node_takes_for_that_many_candidates() {
    let values = |list: &[&str]| list.iter().map(|v| (v.to_string(), 1)).collect::<Vec<(String, u64)>>();
    let keep_and_order = |values: &mut Vec<(String, u64)>, order, max, candidates| {
        keep_and_order(values, order, max, candidates, |value: &str| value.parse::<f64>().is_ok() && value != "007")
    };
    let shown = |values: &[(String, u64)]| values.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>();
    // few candidates: counted document by document into a map keyed by text
    let mut few = values(&["100", "9", "2", "10", "25"]);
    keep_and_order(&mut few, FacetOrder::Alpha, Some(3), FACET_CANDIDATES_THRESHOLD);
    assert_eq!(shown(&few), ["10", "100", "2"]);
    // many candidates: the numeric database walked in numeric order
    let mut many = values(&["100", "9", "2", "10", "25"]);
    keep_and_order(&mut many, FacetOrder::Alpha, Some(3), FACET_CANDIDATES_THRESHOLD + 1);
    assert_eq!(shown(&many), ["2", "9", "10"]);
    // strings by their normalized form either way (`devel::todo` after `devel::lang:perl`);
    // `007` is a string, not the number 7
    for candidates in [10, 10_000] {
        let mut mixed = values(&["devel::TODO", "devel::lang:perl", "devel::lang:octave", "007"]);
        keep_and_order(&mut mixed, FacetOrder::Alpha, Some(3), candidates);
        assert_eq!(shown(&mixed), ["007", "devel::lang:octave", "devel::lang:perl"]);
    }
}

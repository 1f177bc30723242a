use super::*;
use serde_json::json;

fn shard(distribution: Value, stats: Value) -> IndexFacets {
    IndexFacets::parse("movies__shard-0", &json!({"distribution": distribution, "stats": stats})).unwrap()
}

#[test]
fn sums_counts_takes_min_max_and_sorts_alphabetically_by_default() {
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"drama": 2, "action": 1}}), json!({"year": {"min": 1990.0, "max": 2000.0}})), 100);
    merge.add(&shard(json!({"genre": {"comedy": 4, "drama": 1}}), json!({"year": {"min": 1980.0, "max": 1995.0}})), 100);
    let merged = merge.finish(&FacetOrderRules::default(), Some(100));
    assert_eq!(distribution_json(&merged), json!({"genre": {"action": 1, "comedy": 4, "drama": 3}}));
    assert_eq!(serde_json::to_string(&distribution_json(&merged)).unwrap(), r#"{"genre":{"action":1,"comedy":4,"drama":3}}"#);
    assert_eq!(stats_json(&merged), json!({"year": {"min": 1980.0, "max": 2000.0}}));
}

#[test]
fn count_order_is_biggest_first_per_facet_rule_and_truncated() {
    let rules = FacetOrderRules::from_setting(&json!({"*": "alpha", "genre": "count"}));
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"a": 1, "b": 5, "c": 5, "d": 2}, "tag": {"z": 9, "y": 1}}), json!({})), 100);
    let merged = merge.finish(&rules, Some(3));
    assert_eq!(serde_json::to_string(&distribution_json(&merged)).unwrap(), r#"{"genre":{"c":5,"b":5,"d":2},"tag":{"y":1,"z":9}}"#);
}

#[test]
fn removing_a_rejected_hit_decrements_its_values_and_drops_zeros() {
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"Drama": 2, "Comedy": 1}, "year": {"1999": 1}}), json!({})), 100);
    let document = json!({"genre": ["drama", "comedy"]});
    let extra = json!({"year": 1999});
    merge.remove_hit(document.as_object().unwrap(), extra.as_object().unwrap());
    let merged = merge.finish(&FacetOrderRules::default(), None);
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
fn node_indexes_carry_more_values_than_the_client_sees() {
    assert_eq!(node_max_values_per_facet(100), NODE_MAX_VALUES_PER_FACET_FLOOR);
    assert_eq!(node_max_values_per_facet(5000), 5000);
}

#[test]
fn alphabetical_order_is_by_displayed_text_numbers_included() {
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"size": {"10": 1, "9": 2, "100": 1}, "tag": {"Zlib": 1, "apt": 2}}), json!({})), 100);
    merge.add(&shard(json!({"size": {"9.5": 1}, "tag": {"zlib": 3, "banana": 1}}), json!({})), 100);
    let merged = merge.finish(&FacetOrderRules::default(), Some(100));
    assert_eq!(
        serde_json::to_string(&distribution_json(&merged)).unwrap(),
        r#"{"size":{"10":1,"100":1,"9":2,"9.5":1},"tag":{"Zlib":4,"apt":2,"banana":1}}"#
    );
}

#[test]
fn spellings_that_normalize_alike_count_as_one_value_across_shards() {
    let mut merge = FacetMerge::default();
    merge.add(&shard(json!({"genre": {"Drama": 2}}), json!({})), 2);
    merge.add(&shard(json!({"genre": {"drama": 1, "comedy": 5}}), json!({})), 2);
    assert!(merge.count_order_is_exact("genre", 2), "drama was returned by the full shard as Drama");
    let merged = merge.finish(&FacetOrderRules::default(), None);
    assert_eq!(distribution_json(&merged), json!({"genre": {"comedy": 5, "Drama": 3}}));
}

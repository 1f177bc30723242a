use super::*;
use crate::search::plan::test_parts;
use miroir_schemas::node_layout::ReplicaRank;
use miroir_schemas::topology::ShardId;

fn request(body: Value) -> Map<String, Value> {
    body.as_object().unwrap().clone()
}

#[test]
fn offset_limit_becomes_one_federated_query_per_node_index() {
    let body = request(json!({"q": "star", "offset": 40, "limit": 20, "filter": "year > 2000", "showPerformanceDetails": true}));
    let plan = SearchPlan::new("movies", &body, IndexSearchSettings::default()).unwrap();
    let node = plan.node_request(None, &test_parts(&[0, 2]));
    assert_eq!(
        node.body,
        json!({"federation": {"limit": 60, "offset": 0}, "queries": [
            {"q": "star", "filter": "year > 2000", "indexUid": "movies__rank-0"},
            {"q": "star", "filter": "year > 2000", "indexUid": "movies__rank-2"}]})
    );
    assert_eq!(
        node.origins[1],
        QueryOrigin { query: 0, index_uid: "movies".into(), shard: ShardId(2), rank: ReplicaRank(2), layout: None, narrowed_to: None }
    );
    assert_eq!(plan.merge.pagination.window(), (40, 20));
}

#[test]
fn pages_ask_for_page_one_of_all_preceding_hits_so_nodes_count_exhaustively() {
    let plan = SearchPlan::new("movies", &request(json!({"page": 3, "hitsPerPage": 7})), IndexSearchSettings::default()).unwrap();
    assert_eq!(plan.node_request(None, &test_parts(&[0])).body["federation"], json!({"page": 1, "hitsPerPage": 21}));
    assert_eq!(plan.merge.pagination.window(), (14, 7));
    let page_zero = SearchPlan::new("movies", &request(json!({"page": 0})), IndexSearchSettings::default()).unwrap();
    assert_eq!(page_zero.node_request(None, &test_parts(&[0])).body["federation"], json!({"page": 0, "hitsPerPage": 20}));
    assert_eq!(page_zero.merge.pagination.window(), (0, 0));
}

#[test]
fn node_requests_never_ask_past_max_total_hits() {
    let settings = IndexSearchSettings { max_total_hits: 50, ..IndexSearchSettings::default() };
    let plan = SearchPlan::new("movies", &request(json!({"offset": 40, "limit": 20})), settings).unwrap();
    assert_eq!(plan.node_request(None, &test_parts(&[0])).body["federation"]["limit"], 50);
}

#[test]
fn facets_go_by_node_index_and_distinct_to_the_federation() {
    let settings = IndexSearchSettings { distinct_attribute: Some("sku".into()), ..IndexSearchSettings::default() };
    let plan = SearchPlan::new("movies", &request(json!({"facets": ["genre"], "showRankingScore": true})), settings).unwrap();
    let body = plan.node_request(None, &test_parts(&[1])).body;
    assert_eq!(body["federation"]["facetsByIndex"], json!({"movies__rank-1": ["genre"]}));
    assert_eq!(body["federation"]["distinct"], "sku", "the index's distinctAttribute applies across shards too");
    assert_eq!(body["queries"][0], json!({"showRankingScore": true, "indexUid": "movies__rank-1"}));
    assert!(plan.merge.show_ranking_score);
    let explicit = SearchPlan::new("movies", &request(json!({"distinct": "genre"})), IndexSearchSettings::default()).unwrap();
    assert_eq!(explicit.merge.distinct.as_deref(), Some("genre"));
}

#[test]
fn wrong_parameter_types_get_meilisearch_codes() {
    let error = SearchPlan::new("movies", &request(json!({"limit": "x"})), IndexSearchSettings::default()).unwrap_err();
    let response = error.response_error();
    assert_eq!(response.code, "invalid_search_limit");
    assert_eq!(response.http_status, 400);
}

#[test]
fn settings_are_read_from_a_meilisearch_settings_object() {
    let settings = IndexSearchSettings::from_settings(&json!({
        "distinctAttribute": "sku",
        "faceting": {"maxValuesPerFacet": 7, "sortFacetValuesBy": {"*": "count"}},
        "pagination": {"maxTotalHits": 99}}));
    assert_eq!(settings.max_values_per_facet, 7);
    assert_eq!(settings.max_total_hits, 99);
    assert_eq!(settings.distinct_attribute.as_deref(), Some("sku"));
    assert_eq!(settings.sort_facet_values_by.order_of("anything"), crate::search::facets::FacetOrder::Count);
}

#[test]
fn only_semantic_and_hybrid_searches_are_ai_searches() {
    let ai = |body: Value| is_ai_search(&request(body));
    assert!(ai(json!({"vector": [1.0], "hybrid": {"embedder": "e", "semanticRatio": 1.0}})));
    assert!(ai(json!({"q": "kde", "hybrid": {"embedder": "e"}})));
    assert!(!ai(json!({"q": "kde", "hybrid": {"embedder": "e", "semanticRatio": 0.0}})));
    assert!(!ai(json!({"q": " ", "hybrid": {"embedder": "e"}})), "a placeholder without a vector is a keyword search");
    assert!(!ai(json!({"q": "kde", "hybrid": null})));
}

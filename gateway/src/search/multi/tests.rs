use super::*;
use crate::search::facets::FacetOrderRules;
use crate::search::node_answer::NodeAnswer;
use crate::search::plan::test_parts;

fn body(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn node_hit(id: Value, node_index: &str, node_query: usize, score: f64) -> Value {
    json!({"id": id, "_federation": {"indexUid": node_index, "queriesPosition": node_query,
        "weightedRankingScore": score, "weightedScoreValues": [{"weightedScore": score}], "extra_document": {}}})
}

fn federated_request() -> Map<String, Value> {
    body(json!({"federation": {"limit": 3, "facetsByIndex": {"packages": ["section"]}},
        "queries": [{"indexUid": "packages", "q": "library"},
                    {"indexUid": "numeric", "q": "one", "federationOptions": {"weight": 2.0}}]}))
}

#[test]
fn a_federated_node_request_holds_every_query_once_per_shard_with_its_weight() {
    let plan = FederatedPlan::new(&federated_request(), |_| IndexSearchSettings::default()).unwrap();
    let node = plan.node_request(None, &test_parts(&[0, 1]));
    assert_eq!(
        node.body,
        json!({"federation": {"limit": 3, "offset": 0, "facetsByIndex": {"packages__rank-0": ["section"], "packages__rank-1": ["section"]}},
            "queries": [
                {"q": "library", "indexUid": "packages__rank-0"},
                {"q": "library", "indexUid": "packages__rank-1"},
                {"q": "one", "federationOptions": {"weight": 2.0}, "indexUid": "numeric__rank-0"},
                {"q": "one", "federationOptions": {"weight": 2.0}, "indexUid": "numeric__rank-1"}]})
    );
    assert_eq!(node.origins.iter().map(|o| (o.query, o.shard.0)).collect::<Vec<_>>(), vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
}

#[test]
fn federated_answers_merge_into_one_list_with_client_index_names_and_query_positions() {
    let plan = FederatedPlan::new(&federated_request(), |_| IndexSearchSettings::default()).unwrap();
    let node_a = plan.node_request(None, &test_parts(&[0, 1]));
    let node_b = plan.node_request(None, &test_parts(&[2]));
    let answer_a = NodeAnswer::parse(&json!({
        "hits": [node_hit(json!(1), "numeric__rank-1", 3, 2.0), node_hit(json!("libfoo"), "packages__rank-0", 0, 0.87)],
        "processingTimeMs": 3, "limit": 3, "offset": 0, "estimatedTotalHits": 60,
        "facetsByIndex": {"packages__rank-0": {"distribution": {"section": {"libs": 2, "devel": 1}}, "stats": {}},
                          "packages__rank-1": {"distribution": {"section": {"libs": 1}}, "stats": {}}}}))
    .unwrap();
    let answer_b = NodeAnswer::parse(&json!({
        "hits": [node_hit(json!("libbar"), "packages__rank-2", 0, 0.9)],
        "processingTimeMs": 5, "limit": 3, "offset": 0, "estimatedTotalHits": 39,
        "facetsByIndex": {"packages__rank-2": {"distribution": {"section": {"admin": 4}}, "stats": {}}}}))
    .unwrap();
    let results = [NodeResult { origins: node_a.origins, answer: answer_a }, NodeResult { origins: node_b.origins, answer: answer_b }];
    let response = plan.response(&results, Some("uid")).unwrap();
    assert_eq!(
        serde_json::to_string(&response).unwrap(),
        serde_json::to_string(&json!({
            "hits": [
                {"id": 1, "_federation": {"indexUid": "numeric", "queriesPosition": 1, "weightedRankingScore": 2.0}},
                {"id": "libbar", "_federation": {"indexUid": "packages", "queriesPosition": 0, "weightedRankingScore": 0.9}},
                {"id": "libfoo", "_federation": {"indexUid": "packages", "queriesPosition": 0, "weightedRankingScore": 0.87}}],
            "processingTimeMs": 5, "limit": 3, "offset": 0, "estimatedTotalHits": 99,
            "facetsByIndex": {"packages": {"distribution": {"section": {"admin": 4, "devel": 1, "libs": 3}}, "stats": {}}},
            "requestUid": "uid"}))
        .unwrap()
    );
}

#[test]
fn merge_facets_sums_across_indexes_and_refuses_inconsistent_orders() {
    let request = body(json!({"federation": {"facetsByIndex": {"a": ["genre"], "b": ["genre"]}, "mergeFacets": {"maxValuesPerFacet": 2}},
        "queries": [{"indexUid": "a"}, {"indexUid": "b"}]}));
    let facets = |index: &str, values: Value| {
        NodeAnswer::parse(&json!({"hits": [], "estimatedTotalHits": 0,
            "facetsByIndex": {format!("{index}__rank-0"): {"distribution": {"genre": values}, "stats": {"year": {"min": 1.0, "max": 2.0}}}}}))
        .unwrap()
    };
    let plan = FederatedPlan::new(&request, |_| IndexSearchSettings::default()).unwrap();
    let origins = plan.node_request(None, &test_parts(&[0])).origins;
    let results = [
        NodeResult { origins: origins.clone(), answer: facets("a", json!({"x": 1, "y": 2})) },
        NodeResult { origins: origins.clone(), answer: facets("b", json!({"w": 5, "y": 1})) },
    ];
    let response = plan.response(&results, None).unwrap();
    assert_eq!(response["facetDistribution"], json!({"genre": {"w": 5, "x": 1}}));
    assert_eq!(response["facetStats"], json!({"year": {"min": 1.0, "max": 2.0}}));

    let by_count = |index: &str| IndexSearchSettings {
        sort_facet_values_by: FacetOrderRules::from_setting(&json!({"*": if index == "b" { "count" } else { "alpha" }})),
        ..IndexSearchSettings::default()
    };
    let inconsistent = FederatedPlan::new(&request, by_count).unwrap();
    let error = inconsistent.response(&results, None).unwrap_err().response_error();
    assert_eq!(error.code, "invalid_multi_search_facet_order");
}

#[test]
fn plain_multi_search_answers_each_query_on_its_own() {
    let queries = [json!({"indexUid": "a", "q": "x", "limit": 1}), json!({"indexUid": "b"})];
    let plan = MultiSearchPlan::new(&queries, |_| IndexSearchSettings::default()).unwrap();
    let results: Vec<Vec<NodeResult>> = plan
        .searches
        .iter()
        .map(|search| {
            let node = search.node_request(None, &test_parts(&[0]));
            let index = &search.merge.index_uid;
            let answer =
                NodeAnswer::parse(&json!({"hits": [node_hit(json!(index), &format!("{index}__rank-0"), 0, 0.5)], "estimatedTotalHits": 1}))
                    .unwrap();
            vec![NodeResult { origins: node.origins, answer }]
        })
        .collect();
    let merged: Vec<MergedSearch> =
        plan.searches.iter().zip(&results).map(|(search, results)| crate::search::merge_search(&search.merge, results).unwrap()).collect();
    let response = plan.response(&merged, Some("uid"));
    assert_eq!(
        response,
        json!({"results": [
            {"indexUid": "a", "hits": [{"id": "a"}], "query": "x", "processingTimeMs": 0, "limit": 1, "offset": 0, "estimatedTotalHits": 1, "requestUid": "uid"},
            {"indexUid": "b", "hits": [{"id": "b"}], "query": "", "processingTimeMs": 0, "limit": 20, "offset": 0, "estimatedTotalHits": 1, "requestUid": "uid"}]})
    );
    assert_eq!(
        MultiSearchPlan::new(&[json!({"q": "x"})], |_| IndexSearchSettings::default()).unwrap_err().response_error().code,
        "missing_index_uid"
    );
}

#[test]
fn a_federated_page_cut_short_by_cross_shard_duplicates_asks_the_nodes_for_more() {
    let request = body(json!({"federation": {"limit": 2, "distinct": "genre"}, "queries": [{"indexUid": "movies", "q": "x"}]}));
    let plan = FederatedPlan::new(&request, |_| IndexSearchSettings::default()).unwrap();
    let hit = |id: &str, node_index: &str, score: f64, genre: &str| {
        let mut hit = node_hit(json!(id), node_index, 0, score);
        hit["genre"] = json!(genre);
        hit
    };
    let answer = |node_index: &str, hits: Vec<Value>| {
        NodeAnswer::parse(&json!({"hits": hits, "processingTimeMs": 1, "limit": 2, "offset": 0, "estimatedTotalHits": 9})).map(|answer| {
            let shard = miroir_schemas::node_layout::parse_node_index_uid(node_index).unwrap().1;
            NodeResult { origins: plan.node_request(None, &test_parts(&[shard.0])).origins, answer }
        })
    };
    // both shards' first hits are dramas: after the cross-shard distinct one hit is left
    let results = [
        answer("movies__rank-0", vec![hit("a", "movies__rank-0", 0.9, "drama"), hit("b", "movies__rank-0", 0.8, "drama")]).unwrap(),
        answer("movies__rank-1", vec![hit("c", "movies__rank-1", 0.85, "drama"), hit("d", "movies__rank-1", 0.7, "drama")]).unwrap(),
    ];
    let merged = plan.merge(&results).unwrap();
    assert_eq!(merged.page.len(), 1);
    assert_eq!(plan.node_fetch(), 2);
    assert_eq!(plan.distinct_refill(&results, &merged), Some(8));
    let wider = plan.widened(8);
    assert_eq!(wider.node_fetch(), 8);
    assert_eq!(wider.node_request(None, &test_parts(&[0])).body["federation"]["limit"], json!(8));
    // the node answers are exhausted (fewer hits than asked): settled
    assert_eq!(wider.distinct_refill(&results, &wider.merge(&results).unwrap()), None);
    // no distinct anywhere: never a refill
    let plain = FederatedPlan::new(&body(json!({"federation": {"limit": 2}, "queries": [{"indexUid": "movies", "q": "x"}]})), |_| {
        IndexSearchSettings::default()
    })
    .unwrap();
    assert_eq!(plain.distinct_refill(&results, &plain.merge(&results).unwrap()), None);
}

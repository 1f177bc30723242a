use super::*;
use crate::search::plan::test_parts;
use crate::search::plan::{IndexSearchSettings, SearchPlan};
use miroir_schemas::node_layout::ReplicaRank;
use miroir_schemas::topology::ShardId;
use serde_json::json;

fn node_hit(id: &str, score: f64, extra: Value) -> Value {
    let mut hit = json!({"id": id, "_federation": {"indexUid": "movies__rank-0", "queriesPosition": 0,
        "weightedRankingScore": score, "weightedScoreValues": [{"weightedScore": score}], "extra_document": {}},
        "_rankingScore": score});
    hit.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    hit
}

fn result(shard: u32, hits: Vec<Value>, total: usize) -> NodeResult {
    let body = json!({"hits": hits, "processingTimeMs": shard, "limit": 20, "offset": 0, "estimatedTotalHits": total});
    let answer = NodeAnswer::parse(&body).unwrap();
    NodeResult {
        origins: vec![QueryOrigin {
            query: 0,
            index_uid: "movies".into(),
            shard: ShardId(shard),
            rank: ReplicaRank(shard),
            layout: None,
            narrowed_to: None,
        }],
        answer,
    }
}

#[test]
fn internal_fields_are_stripped_and_ranking_score_kept_only_when_asked() {
    let results = [result(0, vec![node_hit("a", 0.5, json!({}))], 3), result(1, vec![node_hit("b", 0.9, json!({}))], 4)];
    for (asked, expected) in
        [(false, json!([{"id": "b"}, {"id": "a"}])), (true, json!([{"id": "b", "_rankingScore": 0.9}, {"id": "a", "_rankingScore": 0.5}]))]
    {
        let plan =
            SearchPlan::new("movies", json!({"q": "x", "showRankingScore": asked}).as_object().unwrap(), IndexSearchSettings::default())
                .unwrap();
        let merged = merge_search(&plan.merge, &results).unwrap();
        let response = search_response(&plan.merge, &merged, Some("uid"));
        assert_eq!(response["hits"], expected);
        assert_eq!(
            serde_json::to_string(&response).unwrap().split("\"query\"").nth(1).unwrap(),
            r#":"x","processingTimeMs":1,"limit":20,"offset":0,"estimatedTotalHits":7,"requestUid":"uid"}"#
        );
    }
}

#[test]
fn pages_give_totals_and_page_counts_past_max_total_hits_as_a_real_node_does() {
    let results = [result(0, vec![], 700), result(1, vec![], 600)];
    let plan =
        SearchPlan::new("movies", json!({"page": 2, "hitsPerPage": 30}).as_object().unwrap(), IndexSearchSettings::default()).unwrap();
    let response = search_response(&plan.merge, &merge_search(&plan.merge, &results).unwrap(), None);
    assert_eq!((response["totalHits"].clone(), response["totalPages"].clone()), (json!(1300), json!(44)));
}

#[test]
fn a_hit_naming_a_query_never_sent_is_a_bad_node_answer() {
    let mut stray = result(0, vec![node_hit("a", 0.5, json!({}))], 1);
    stray.answer.hits[0].node_query = 3;
    let plan = SearchPlan::new("movies", &Map::new(), IndexSearchSettings::default()).unwrap();
    let error = merge_search(&plan.merge, &[stray]).unwrap_err();
    assert_eq!(error.response_error().code, "remote_bad_response");
    assert!(NodeAnswer::parse(&json!({"hits": [{"id": 1}], "estimatedTotalHits": 1})).is_err(), "hits need _federation");
}

#[test]
fn a_page_cut_short_by_cross_shard_duplicates_asks_the_nodes_for_more() {
    let genre = |g: &str| json!({"genre": g});
    // each shard's first two hits are both "drama": after cross-shard distinct only one is left
    let results = [
        result(0, vec![node_hit("a", 0.9, genre("drama")), node_hit("b", 0.8, genre("drama"))], 9),
        result(1, vec![node_hit("c", 0.85, genre("drama")), node_hit("d", 0.7, genre("drama"))], 9),
    ];
    let plan =
        SearchPlan::new("movies", json!({"q": "x", "limit": 2, "distinct": "genre"}).as_object().unwrap(), IndexSearchSettings::default())
            .unwrap();
    assert_eq!(plan.node_fetch(), 2);
    let merged = merge_search(&plan.merge, &results).unwrap();
    assert_eq!(merged.page.len(), 1);
    assert_eq!(distinct_refill(&plan.merge, plan.node_fetch(), &results, &merged), Some(8));
    let wider = plan.widened(8);
    assert_eq!(wider.node_fetch(), 8);
    assert_eq!(wider.node_request(None, &test_parts(&[0])).body["federation"]["limit"], json!(8));

    // a full page is still unsettled when a cut node's last hit ranks before the page's last
    let full_but_deep = [
        result(0, vec![node_hit("a", 0.9, genre("drama")), node_hit("b", 0.8, genre("drama"))], 9),
        result(1, vec![node_hit("c", 0.85, genre("comedy")), node_hit("d", 0.1, genre("horror"))], 9),
    ];
    let merged = merge_search(&plan.merge, &full_but_deep).unwrap();
    assert_eq!(merged.page.len(), 2, "a and c");
    assert_eq!(distinct_refill(&plan.merge, 2, &full_but_deep, &merged), None, "c (0.85) ranks before both cut ends");
    let plan3 =
        SearchPlan::new("movies", json!({"q": "x", "limit": 3, "distinct": "genre"}).as_object().unwrap(), IndexSearchSettings::default())
            .unwrap();
    let full_but_deep = [
        result(0, vec![node_hit("a", 0.9, genre("drama")), node_hit("b", 0.8, genre("drama")), node_hit("e", 0.75, genre("drama"))], 9),
        result(1, vec![node_hit("c", 0.85, genre("comedy")), node_hit("d", 0.1, genre("horror")), node_hit("f", 0.05, genre("x"))], 9),
    ];
    let merged = merge_search(&plan3.merge, &full_but_deep).unwrap();
    assert_eq!(merged.page.len(), 3, "a, c, d");
    assert_eq!(distinct_refill(&plan3.merge, 3, &full_but_deep, &merged), Some(12), "shard 0 may hide hits between 0.75 and 0.1");

    // a node that returned fewer hits than asked has nothing more: no refill
    let exhausted = [result(0, vec![node_hit("a", 0.9, genre("drama"))], 1), result(1, vec![node_hit("c", 0.8, genre("drama"))], 1)];
    let merged = merge_search(&plan.merge, &exhausted).unwrap();
    assert_eq!(distinct_refill(&plan.merge, 2, &exhausted, &merged), None);
    // without distinct there is never a refill
    let plain = SearchPlan::new("movies", json!({"q": "x", "limit": 2}).as_object().unwrap(), IndexSearchSettings::default()).unwrap();
    let merged = merge_search(&plain.merge, &results).unwrap();
    assert_eq!(distinct_refill(&plain.merge, 2, &results, &merged), None);
}

#[test]
fn widening_a_paged_search_keeps_page_one_for_exhaustive_totals() {
    let plan = SearchPlan::new(
        "movies",
        json!({"page": 2, "hitsPerPage": 5, "distinct": "genre"}).as_object().unwrap(),
        IndexSearchSettings::default(),
    )
    .unwrap();
    let federation = plan.widened(40).node_request(None, &test_parts(&[0])).body["federation"].clone();
    assert_eq!((federation["page"].clone(), federation["hitsPerPage"].clone()), (json!(1), json!(40)));
}

#[test]
fn paged_distinct_totals_count_each_value_once_across_shards() {
    let genre = |g: &str| json!({"genre": g});
    let plan = SearchPlan::new(
        "movies",
        json!({"q": "x", "page": 1, "hitsPerPage": 2, "distinct": "genre"}).as_object().unwrap(),
        IndexSearchSettings::default(),
    )
    .unwrap();
    // every node sent fewer hits than asked (all it has): the merge saw every value
    let complete = [
        result(0, vec![node_hit("a", 0.9, genre("drama")), node_hit("b", 0.8, genre("comedy"))], 2),
        result(1, vec![node_hit("c", 0.85, genre("drama")), node_hit("d", 0.7, genre("horror"))], 2),
    ];
    let wide = plan.widened(10);
    let Settled::Done(merged) = settle(&wide, &complete).unwrap() else { panic!("settled") };
    assert_eq!(merged.total_hits, 3, "drama, comedy, horror: the sum of node totals would say 4");
    // a node that sent all it was asked may hold more values: ask up to maxTotalHits first
    let cut = [
        result(0, vec![node_hit("a", 0.9, genre("drama")), node_hit("b", 0.8, genre("comedy"))], 7),
        result(1, vec![node_hit("c", 0.95, genre("war")), node_hit("d", 0.7, genre("horror"))], 2),
    ];
    assert_eq!(settle(&plan, &cut).unwrap(), Settled::Refill(1000));
    // offset/limit mode keeps Meilisearch's estimate
    let estimated =
        SearchPlan::new("movies", json!({"q": "x", "limit": 10, "distinct": "genre"}).as_object().unwrap(), IndexSearchSettings::default())
            .unwrap();
    let Settled::Done(merged) = settle(&estimated, &complete).unwrap() else { panic!("settled") };
    assert_eq!(merged.total_hits, 3, "node totals minus the one rejected duplicate");
    assert_eq!(exhaustive_distinct_total(estimated.merge.pagination, true, 1000, 10, &complete, 3), None);
    // every node exhausted: exact, even past maxTotalHits (a real node does not cap it)
    assert_eq!(exhaustive_distinct_total(plan.merge.pagination, true, 2, 10, &complete, 3), Some(Ok(3)));
    // a node still full at maxTotalHits: a lower bound, at least the largest node's own count
    assert_eq!(exhaustive_distinct_total(plan.merge.pagination, true, 2, 2, &cut, 3), Some(Ok(7)));
}

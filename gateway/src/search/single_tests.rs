use super::*;
use crate::search::plan::{IndexSearchSettings, SearchPlan};
use miroir_schemas::topology::ShardId;
use serde_json::json;

fn node_hit(id: &str, score: f64, extra: Value) -> Value {
    let mut hit = json!({"id": id, "_federation": {"indexUid": "movies__shard-0", "queriesPosition": 0,
        "weightedRankingScore": score, "weightedScoreValues": [{"weightedScore": score}], "extra_document": {}},
        "_rankingScore": score});
    hit.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    hit
}

fn result(shard: u32, hits: Vec<Value>, total: usize) -> NodeResult {
    let body = json!({"hits": hits, "processingTimeMs": shard, "limit": 20, "offset": 0, "estimatedTotalHits": total});
    let answer = NodeAnswer::parse(&body).unwrap();
    NodeResult { origins: vec![QueryOrigin { query: 0, index_uid: "movies".into(), shard: ShardId(shard) }], answer }
}

#[test]
fn internal_fields_are_stripped_and_ranking_score_kept_only_when_asked() {
    let results = [result(0, vec![node_hit("a", 0.5, json!({}))], 3), result(1, vec![node_hit("b", 0.9, json!({}))], 4)];
    for (asked, expected) in [(false, json!([{"id": "b"}, {"id": "a"}])), (true, json!([{"id": "b", "_rankingScore": 0.9}, {"id": "a", "_rankingScore": 0.5}]))] {
        let plan = SearchPlan::new("movies", json!({"q": "x", "showRankingScore": asked}).as_object().unwrap(), IndexSearchSettings::default()).unwrap();
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
fn pages_give_exact_totals_and_page_counts_capped_at_max_total_hits() {
    let results = [result(0, vec![], 700), result(1, vec![], 600)];
    let plan = SearchPlan::new("movies", json!({"page": 2, "hitsPerPage": 30}).as_object().unwrap(), IndexSearchSettings::default()).unwrap();
    let response = search_response(&plan.merge, &merge_search(&plan.merge, &results).unwrap(), None);
    assert_eq!((response["totalHits"].clone(), response["totalPages"].clone()), (json!(1000), json!(34)));
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

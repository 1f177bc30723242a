use super::*;
use proptest::prelude::*;
use serde_json::json;

fn plan(request: Value) -> SimilarPlan {
    SimilarPlan::new(request.as_object().unwrap())
}

fn hit(id: &str, score: f64) -> Value {
    json!({"id": id, "_rankingScore": score, "_rankingScoreDetails": {"vectorSort": {"order": 0, "similarity": score}}})
}

fn answer(hits: Vec<Value>, estimated: u64, is_vector_search: bool) -> ShardAnswer {
    ShardAnswer { body: json!({"hits": hits, "estimatedTotalHits": estimated}), is_vector_search }
}

fn ids(body: &Value) -> Vec<&str> {
    body["hits"].as_array().unwrap().iter().map(|hit| hit["id"].as_str().unwrap()).collect()
}

#[test]
fn ids_are_strings_or_integers() {
    assert_eq!(plan(json!({"id": "a-1", "embedder": "e"})).id.as_deref(), Some("a-1"));
    assert_eq!(plan(json!({"id": 42, "embedder": "e"})).id.as_deref(), Some("42"));
    assert_eq!(plan(json!({"id": 4.5})).id, None);
    assert_eq!(plan(json!({"embedder": "e"})).id, None);
}

#[test]
fn the_target_shard_is_asked_for_the_whole_window_with_scores() {
    let body = plan(json!({"id": "a", "embedder": "e", "offset": 3, "limit": 4, "filter": "x = 1"})).target_request();
    assert_eq!(
        body,
        json!({"id": "a", "embedder": "e", "offset": 0, "limit": 7, "filter": "x = 1", "showRankingScore": true, "showRankingScoreDetails": true})
    );
}

#[test]
fn wrongly_typed_fields_reach_the_node_unchanged() {
    let body = plan(json!({"id": "a", "embedder": "e", "offset": "3", "showRankingScore": 1})).target_request();
    assert_eq!(body["offset"], "3");
    assert_eq!(body["showRankingScore"], 1);
    // the limit is not widened from an offset the node will refuse anyway
    assert!(body.get("limit").is_none());
    assert_eq!(plan(json!({"id": "a", "limit": -1})).target_request()["limit"], -1);
}

#[test]
fn other_shards_run_a_pure_vector_search_or_only_count() {
    let p =
        plan(json!({"id": "a", "embedder": "e", "limit": 2, "filter": ["x = 1"], "retrieveVectors": true, "rankingScoreThreshold": 0.5}));
    assert_eq!(
        p.other_shard_request(Some(&json!([0.5, 1.0]))),
        json!({"filter": ["x = 1"], "retrieveVectors": true, "vector": [0.5, 1.0],
            "hybrid": {"embedder": "e", "semanticRatio": 1.0}, "limit": 2, "offset": 0, "showRankingScore": true, "showRankingScoreDetails": true})
    );
    assert_eq!(p.other_shard_request(None)["limit"], 0);
    assert!(p.other_shard_request(None).get("vector").is_none());
}

#[test]
fn target_vectors_come_from_retrieved_embeddings() {
    let doc = json!({"id": "a", "_vectors": {"e": {"embeddings": [[0.1, 0.2], [0.3, 0.4]], "regenerate": false}}});
    assert_eq!(target_vector(&doc, "e"), Some(json!([0.1, 0.2])));
    assert_eq!(target_vector(&json!({"_vectors": {"e": {"embeddings": [0.1, 0.2]}}}), "e"), Some(json!([0.1, 0.2])));
    assert_eq!(target_vector(&json!({"_vectors": {"e": [[1.0]]}}), "e"), Some(json!([1.0])));
    assert_eq!(target_vector(&doc, "other"), None);
    assert_eq!(target_vector(&json!({"_vectors": {"e": {"embeddings": []}}}), "e"), None);
    assert_eq!(target_vector(&json!({"id": "a"}), "e"), None);
}

#[test]
fn answers_merge_by_similarity_and_drop_documents_without_embeddings() {
    let p = plan(json!({"id": "t", "embedder": "e", "offset": 1, "limit": 3}));
    let no_embedding = json!({"id": "n", "_rankingScore": 0.0, "_rankingScoreDetails": {"vectorSort": {"order": 0, "similarity": null}}});
    let answers =
        [answer(vec![hit("a", 0.9), hit("b", 0.4)], 10, false), answer(vec![hit("c", 0.95), hit("d", 0.5), no_embedding], 7, true)];
    let body = merge(&p, &answers, 1000, 3);
    assert_eq!(ids(&body), ["a", "d", "b"]);
    assert_eq!(body["estimatedTotalHits"], 17);
    assert_eq!((body["offset"].clone(), body["limit"].clone(), body["id"].clone()), (json!(1), json!(3), json!("t")));
    assert!(body["hits"][0].get("_rankingScore").is_none() && body["hits"][0].get("_rankingScoreDetails").is_none());
    assert_eq!(merge(&p, &answers, 12, 3)["estimatedTotalHits"], 12);
}

#[test]
fn scores_are_shown_only_when_asked_and_details_keep_only_the_vector_rule() {
    let p = plan(json!({"id": "t", "embedder": "e", "showRankingScore": true, "showRankingScoreDetails": true}));
    let mut with_sort = hit("a", 0.7);
    with_sort["_rankingScoreDetails"]["rank:desc"] = json!({"order": 1, "value": 3});
    let body = merge(&p, &[answer(vec![with_sort], 1, true)], 1000, 0);
    assert_eq!(body["hits"][0]["_rankingScore"], 0.7);
    assert_eq!(body["hits"][0]["_rankingScoreDetails"], json!({"vectorSort": {"order": 0, "similarity": 0.7}}));
}

#[test]
fn the_first_hit_under_the_threshold_ends_the_list_and_the_estimate() {
    let p = plan(json!({"id": "t", "embedder": "e", "offset": 1, "limit": 5, "rankingScoreThreshold": 0.6}));
    assert!(p.target_request().get("rankingScoreThreshold").is_none(), "applied by the merge, not by a shard");
    let answers = [answer(vec![hit("a", 0.9), hit("b", 0.65)], 40, false), answer(vec![hit("c", 0.7), hit("d", 0.5)], 60, true)];
    let body = merge(&p, &answers, 1000, 0);
    // order a c b d: `a` is skipped, then c and b pass and d ends the list
    assert_eq!(ids(&body), ["c", "b"]);
    assert_eq!(body["estimatedTotalHits"], 3);
    // a window that never goes under the threshold keeps the whole estimate
    let body = merge(&plan(json!({"id": "t", "embedder": "e", "limit": 2, "rankingScoreThreshold": 0.6})), &answers, 1000, 0);
    assert_eq!((ids(&body), body["estimatedTotalHits"].clone()), (vec!["a", "c"], json!(100)));
    // an invalid threshold reaches the node, which refuses it
    assert_eq!(plan(json!({"id": "t", "rankingScoreThreshold": 2})).target_request()["rankingScoreThreshold"], 2);
}

proptest! {
    /// The merged page is the window of all shards' hits in similarity order, whatever the split.
    #[test]
    fn merged_pages_are_windows_of_the_global_order(
        scores in proptest::collection::vec(0u32..1000, 0..40),
        shards in 1usize..5,
        offset in 0usize..10,
        limit in 0usize..10,
    ) {
        let p = plan(json!({"id": "t", "embedder": "e", "offset": offset, "limit": limit}));
        let mut per_shard: Vec<Vec<(String, f64)>> = vec![Vec::new(); shards];
        for (i, score) in scores.iter().enumerate() {
            per_shard[i % shards].push((format!("d{i}"), f64::from(*score) / 1000.0));
        }
        let answers: Vec<ShardAnswer> = per_shard
            .iter()
            .enumerate()
            .map(|(shard, docs)| {
                let mut docs = docs.clone();
                docs.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
                docs.truncate(offset + limit);
                answer(docs.iter().map(|(id, s)| hit(id, *s)).collect(), docs.len() as u64, shard > 0)
            })
            .collect();
        let body = merge(&p, &answers, 1000, 0);
        let mut all: Vec<f64> = scores.iter().map(|s| f64::from(*s) / 1000.0).collect();
        all.sort_by(|a, b| b.partial_cmp(a).unwrap());
        let expected: Vec<f64> = all.into_iter().skip(offset).take(limit).collect();
        let got: Vec<f64> = body["hits"].as_array().unwrap().iter().map(|h| {
            let id = h["id"].as_str().unwrap();
            let i: usize = id[1..].parse().unwrap();
            f64::from(scores[i]) / 1000.0
        }).collect();
        prop_assert_eq!(got, expected);
    }
}

use super::*;
use crate::search::score::ScoreValue;
use miroir_schemas::node_layout::ReplicaRank;
use miroir_schemas::topology::ShardId;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn hit(id: usize, score: f64, shard: u32, position: usize, extra: Value) -> RankedHit {
    let mut document = Map::new();
    document.insert("id".into(), id.into());
    if let Value::Object(extra) = extra {
        document.extend(extra);
    }
    RankedHit {
        hit: NodeHit {
            document,
            score: vec![ScoreValue::WeightedScore(score)],
            weighted_global_score: score,
            node_query: 0,
            node_index_uid: format!("movies__rank-{shard}"),
            extra_document: Map::new(),
            pinned_position: None,
            federation_key_position: 1,
        },
        origin: QueryOrigin {
            query: 0,
            index_uid: "movies".into(),
            shard: ShardId(shard),
            rank: ReplicaRank(shard),
            layout: None,
            narrowed_to: None,
        },
        position,
    }
}

fn ids(hits: &[RankedHit]) -> Vec<u64> {
    hits.iter().map(|h| h.hit.document["id"].as_u64().unwrap()).collect()
}

const ALL: Window = Window { skip: 0, take: usize::MAX, max_hits: usize::MAX };

/// Hits spread over shards; each shard's stream sorted best first (stable, as a node answers).
fn shard_streams() -> impl Strategy<Value = Vec<Vec<RankedHit>>> {
    prop::collection::vec((0u32..6, 0u32..4), 0..40).prop_map(|specs| {
        let mut streams: Vec<Vec<RankedHit>> = vec![Vec::new(); 4];
        for (id, (score, shard)) in specs.into_iter().enumerate() {
            streams[shard as usize].push(hit(id, score as f64 / 8.0, shard, 0, json!({})));
        }
        for stream in &mut streams {
            stream.sort_by(|a, b| b.hit.weighted_global_score.partial_cmp(&a.hit.weighted_global_score).unwrap());
            for (position, ranked) in stream.iter_mut().enumerate() {
                ranked.position = position;
            }
        }
        streams
    })
}

proptest! {
    #[test]
    fn merging_any_split_of_a_sorted_list_reproduces_it(len in 0usize..40, cuts in prop::collection::vec(0u32..5, 40)) {
        // a strictly sorted list (distinct scores), dealt to streams in order
        let sorted: Vec<RankedHit> = (0..len).map(|i| hit(i, 1.0 - i as f64 / 64.0, 0, 0, json!({}))).collect();
        let mut streams: Vec<Vec<RankedHit>> = vec![Vec::new(); 5];
        for (i, ranked) in sorted.iter().enumerate() {
            let mut ranked = ranked.clone();
            ranked.origin.shard = ShardId(cuts[i]);
            ranked.position = streams[cuts[i] as usize].len();
            streams[cuts[i] as usize].push(ranked);
        }
        let merged = merge_streams(streams, Distinct::None, ALL);
        prop_assert_eq!(ids(&merged.page), ids(&sorted));
    }

    #[test]
    fn the_merge_is_the_total_order_score_then_shard_then_position(streams in shard_streams(), skip in 0usize..20, take in 0usize..20, max_hits in 0usize..50) {
        let mut expected: Vec<RankedHit> = streams.iter().flatten().cloned().collect();
        expected.sort_by(|a, b| b.rank(a));
        let merged = merge_streams(streams.clone(), Distinct::None, ALL);
        prop_assert_eq!(ids(&merged.page), ids(&expected));
        // a window is the same cut of the same order, never past max_hits
        let window = Window { skip, take, max_hits };
        let end = (skip + take).min(max_hits).min(expected.len());
        let cut = if skip < end { &expected[skip..end] } else { &expected[0..0] };
        prop_assert_eq!(ids(&merge_streams(streams, Distinct::None, window).page), ids(cut));
    }
}

#[test]
fn ties_are_broken_by_shard_then_position_whatever_the_stream_order() {
    let streams = vec![
        vec![hit(1, 0.5, 2, 0, json!({})), hit(2, 0.5, 2, 1, json!({}))],
        vec![hit(3, 0.5, 0, 0, json!({})), hit(4, 0.9, 1, 0, json!({}))],
    ];
    let merged = merge_streams(streams, Distinct::None, ALL);
    assert_eq!(ids(&merged.page), vec![4, 3, 1, 2]);
}

#[test]
fn distinct_keeps_the_best_hit_per_value_and_lists_every_rejected_hit() {
    let streams = vec![
        vec![hit(1, 0.9, 0, 0, json!({"genre": "Drama"})), hit(2, 0.5, 0, 1, json!({"genre": ["x", "comedy"]}))],
        vec![hit(3, 0.8, 1, 0, json!({"genre": " drama "})), hit(4, 0.4, 1, 1, json!({})), hit(5, 0.3, 1, 2, json!({"genre": "Comedy"}))],
    ];
    let merged = merge_streams(streams, Distinct::Global("genre"), Window { skip: 0, take: 2, max_hits: 100 });
    assert_eq!(ids(&merged.page), vec![1, 2], "normalized values collide, documents without the value are kept");
    assert_eq!(ids(&merged.rejected), vec![3, 5], "the whole list is drained for the facet fix-up");
}

#[test]
fn distinct_values_can_come_from_the_extra_document() {
    let mut hidden = hit(2, 0.5, 1, 0, json!({}));
    hidden.hit.extra_document.insert("genre".into(), json!("drama"));
    let streams = vec![vec![hit(1, 0.9, 0, 0, json!({"genre": "drama"}))], vec![hidden]];
    let merged = merge_streams(streams, Distinct::Global("genre"), ALL);
    assert_eq!(ids(&merged.page), vec![1]);
}

#[test]
fn per_query_distinct_only_collapses_hits_of_the_same_query() {
    let mut other_query = hit(2, 0.5, 0, 1, json!({"genre": "drama"}));
    other_query.origin.query = 1;
    let streams = vec![vec![hit(1, 0.9, 0, 0, json!({"genre": "drama"})), hit(3, 0.4, 0, 2, json!({"genre": "drama"}))], vec![other_query]];
    let per_query = [Some("genre".to_owned()), Some("genre".to_owned())];
    let merged = merge_streams(streams, Distinct::PerQuery(&per_query), ALL);
    assert_eq!(ids(&merged.page), vec![1, 2]);
    assert_eq!(ids(&merged.rejected), vec![3]);
}

#[test]
fn pinned_hits_take_their_position_and_move_up_when_organic_hits_run_out() {
    let mut pinned = hit(9, 0.0, 1, 0, json!({}));
    pinned.hit.pinned_position = Some(1);
    let mut late_pin = hit(8, 0.0, 1, 1, json!({}));
    late_pin.hit.pinned_position = Some(10);
    let streams = vec![vec![hit(1, 0.9, 0, 0, json!({})), hit(2, 0.8, 0, 1, json!({}))], vec![pinned, late_pin]];
    assert_eq!(ids(&merge_streams(streams.clone(), Distinct::None, Window { skip: 0, take: 10, max_hits: 100 }).page), vec![1, 9, 2, 8]);
    assert_eq!(ids(&merge_streams(streams, Distinct::None, Window { skip: 1, take: 2, max_hits: 100 }).page), vec![9, 2]);
}

//! Merges the real per-shard answers of Meilisearch 1.50 (three nodes, EE rendezvous split of a
//! 3,000-document corpus) and compares the result with the real single-node answer, for all
//! 180 queries of `merge-fixtures-v1.50.jsonl.zst`.
//!
//! What "equal" means here:
//! * hits: the same score vector at every position, and the same documents (whole hit bodies)
//!   inside every group of hits with equal score vectors. A single node orders equal hits by
//!   its internal document ids, which a sharded cluster does not have, so inside a tie group
//!   the order may differ; and when a tie group crosses the page boundary, which of its
//!   members fall on the page may differ too. Every such case is checked to be exactly that:
//!   the hits that differ all carry the boundary group's score vector.
//! * totals, `facetDistribution` (values and their order) and `facetStats`: identical, except
//!   `estimatedTotalHits` with `distinct`, which no merge can derive (see `distinct_total`).
//! * response keys: the same keys in the same order (minus the volatile `requestUid`).

use miroir_gateway::search::kmerge::RankedHit;
use miroir_gateway::search::score::compare_hits;
use miroir_gateway::search::{
    merge_search, search_response, IndexSearchSettings, NodeAnswer, NodeHit, NodeResult, QueryOrigin, SearchPlan,
};
use miroir_schemas::node_layout::ReplicaRank;
use miroir_schemas::placement::NodeIndexPart;
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::process::Command;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/meilisearch-reference/merge-fixtures-v1.50.jsonl.zst");
const INDEX: &str = "packages";

fn fixture_lines() -> Vec<Value> {
    let output = Command::new("zstd").args(["-dc", FIXTURE]).output().expect("the zstd command runs");
    assert!(output.status.success(), "zstd failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// The fixture index's settings as the merge sees them. The fixture's first line records
/// searchable/filterable/sortable attributes only: faceting is Meilisearch's default (100
/// values, alphabetical) on the shards as on the single node. It does not record
/// `pagination.maxTotalHits`; its single answers report totals of up to 1,492 uncapped, so
/// that node's cap was above them: we use the corpus size, a cap that can never bind here.
fn fixture_settings(document_count: usize) -> IndexSearchSettings {
    IndexSearchSettings { max_total_hits: document_count, ..IndexSearchSettings::default() }
}

#[derive(Default, Debug)]
struct KindSummary {
    queries: usize,
    identical_order: usize,
    equal_up_to_ties: usize,
    boundary_ties: usize,
    totals_exact: usize,
    distinct_totals_not_derivable: usize,
    facets_checked: usize,
}

#[test]
fn merged_shard_answers_equal_the_single_node_answer() {
    let lines = fixture_lines();
    let header = &lines[0];
    let document_count: usize = header["shards"].as_object().unwrap().values().map(|count| count.as_u64().unwrap() as usize).sum();
    let queries = &lines[1..];
    assert_eq!(queries.len(), 180, "the fixture holds 180 queries");

    let mut summary: BTreeMap<String, KindSummary> = BTreeMap::new();
    for (line, fixture) in queries.iter().enumerate() {
        let kind = fixture["kind"].as_str().unwrap().to_owned();
        let context = format!("query #{line} ({kind}) {}", fixture["query"]);
        let stats = summary.entry(kind.clone()).or_default();
        stats.queries += 1;
        check_query(fixture, document_count, &context, stats);
    }

    println!(
        "{:<18} {:>7} {:>9} {:>9} {:>9} {:>7} {:>9} {:>7}",
        "kind", "queries", "identical", "tie-equal", "boundary", "totals", "distinct*", "facets"
    );
    let mut all = KindSummary::default();
    for (kind, stats) in &summary {
        println!(
            "{kind:<18} {:>7} {:>9} {:>9} {:>9} {:>7} {:>9} {:>7}",
            stats.queries,
            stats.identical_order,
            stats.equal_up_to_ties,
            stats.boundary_ties,
            stats.totals_exact,
            stats.distinct_totals_not_derivable,
            stats.facets_checked
        );
        all.queries += stats.queries;
        all.identical_order += stats.identical_order;
        all.equal_up_to_ties += stats.equal_up_to_ties;
        all.totals_exact += stats.totals_exact;
        all.distinct_totals_not_derivable += stats.distinct_totals_not_derivable;
        all.facets_checked += stats.facets_checked;
    }
    println!(
        "all: {} queries; hits identical in order: {}; equal up to ties among equal score vectors: {}; \
         totals exact: {} (+{} distinct estimates not derivable); facet answers identical: {}",
        all.queries, all.identical_order, all.equal_up_to_ties, all.totals_exact, all.distinct_totals_not_derivable, all.facets_checked
    );
    assert_eq!(all.equal_up_to_ties, all.queries, "every query's hits equal the single node's up to ties");
    assert_eq!(all.totals_exact + all.distinct_totals_not_derivable, all.queries);
    assert_eq!(summary["distinct"].distinct_totals_not_derivable + summary["distinct"].totals_exact, summary["distinct"].queries);
}

fn check_query(fixture: &Value, document_count: usize, context: &str, stats: &mut KindSummary) {
    let request = fixture["query"].as_object().unwrap();
    let plan = SearchPlan::new(INDEX, request, fixture_settings(document_count)).unwrap();
    let results = shard_results(fixture);
    check_node_request(&plan, fixture, context);

    let merged = merge_search(&plan.merge, &results).unwrap();
    let response = search_response(&plan.merge, &merged, None);
    let single = fixture["single"]["response"].as_object().unwrap();
    assert_eq!(fixture["single"]["status"], 200, "{context}");

    // same keys, same order
    let single_keys: Vec<&String> = single.keys().filter(|key| *key != "requestUid").collect();
    let merged_keys: Vec<&String> = response.as_object().unwrap().keys().collect();
    assert_eq!(merged_keys, single_keys, "{context}: response keys");
    for key in ["query", "limit", "offset", "hitsPerPage", "page"] {
        assert_eq!(response.get(key), single.get(key), "{context}: {key}");
    }

    let all_shard_hits: HashMap<String, NodeHit> = results
        .iter()
        .flat_map(|result| result.answer.hits.iter())
        .map(|hit| (hit.document["id"].as_str().unwrap().to_owned(), hit.clone()))
        .collect();
    match compare_hits_up_to_ties(
        &single["hits"],
        &response["hits"],
        &merged.page,
        &all_shard_hits,
        plan.merge.distinct.as_deref(),
        context,
    ) {
        HitsVerdict::Identical => {
            stats.identical_order += 1;
            stats.equal_up_to_ties += 1;
        }
        HitsVerdict::EqualUpToTies { boundary_swaps } => {
            stats.equal_up_to_ties += 1;
            if boundary_swaps {
                stats.boundary_ties += 1;
            }
        }
    }

    let total_keys = ["estimatedTotalHits", "totalHits", "totalPages"];
    let totals_equal = total_keys.iter().all(|key| response.get(*key) == single.get(*key));
    if totals_equal {
        stats.totals_exact += 1;
    } else {
        distinct_total(&plan, &results, &response, single, context);
        stats.distinct_totals_not_derivable += 1;
    }

    if single.contains_key("facetDistribution") {
        // serde_json keeps key order, so this also checks the order of facet values
        assert_eq!(response["facetDistribution"], single["facetDistribution"], "{context}: facetDistribution");
        assert_eq!(response["facetStats"], single["facetStats"], "{context}: facetStats");
        stats.facets_checked += 1;
    }
}

/// The only total a merge cannot reproduce: `estimatedTotalHits` with `distinct`. A node
/// counts its candidates minus the duplicates it happened to meet while filling its page, a
/// number that depends on how deep its bucket sort went; three shards each filling their own
/// page meet different duplicates than one node does. We assert the mismatch is exactly that
/// case and that our total follows Meilisearch's federated rule: the nodes' totals summed,
/// minus the hits the cross-shard `distinct` rejected.
fn distinct_total(plan: &SearchPlan, results: &[NodeResult], response: &Value, single: &Map<String, Value>, context: &str) {
    assert!(
        plan.merge.distinct.is_some(),
        "{context}: totals differ ({} vs {}) without distinct",
        response["estimatedTotalHits"],
        single["estimatedTotalHits"]
    );
    assert!(single.contains_key("estimatedTotalHits"), "{context}: exhaustive totals must be exact");
    let shard_sum: usize = results.iter().map(|result| result.answer.total_hits).sum();
    let merged = response["estimatedTotalHits"].as_u64().unwrap() as usize;
    assert!(merged <= shard_sum, "{context}");
    println!("{context}: distinct estimate: single node {}, shards sum {shard_sum}, merged {merged}", single["estimatedTotalHits"]);
}

enum HitsVerdict {
    Identical,
    EqualUpToTies { boundary_swaps: bool },
}

/// See the module docs for what is compared.
fn compare_hits_up_to_ties(
    single: &Value,
    merged: &Value,
    merged_page: &[RankedHit],
    shard_hits: &HashMap<String, NodeHit>,
    distinct: Option<&str>,
    context: &str,
) -> HitsVerdict {
    let single = single.as_array().unwrap();
    let merged = merged.as_array().unwrap();
    if single == merged {
        return HitsVerdict::Identical;
    }
    assert_eq!(single.len(), merged.len(), "{context}: page sizes");
    let id = |hit: &Value| hit["id"].as_str().unwrap().to_owned();
    // every hit of the single answer is among the shard answers: nothing is unreachable
    let single_scores: Vec<&NodeHit> = single
        .iter()
        .map(|hit| shard_hits.get(&id(hit)).unwrap_or_else(|| panic!("{context}: single hit {} is in no shard answer", id(hit))))
        .collect();
    let equal =
        |a: &NodeHit, b: &NodeHit| compare_hits(&a.score, a.weighted_global_score, &b.score, b.weighted_global_score) == Ordering::Equal;
    for (position, (expected, got)) in single_scores.iter().zip(merged_page).enumerate() {
        assert!(
            equal(expected, &got.hit),
            "{context}: score vectors differ at position {position}: {:?} vs {:?}",
            expected.score,
            got.hit.score
        );
    }
    // tie groups: maximal runs of equal score vectors
    let mut boundary_swaps = false;
    let mut start = 0;
    while start < single.len() {
        let mut end = start + 1;
        while end < single.len() && equal(single_scores[start], single_scores[end]) {
            end += 1;
        }
        let mut expected: Vec<&Value> = single[start..end].iter().collect();
        let mut got: Vec<&Value> = merged[start..end].iter().collect();
        expected.sort_by_key(|hit| id(hit));
        got.sort_by_key(|hit| id(hit));
        // with `distinct`, which member of a tie group represents its value is decided by the
        // single node's internal document ids too: compare the represented values then
        let represented = |hits: &[&Value]| -> Option<Vec<String>> {
            let attribute = distinct?;
            let mut values: Vec<String> = hits.iter().map(|hit| hit[attribute].to_string()).collect();
            values.sort();
            Some(values)
        };
        if expected != got && represented(&expected).is_some() && represented(&expected) == represented(&got) {
            boundary_swaps = true;
        } else if expected != got {
            // a group cut by the page boundary may show other members of the same group
            let at_boundary = start == 0 || end == single.len();
            assert!(at_boundary, "{context}: tie group {start}..{end} holds other hits inside the page");
            for hit in &got {
                assert!(equal(shard_hits.get(&id(hit)).unwrap(), single_scores[start]), "{context}");
            }
            boundary_swaps = true;
        }
        start = end;
    }
    HitsVerdict::EqualUpToTies { boundary_swaps }
}

/// Each shard's proxy answer, as the one query the fixture's coordinator sent it.
fn shard_results(fixture: &Value) -> Vec<NodeResult> {
    fixture["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|shard| {
            let name = shard["shard"].as_str().unwrap();
            assert_eq!(shard["proxyFederated"]["status"], 200);
            let answer = NodeAnswer::parse(&shard["proxyFederated"]["response"]).unwrap();
            let shard = ShardId::parse(name).unwrap();
            let part = NodeIndexPart { rank: ReplicaRank(shard.0), shards: vec![shard], whole: true };
            let origin = QueryOrigin::new(0, INDEX, None, &part);
            NodeResult { origins: vec![origin], answer }
        })
        .collect()
}

/// Our node request asks each node for at least what the fixture's coordinator asked, with the
/// same query parameters.
fn check_node_request(plan: &SearchPlan, fixture: &Value, context: &str) {
    let ours = plan.node_request(None, &[NodeIndexPart { rank: ReplicaRank(0), shards: vec![ShardId(0)], whole: true }]).body;
    let theirs = &fixture["shards"][0]["proxyFederated"]["request"];
    let our_query = ours["queries"][0].as_object().unwrap();
    let their_query = theirs["queries"][0].as_object().unwrap();
    for (name, value) in their_query {
        match name.as_str() {
            "indexUid" => assert_eq!(our_query[name], "packages__rank-0", "{context}"),
            // moved to `federation.distinct` so that nodes return the value in `extra_document`
            "distinct" => assert_eq!(&ours["federation"]["distinct"], value, "{context}"),
            _ => assert_eq!(our_query.get(name), Some(value), "{context}: {name}"),
        }
    }
    let theirs_needed = theirs["federation"]["limit"].as_u64().unwrap();
    let ours_needed = ours["federation"].get("limit").or(ours["federation"].get("hitsPerPage")).unwrap().as_u64().unwrap();
    assert_eq!(ours_needed, theirs_needed, "{context}: hits asked of each node");
    assert_eq!(ours["federation"].get("facetsByIndex").is_some(), theirs["federation"].get("facetsByIndex").is_some(), "{context}");
}

//! The read executor against in-process fake nodes: one request per chosen node, every shard
//! answered exactly once, failover to other replicas, the bench, 503 / partial answers, user
//! errors passed through with node index names rewritten, primary-key narrowing, a slow
//! replica avoided (adaptive choice) or hedged.

use async_trait::async_trait;
use miroir_clients::node::NodeError;
use miroir_gateway::read::executor::EXPLAIN_FIELD;
use miroir_gateway::read::explain::ExplainMode;
use miroir_gateway::read::hedging::TailLatencyConfig;
use miroir_gateway::read::{NodeCall, NodeTransport, ReadConfig, ReadError, ReadExecutor};
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::node_layout::{node_index_uid, parse_node_index_layout, SHARD_FIELD};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::{Node, ShardId, Topology};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone)]
enum Behaviour {
    Up,
    /// Answers every call with a timeout (as a dead or hung node looks to the client).
    Down,
    /// Answers every search with this error object and status.
    Refuses(ResponseError),
    /// Answers as `Up`, this much later.
    Slow(Duration),
}

/// Fake nodes: each shard `k` holds one document `doc-k`, ranked higher for lower k, in the
/// node index of the rank its node holds it at (as the placement says).
struct FakeNodes {
    placement: Placement,
    /// The placement of resharded node indexes (`movies__s12-rank-0`), when some index is.
    resharded: Option<Placement>,
    behaviour: Mutex<Vec<Behaviour>>,
    calls: Mutex<Vec<(usize, NodeCall)>>,
}

impl FakeNodes {
    fn new(placement: Placement) -> FakeNodes {
        let count = placement.topology().nodes.len();
        FakeNodes { placement, resharded: None, behaviour: Mutex::new(vec![Behaviour::Up; count]), calls: Mutex::new(Vec::new()) }
    }

    /// The shards one query of a proxy search covers on `node`: those its node index holds,
    /// narrowed by a shard condition when the query carries one.
    fn covered(&self, node: usize, query: &Value) -> Vec<ShardId> {
        let (_, layout, rank) = parse_node_index_layout(query["indexUid"].as_str().unwrap()).unwrap();
        let placement = if layout.is_some() { self.resharded.as_ref().unwrap() } else { &self.placement };
        let held = placement.shards_of_node_at(&format!("node-{node}"), rank);
        let condition = query["filter"].as_array().and_then(|parts| parts.last()).and_then(Value::as_str);
        match condition.filter(|c| c.starts_with(SHARD_FIELD)) {
            None => held,
            Some(condition) => {
                let named: Vec<ShardId> = condition.split('"').skip(1).step_by(2).filter_map(ShardId::from_field_value).collect();
                held.into_iter().filter(|shard| named.contains(shard)).collect()
            }
        }
    }

    fn set(&self, node: usize, behaviour: Behaviour) {
        self.behaviour.lock().unwrap()[node] = behaviour;
    }

    fn take_calls(&self) -> Vec<(usize, NodeCall)> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    /// `(node, shards)` of every proxy search sent.
    fn searches(&self) -> Vec<(usize, Vec<ShardId>)> {
        self.take_calls()
            .into_iter()
            .filter_map(|(node, call)| match call {
                NodeCall::ProxySearch { body } => {
                    let shards = body["queries"].as_array().unwrap().iter().flat_map(|q| self.covered(node, q)).collect();
                    Some((node, shards))
                }
                _ => None,
            })
            .collect()
    }
}

fn proxy_answer(fake: &FakeNodes, node: usize, body: &Value) -> Value {
    let queries = body["queries"].as_array().unwrap();
    let mut hits: Vec<Value> = queries
        .iter()
        .enumerate()
        .flat_map(|(position, query)| {
            let node_index = query["indexUid"].as_str().unwrap().to_owned();
            fake.covered(node, query).into_iter().map(move |shard| {
                let score = 1.0 - f64::from(shard.0) / 100.0;
                json!({"id": format!("doc-{}", shard.0), SHARD_FIELD: shard.field_value(), "_federation": {
                    "indexUid": node_index, "queriesPosition": position,
                    "weightedRankingScore": score, "weightedScoreValues": [{"weightedScore": score}]}})
            })
        })
        .collect();
    hits.sort_by(|a, b| {
        b["_federation"]["weightedRankingScore"].as_f64().partial_cmp(&a["_federation"]["weightedRankingScore"].as_f64()).unwrap()
    });
    let total = hits.len();
    json!({"hits": hits, "processingTimeMs": 1, "limit": 20, "offset": 0, "estimatedTotalHits": total})
}

#[async_trait]
impl NodeTransport for FakeNodes {
    fn node_count(&self) -> usize {
        self.behaviour.lock().unwrap().len()
    }

    async fn call(&self, node: usize, call: &NodeCall) -> Result<Value, NodeError> {
        self.calls.lock().unwrap().push((node, call.clone()));
        let mut behaviour = self.behaviour.lock().unwrap()[node].clone();
        if let Behaviour::Slow(delay) = behaviour {
            tokio::time::sleep(delay).await;
            behaviour = Behaviour::Up;
        }
        let node_id = format!("node-{node}");
        match (behaviour, call) {
            (Behaviour::Down, _) => Err(NodeError::Timeout { node: node_id }),
            (_, NodeCall::Index { node_index }) => Ok(json!({"uid": node_index, "primaryKey": "id"})),
            (_, NodeCall::Settings { .. }) => Ok(json!({})),
            (Behaviour::Refuses(error), _) => Err(NodeError::Meilisearch { node: node_id, error }),
            (Behaviour::Up, NodeCall::ProxySearch { body }) => Ok(proxy_answer(self, node, body)),
            (Behaviour::Up, NodeCall::GetDocument { document_id, .. }) => Ok(json!({"id": document_id})),
            (_, other) => panic!("unexpected call {other:?}"),
        }
    }
}

const SHARDS: u32 = 7;

/// The node holding the most shards at RF = 1 (with 7 shards over 3 nodes, one may hold none).
fn busiest_node() -> (usize, Vec<ShardId>) {
    let placement = Placement::new(topology(3, 1));
    (0..3).map(|n| (n, placement.shards_of_node(&format!("node-{n}")))).max_by_key(|(_, shards)| shards.len()).unwrap()
}

fn topology(nodes: usize, rf: u32) -> Topology {
    let nodes = (0..nodes)
        .map(|i| Node {
            id: format!("node-{i}"),
            url: format!("http://10.0.0.{i}:7700"),
            replica_group: "g".into(),
            api_key: Some("secret".into()),
        })
        .collect();
    Topology::new(1, SHARDS, rf, nodes).unwrap()
}

fn executor(nodes: usize, rf: u32, config: ReadConfig) -> (ReadExecutor, std::sync::Arc<FakeNodes>) {
    let fake = std::sync::Arc::new(FakeNodes::new(Placement::new(topology(nodes, rf))));
    let executor = ReadExecutor::with_transport(topology(nodes, rf), fake.clone(), config);
    (executor, fake)
}

fn query(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn hit_ids(body: &Value) -> Vec<String> {
    body["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect()
}

fn all_doc_ids() -> Vec<String> {
    (0..SHARDS).map(|k| format!("doc-{k}")).collect()
}

/// Every shard appears in exactly one of the searches, each node at most once.
fn assert_each_shard_once(searches: &[(usize, Vec<ShardId>)]) {
    let nodes: Vec<usize> = searches.iter().map(|(n, _)| *n).collect();
    assert_eq!(nodes.iter().collect::<BTreeSet<_>>().len(), nodes.len(), "one request per node: {searches:?}");
    let mut shards: Vec<ShardId> = searches.iter().flat_map(|(_, s)| s.clone()).collect();
    shards.sort();
    assert_eq!(shards, (0..SHARDS).map(ShardId).collect::<Vec<_>>(), "{searches:?}");
}

#[tokio::test]
async fn every_shard_answers_once_with_one_request_per_node() {
    for rf in [1, 2, 3] {
        let (executor, fake) = executor(3, rf, ReadConfig::default());
        let answer = executor.search("movies", &query(json!({"q": "x"}))).await.unwrap();
        assert_eq!(hit_ids(&answer.body), all_doc_ids());
        assert_eq!(answer.body["estimatedTotalHits"], SHARDS);
        assert!(answer.missing_shards.is_empty());
        assert_each_shard_once(&fake.searches());
    }
}

#[tokio::test]
async fn round_robin_spreads_searches_over_replicas() {
    let (executor, fake) = executor(3, 3, ReadConfig::default());
    let mut used = BTreeSet::new();
    for _ in 0..3 {
        executor.search("movies", &Map::new()).await.unwrap();
        used.extend(fake.searches().into_iter().map(|(node, _)| node));
    }
    assert_eq!(used, BTreeSet::from([0, 1, 2]), "with every node holding every shard, turns rotate");
}

#[tokio::test]
async fn a_dead_replica_is_benched_and_its_shards_move() {
    let (executor, fake) = executor(3, 2, ReadConfig::default());
    fake.set(0, Behaviour::Down);
    for _ in 0..4 {
        let answer = executor.search("movies", &Map::new()).await.unwrap();
        assert_eq!(hit_ids(&answer.body), all_doc_ids());
    }
    assert!(executor.is_benched(0));
    assert!(!executor.is_benched(1));
    fake.take_calls();
    // once benched, node 0 gets no more searches while its shards have other replicas
    executor.search("movies", &Map::new()).await.unwrap();
    let searches = fake.searches();
    assert!(searches.iter().all(|(node, _)| *node != 0), "{searches:?}");
    assert_each_shard_once(&searches);
}

#[tokio::test]
async fn a_5xx_answer_moves_the_shards_to_another_replica() {
    let (executor, fake) = executor(3, 3, ReadConfig::default());
    let overloaded =
        ResponseError::new(Code::TooManySearchRequests, "Too many search requests running at the same time: 10. Retry after 10s.");
    fake.set(0, Behaviour::Refuses(overloaded.clone()));
    fake.set(1, Behaviour::Refuses(overloaded));
    let answer = executor.search("movies", &Map::new()).await.unwrap();
    assert_eq!(hit_ids(&answer.body), all_doc_ids());
    assert!(executor.is_benched(0) || executor.is_benched(1));
}

#[tokio::test]
async fn a_shard_without_reachable_replica_is_a_503_naming_no_node() {
    let (executor, fake) = executor(3, 1, ReadConfig::default());
    let (victim, lost) = busiest_node();
    fake.set(victim, Behaviour::Down);
    let error = executor.search("movies", &Map::new()).await.unwrap_err();
    assert_eq!(error, ReadError::ShardsUnavailable { index: "movies".into(), shards: lost.clone() });
    let object = error.response_error();
    assert_eq!((object.http_status, object.code.as_str()), (503, "shard_unavailable"));
    for secret in [format!("node-{victim}").as_str(), "10.0.0", "secret", "__rank"] {
        assert!(!object.message.contains(secret), "{}", object.message);
    }
}

#[tokio::test]
async fn partial_answers_are_allowed_only_by_config_and_are_marked() {
    let (executor, fake) = executor(3, 1, ReadConfig { allow_partial: true, ..ReadConfig::default() });
    let (victim, lost) = busiest_node();
    fake.set(victim, Behaviour::Down);
    let answer = executor.search("movies", &Map::new()).await.unwrap();
    assert_eq!(answer.missing_shards, lost);
    let expected: Vec<String> = (0..SHARDS).filter(|k| !lost.contains(&ShardId(*k))).map(|k| format!("doc-{k}")).collect();
    assert_eq!(hit_ids(&answer.body), expected);
    let response = axum::response::IntoResponse::into_response(answer);
    let header = response.headers().get("miroir-partial-shards").unwrap().to_str().unwrap().to_owned();
    assert_eq!(header, lost.iter().map(|s| s.name()).collect::<Vec<_>>().join(","));
}

#[tokio::test]
async fn user_errors_come_back_verbatim_with_client_index_names() {
    let (executor, fake) = executor(3, 2, ReadConfig::default());
    let node_error = ResponseError::new(
        Code::InvalidSearchFilter,
        "Inside `.queries[0]`: Index `movies__rank-1`: Attribute `genre` is not filterable. Available filterable attribute patterns are: `year`.\n1:6 genre = x",
    );
    for node in 0..3 {
        fake.set(node, Behaviour::Refuses(node_error.clone()));
    }
    let error = executor.search("movies", &query(json!({"filter": "genre = x"}))).await.unwrap_err().response_error();
    assert_eq!(error.http_status, 400);
    assert_eq!(error.code, "invalid_search_filter");
    assert_eq!(
        error.message,
        "Index `movies`: Attribute `genre` is not filterable. Available filterable attribute patterns are: `year`.\n1:6 genre = x"
    );
    assert!(!executor.is_benched(0) && !executor.is_benched(1) && !executor.is_benched(2), "the user's mistake benches no node");

    // in a multi-search the error names the client's query
    fake.take_calls();
    let body = query(json!({"queries": [{"indexUid": "movies", "q": "a"}, {"indexUid": "movies", "filter": "genre = x"}]}));
    let error = executor.multi_search(&body).await.unwrap_err().response_error();
    assert!(error.message.starts_with("Inside `.queries[") && !error.message.contains("__rank"), "{}", error.message);
}

#[tokio::test]
async fn an_unknown_index_is_meilisearchs_404() {
    struct NoIndex;
    #[async_trait]
    impl NodeTransport for NoIndex {
        fn node_count(&self) -> usize {
            3
        }
        async fn call(&self, node: usize, call: &NodeCall) -> Result<Value, NodeError> {
            let NodeCall::Index { node_index } = call else { panic!("only the index is looked up: {call:?}") };
            let error = ResponseError::new(Code::IndexNotFound, format!("Index `{node_index}` not found."));
            Err(NodeError::Meilisearch { node: format!("node-{node}"), error })
        }
    }
    let executor = ReadExecutor::with_transport(topology(3, 1), std::sync::Arc::new(NoIndex), ReadConfig::default());
    let error = executor.search("nope", &Map::new()).await.unwrap_err().response_error();
    assert_eq!((error.http_status, error.message.as_str()), (404, "Index `nope` not found."));
    let multi = query(json!({"queries": [{"indexUid": "nope"}]}));
    let error = executor.multi_search(&multi).await.unwrap_err().response_error();
    assert_eq!((error.http_status, error.message.as_str()), (400, "Inside `.queries[0]`: Index `nope` not found."));
}

#[tokio::test]
async fn a_primary_key_filter_narrows_the_fan_out_to_the_owning_shards() {
    let (executor, fake) = executor(3, 1, ReadConfig::default());
    let placement = Placement::new(topology(3, 1));
    executor.search("movies", &Map::new()).await.unwrap(); // reads the primary key
    fake.take_calls();
    let answer = executor.search("movies", &query(json!({"filter": "id IN [12, 345]"}))).await.unwrap();
    let owners: BTreeSet<ShardId> = ["12", "345"].iter().map(|id| placement.shard_of(id)).collect();
    let asked: BTreeSet<ShardId> = fake.searches().into_iter().flat_map(|(_, shards)| shards).collect();
    assert_eq!(asked, owners);
    assert_eq!(answer.body["estimatedTotalHits"], owners.len());
    // a filter that does not pin the key goes everywhere
    executor.search("movies", &query(json!({"filter": "id IN [12, 345] OR year > 3"}))).await.unwrap();
    assert_eq!(fake.searches().into_iter().flat_map(|(_, s)| s).count(), SHARDS as usize);
}

#[tokio::test]
async fn a_document_is_read_from_its_shard_only() {
    let (executor, fake) = executor(3, 2, ReadConfig::default());
    let placement = Placement::new(topology(3, 2));
    let answer = executor.get_document("movies", "tt0111161", &[]).await.unwrap();
    assert_eq!(answer.body, json!({"id": "tt0111161"}));
    let calls = fake.take_calls();
    assert_eq!(calls.len(), 1);
    let NodeCall::GetDocument { node_index, .. } = &calls[0].1 else { panic!() };
    let shard = placement.shard_of("tt0111161");
    let rank = placement.rank_of(shard, &format!("node-{}", calls[0].0)).unwrap();
    assert_eq!(node_index, &node_index_uid("movies", rank));
}

#[tokio::test]
async fn a_hung_node_is_given_up_at_the_deadline() {
    struct Hangs;
    #[async_trait]
    impl NodeTransport for Hangs {
        fn node_count(&self) -> usize {
            1
        }
        async fn call(&self, _: usize, _: &NodeCall) -> Result<Value, NodeError> {
            std::future::pending().await
        }
    }
    let topology =
        Topology::new(1, 2, 1, vec![Node { id: "n".into(), url: "http://n".into(), replica_group: "g".into(), api_key: None }]).unwrap();
    let config = ReadConfig { deadline: Duration::from_millis(50), ..ReadConfig::default() };
    let executor = ReadExecutor::with_transport(topology, std::sync::Arc::new(Hangs), config);
    let error = executor.index_stats("movies").await.unwrap_err();
    assert_eq!(error.response_error().http_status, 503);
    assert!(executor.is_benched(0));
}

/// Reads with every node holding every shard (RF 3) and `config`'s tail-latency settings.
fn tail_executor(tail: TailLatencyConfig) -> (ReadExecutor, std::sync::Arc<FakeNodes>) {
    executor(3, 3, ReadConfig { tail, ..ReadConfig::default() })
}

/// `(answer's hit ids, elapsed)` of one search of everything.
async fn timed_search(executor: &ReadExecutor) -> (Vec<String>, Duration) {
    let started = std::time::Instant::now();
    let answer = executor.search("movies", &Map::new()).await.unwrap();
    assert!(answer.missing_shards.is_empty());
    (hit_ids(&answer.body), started.elapsed())
}

#[tokio::test]
async fn a_clearly_slower_replica_loses_its_shards_to_another() {
    let no_hedges = TailLatencyConfig { adaptive_replicas: true, hedge_budget_percent: 0.0, ..TailLatencyConfig::default() };
    let (executor, fake) = tail_executor(no_hedges);
    fake.set(2, Behaviour::Slow(Duration::from_millis(40)));
    // the first search measures every node (nothing is known yet: the default choice)
    let (ids, first) = timed_search(&executor).await;
    assert_eq!(ids, all_doc_ids());
    assert!(first >= Duration::from_millis(40));
    assert!(fake.searches().iter().any(|(node, _)| *node == 2));
    for _ in 0..10 {
        let (ids, _) = timed_search(&executor).await;
        assert_eq!(ids, all_doc_ids(), "every shard once");
        let searches = fake.searches();
        assert!(searches.iter().all(|(node, _)| *node != 2), "node 2 is passed over: {searches:?}");
        assert_each_shard_once(&searches);
    }
    // off: the default choice stays on the slow node
    let off = TailLatencyConfig { adaptive_replicas: false, ..no_hedges };
    let (executor, fake) = tail_executor(off);
    fake.set(2, Behaviour::Slow(Duration::from_millis(40)));
    for _ in 0..3 {
        timed_search(&executor).await;
        assert!(fake.searches().iter().any(|(node, _)| *node == 2));
    }
}

#[tokio::test]
async fn a_late_call_is_hedged_and_the_first_complete_answer_wins() {
    let hedge_all = TailLatencyConfig { adaptive_replicas: false, hedge_budget_percent: 100.0, ..TailLatencyConfig::default() };
    let (executor, fake) = tail_executor(hedge_all);
    let slow = Duration::from_millis(400);
    fake.set(2, Behaviour::Slow(slow));
    // nothing is known of node 2 before its first answer: no hedge yet
    let (ids, first) = timed_search(&executor).await;
    assert_eq!(ids, all_doc_ids());
    assert!(first >= slow);
    fake.take_calls();
    for _ in 0..5 {
        let (ids, took) = timed_search(&executor).await;
        assert_eq!(ids, all_doc_ids(), "the hedge's answer replaces the slow one whole: no shard twice or missing");
        assert!(took < slow / 2, "answered by the hedge after ~5 ms, not the slow node: {took:?}");
        let searches = fake.searches();
        // node 2 was still asked (adaptive choice off), then its shards again elsewhere
        let to_slow: Vec<&(usize, Vec<ShardId>)> = searches.iter().filter(|(node, _)| *node == 2).collect();
        assert_eq!(to_slow.len(), 1, "{searches:?}");
        let hedged: BTreeSet<ShardId> = searches.iter().filter(|(node, _)| *node != 2).flat_map(|(_, shards)| shards.clone()).collect();
        assert!(to_slow[0].1.iter().all(|shard| hedged.contains(shard)), "{searches:?}");
    }
}

#[tokio::test]
async fn without_a_budget_nothing_is_hedged() {
    let (executor, fake) =
        tail_executor(TailLatencyConfig { adaptive_replicas: false, hedge_budget_percent: 0.0, ..TailLatencyConfig::default() });
    let slow = Duration::from_millis(60);
    fake.set(2, Behaviour::Slow(slow));
    for _ in 0..3 {
        let (ids, took) = timed_search(&executor).await;
        assert_eq!(ids, all_doc_ids());
        assert!(took >= slow);
        assert_each_shard_once(&fake.searches());
    }
}

#[tokio::test]
async fn a_slow_replica_with_both_on_keeps_answers_whole_and_fast() {
    let (executor, fake) =
        tail_executor(TailLatencyConfig { adaptive_replicas: true, hedge_budget_percent: 50.0, ..TailLatencyConfig::default() });
    let slow = Duration::from_millis(300);
    fake.set(1, Behaviour::Slow(slow));
    timed_search(&executor).await;
    let mut slow_searches = 0;
    for _ in 0..20 {
        let (ids, took) = timed_search(&executor).await;
        assert_eq!(ids, all_doc_ids());
        if took >= slow {
            slow_searches += 1;
        }
    }
    assert_eq!(slow_searches, 0, "each search either avoided node 1 or hedged it");
    // and a node that recovers is used again once its score drifted back
    fake.set(1, Behaviour::Up);
    let mut used_again = false;
    for _ in 0..400 {
        timed_search(&executor).await;
        used_again |= fake.searches().iter().any(|(node, _)| *node == 1);
    }
    assert!(used_again);
}

/// `Miroir-Explain: plan` tells what a search would do without sending it: the shards (narrowed
/// by a primary-key filter), each shard's replica and why, and each node's request exactly as
/// the search then sends it.
#[tokio::test]
async fn an_explained_plan_is_what_the_search_then_sends() {
    let (executor, fake) = executor(3, 2, ReadConfig::default());
    let placement = Placement::new(topology(3, 2));
    let request = query(json!({"q": "x", "filter": "id IN [12, 345]"}));
    let answer = executor.explain_search("movies", &request, ExplainMode::Plan).await.unwrap();
    assert!(fake.searches().is_empty(), "a plan sends no search");
    let plan = &answer.body[EXPLAIN_FIELD];
    let owners: Vec<u32> = ["12", "345"].iter().map(|id| placement.shard_of(id).0).collect::<BTreeSet<_>>().into_iter().collect();
    assert_eq!(plan["shards"]["asked"], json!(owners));
    assert_eq!(plan["shards"]["narrowedByPrimaryKey"], json!({"primaryKey": "id", "ids": ["12", "345"]}));
    for replica in plan["replicas"].as_array().unwrap() {
        assert!(replica["why"].as_str().unwrap().starts_with("first in preference order"), "{replica}");
        assert_eq!(replica["node"], replica["preference"][0]["node"]);
    }
    executor.search("movies", &request).await.unwrap();
    let mut sent: Vec<(String, Value)> = fake
        .take_calls()
        .into_iter()
        .filter_map(|(node, call)| match call {
            NodeCall::ProxySearch { body } => Some((format!("node-{node}"), body)),
            _ => None,
        })
        .collect();
    let mut planned: Vec<(String, Value)> = plan["nodeRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| (node["node"].as_str().unwrap().to_owned(), node["request"].clone()))
        .collect();
    sent.sort_by(|a, b| a.0.cmp(&b.0));
    planned.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(sent, planned);
}

/// `Miroir-Explain: run` answers the search and shows its calls: a failed node and the
/// failover that replaced it; the plan made afterwards names the benched node a replica stands in for.
#[tokio::test]
async fn a_run_shows_the_failover_and_the_next_plan_the_stand_in() {
    let (executor, fake) = executor(3, 2, ReadConfig::default());
    executor.search("movies", &Map::new()).await.unwrap(); // reads the index's settings
    fake.set(0, Behaviour::Down);
    let run = executor.explain_search("movies", &Map::new(), ExplainMode::Run).await.unwrap();
    assert_eq!(hit_ids(&run.body), all_doc_ids(), "the answer itself is the search's");
    let explained = &run.body[EXPLAIN_FIELD];
    assert_eq!(explained["mode"], "run");
    let calls = explained["rounds"][0]["calls"].as_array().unwrap().clone();
    let failed: Vec<&Value> = calls.iter().filter(|call| call["outcome"] == "failed").collect();
    assert!(!failed.is_empty() && failed.iter().all(|call| call["node"] == "node-0"), "{calls:?}");
    let lost: BTreeSet<u64> =
        failed.iter().flat_map(|call| call["shards"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap())).collect();
    let replaced: BTreeSet<u64> = calls
        .iter()
        .filter(|call| call["kind"] == "hedge or failover" && call["outcome"] == "answered")
        .flat_map(|call| call["shards"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()))
        .collect();
    assert_eq!(lost, replaced, "{calls:?}");
    assert!(calls.iter().all(|call| call["tookMs"].as_f64().unwrap() >= 0.0));

    let plan = executor.explain_search("movies", &Map::new(), ExplainMode::Plan).await.unwrap();
    let replicas = plan.body[EXPLAIN_FIELD]["replicas"].as_array().unwrap().clone();
    let stood_in: Vec<&Value> = replicas.iter().filter(|replica| replica["preference"][0]["node"] == "node-0").collect();
    assert!(!stood_in.is_empty());
    for replica in stood_in {
        assert_eq!(replica["why"].as_str().unwrap().split(": ").last(), Some("`node-0` benched after failing"), "{replica}");
        assert_ne!(replica["node"], "node-0");
    }
}

/// A replica the indexers announce as lagging behind the log (`meta`) is read only when no other
/// replica of its shards can answer.
#[tokio::test]
async fn a_lagging_replica_is_read_only_when_no_other_can_answer() {
    use miroir_clients::log::{partition_for_key, LogConfig, MemoryLog, Topic, WriteLog};
    use miroir_gateway::replica_lag::ReplicaLagService;
    use miroir_schemas::meta_log::replica_lag::ReplicaLagChange;
    use miroir_schemas::meta_log::MetaEnvelope;
    use std::sync::Arc;

    let log: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(LogConfig::for_tests("lag")).unwrap());
    let partition = partition_for_key("movies", log.config().partitions(Topic::Ops));
    let change = ReplicaLagChange::ReplicaLagging { node: "node-1".into(), partition, at: time::OffsetDateTime::now_utc(), from: None };
    let payload = bytes::Bytes::from(miroir_schemas::envelope::encode(&MetaEnvelope::new(change)));
    log.append(Topic::Meta, "replica-lag", "lag-1", payload).await.unwrap();
    let lag = Arc::new(ReplicaLagService::start(log.clone()));
    let folded = async {
        while lag.lagging_nodes("movies").is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), folded).await.expect("the announcement is folded");
    assert_eq!(lag.lagging_nodes("movies"), BTreeSet::from(["node-1".to_owned()]));

    let (executor, fake) = executor(3, 3, ReadConfig::default());
    executor.follow_replica_lag(lag);
    for _ in 0..6 {
        let answer = executor.search("movies", &query(json!({"q": "x"}))).await.unwrap();
        assert_eq!(hit_ids(&answer.body), all_doc_ids());
        let searches = fake.searches();
        assert_each_shard_once(&searches);
        assert!(searches.iter().all(|(node, _)| *node != 1), "the lagging replica was read: {searches:?}");
    }
    fake.set(0, Behaviour::Down);
    fake.set(2, Behaviour::Down);
    let answer = executor.search("movies", &query(json!({"q": "x"}))).await.unwrap();
    assert_eq!(hit_ids(&answer.body), all_doc_ids(), "with the others down, the lagging replica answers");
}

/// A node without the index (back empty, not rebuilt yet) is passed over for the replicas that
/// have it, and not benched; when no replica has it, the index is gone: Meilisearch's 404.
#[tokio::test]
async fn a_replica_without_the_index_is_passed_over() {
    let (executor, fake) = executor(3, 2, ReadConfig::default());
    let lacks_index = || {
        let node_index = node_index_uid("movies", miroir_schemas::node_layout::ReplicaRank(0));
        Behaviour::Refuses(ResponseError::new(Code::IndexNotFound, format!("Index `{node_index}` not found.")).with_http_status(404))
    };
    fake.set(1, lacks_index());
    for _ in 0..4 {
        let answer = executor.search("movies", &query(json!({"q": "x"}))).await.unwrap();
        assert_eq!(hit_ids(&answer.body), all_doc_ids());
    }
    assert!(!executor.is_benched(1), "a node lacking an index still serves the others");
    fake.set(0, lacks_index());
    fake.set(2, lacks_index());
    let error = executor.search("movies", &query(json!({"q": "x"}))).await.unwrap_err().response_error();
    assert_eq!((error.http_status, error.code.as_str(), error.message.as_str()), (404, "index_not_found", "Index `movies` not found."));
}

/// A resharded index is read in its layout once this gateway folded the switch: its node
/// indexes are `movies__s12-rank-r`, each of its 12 shards answers once, and a document is
/// fetched from the shard its id hashes to over 12 shards.
#[tokio::test]
async fn a_resharded_index_is_read_in_its_layout() {
    use miroir_clients::log::{LogConfig, MemoryLog, Topic, WriteLog};
    use miroir_gateway::topology_changes::TopologyService;
    use miroir_schemas::envelope::encode;
    use miroir_schemas::meta_log::topology_changes::TopologyChange;
    use miroir_schemas::meta_log::MetaEnvelope;

    let launch = topology(3, 1);
    let log = std::sync::Arc::new(MemoryLog::new(LogConfig::for_tests("reads")).unwrap());
    let changes = [
        TopologyChange::ReshardProposed { index: "movies".into(), shards: 12, at: time::OffsetDateTime::now_utc() },
        TopologyChange::ReshardSwitched { index: "movies".into(), shards: 12, position: 0 },
    ];
    for (i, change) in changes.into_iter().enumerate() {
        log.append(Topic::Meta, "topology", &format!("change-{i}"), encode(&MetaEnvelope::new(change)).into()).await.unwrap();
    }
    let service = std::sync::Arc::new(TopologyService::start(log, launch.clone()));
    service.catch_up().await.unwrap();
    let resharded = Placement::new(Topology { shard_count: 12, ..launch.clone() });
    let fake = FakeNodes { resharded: Some(resharded.clone()), ..FakeNodes::new(Placement::new(launch.clone())) };
    let fake = std::sync::Arc::new(fake);
    let executor = ReadExecutor::with_transport(launch, fake.clone(), ReadConfig::default());
    executor.follow_topology(service);

    let answer = executor.search("movies", &Map::new()).await.unwrap();
    assert_eq!(hit_ids(&answer.body), (0..12).map(|k| format!("doc-{k}")).collect::<Vec<_>>());
    let node_indexes: BTreeSet<String> = fake
        .take_calls()
        .into_iter()
        .flat_map(|(_, call)| match call {
            NodeCall::ProxySearch { body } => body["queries"].as_array().unwrap().iter().map(|q| q["indexUid"].to_string()).collect(),
            NodeCall::Index { node_index } | NodeCall::Settings { node_index } => vec![node_index],
            other => panic!("unexpected call {other:?}"),
        })
        .collect();
    assert!(node_indexes.iter().all(|uid| uid.trim_matches('"') == "movies__s12-rank-0"), "{node_indexes:?}");

    executor.get_document("movies", "abc", &[]).await.unwrap();
    let holder = resharded.replicas(resharded.shard_of("abc"))[0].id.clone();
    let calls = fake.take_calls();
    let [(node, NodeCall::GetDocument { node_index, .. })] = calls.as_slice() else { panic!("one document call: {calls:?}") };
    assert_eq!((format!("node-{node}"), node_index.as_str()), (holder, "movies__s12-rank-0"));

    // A federated search over it and an index of the launch layout: each index in its own
    // layout, every shard of each once, one merged answer.
    let body = query(json!({"federation": {"limit": 50}, "queries": [{"indexUid": "movies"}, {"indexUid": "books"}]}));
    let answer = executor.multi_search(&body).await.unwrap();
    let from = |index: &str| answer.body["hits"].as_array().unwrap().iter().filter(|hit| hit["_federation"]["indexUid"] == index).count();
    assert_eq!((from("movies"), from("books")), (12, SHARDS as usize), "{}", answer.body);
    assert_eq!(answer.body["estimatedTotalHits"], 12 + SHARDS, "{}", answer.body);
}

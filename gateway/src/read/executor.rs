//! [`ReadExecutor`]: the topology, one transport to every node, the replica bench, and the
//! fan-out with failover every read endpoint uses.

use super::error::ReadError;
use super::fanout::{Failure, Gathered};
use super::hedging::TailLatencyConfig;
use super::index_meta::IndexMeta;
use super::node_health::Bench;
use super::rewrite::{client_error, ClientRequest};
use super::transport::{HttpTransport, NodeCall, NodeTransport};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use miroir_clients::node::NodeError;
use miroir_schemas::node_layout::{narrowed_to_shards, ReplicaRank};
use miroir_schemas::placement::{NodeIndexPart, Placement};
use miroir_schemas::topology::{Node, ShardId, Topology};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

mod explain;
mod gather;
mod view;

pub use explain::EXPLAIN_FIELD;

use gather::TailState;
pub(crate) use view::ReadView;

/// Response header listing the shards a partial answer lacks (only with `allow_partial`).
pub const PARTIAL_HEADER: &str = "miroir-partial-shards";

/// How reads behave.
#[derive(Debug, Clone)]
pub struct ReadConfig {
    /// A read gives up (`503`) when some shard has not answered by then.
    pub deadline: Duration,
    /// Bound of one node exchange (HTTP transport).
    pub node_timeout: Duration,
    /// Answer without the shards that have no reachable replica, listing them in the
    /// `Miroir-Partial-Shards` header, instead of a `503`.
    pub allow_partial: bool,
    /// How long an index's primary key and search settings read from a node are reused.
    pub index_meta_ttl: Duration,
    /// Largest number of primary-key values a filter may pin for the search to be narrowed to
    /// their shards.
    pub max_pinned_ids: usize,
    /// Adaptive replica choice and hedged calls (`replica_score`, `hedging`).
    pub tail: TailLatencyConfig,
}

impl Default for ReadConfig {
    fn default() -> Self {
        ReadConfig {
            deadline: Duration::from_secs(10),
            node_timeout: Duration::from_secs(5),
            allow_partial: false,
            index_meta_ttl: Duration::from_secs(5),
            max_pinned_ids: 256,
            tail: TailLatencyConfig::default(),
        }
    }
}

/// A successful read: the client's JSON body, and the shards left out of it (partial mode).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadAnswer {
    pub body: Value,
    pub missing_shards: Vec<ShardId>,
}

impl ReadAnswer {
    pub fn complete(body: Value) -> ReadAnswer {
        ReadAnswer { body, missing_shards: Vec::new() }
    }
}

impl IntoResponse for ReadAnswer {
    fn into_response(self) -> Response {
        let mut response = axum::Json(self.body).into_response();
        if !self.missing_shards.is_empty() {
            let names: Vec<String> = self.missing_shards.iter().map(|shard| shard.name()).collect();
            if let Ok(value) = HeaderValue::from_str(&names.join(",")) {
                response.headers_mut().insert(HeaderName::from_static(PARTIAL_HEADER), value);
            }
        }
        response
    }
}

/// Executes reads against the cluster. Cheap to clone.
#[derive(Clone)]
pub struct ReadExecutor(Arc<Inner>);

pub(crate) struct Inner {
    /// The view reads of each index layout take (see [`ReadView`]; the launch layout's from the
    /// start), rebuilt when the topology book's read view of the layout changes.
    views: RwLock<BTreeMap<Option<u32>, Arc<ReadView>>>,
    /// Every node known so far, by position (the launch topology's first, then nodes added by
    /// topology changes); the transport, bench and stats address nodes by these positions.
    known_nodes: Mutex<Vec<Node>>,
    /// The topology book reads follow, once this gateway folds it.
    topology: std::sync::OnceLock<Arc<crate::topology_changes::TopologyService>>,
    pub transport: Arc<dyn NodeTransport>,
    bench: Mutex<Bench>,
    /// Each node's recent latencies and calls in flight, and the hedge budget.
    tail: TailState,
    turn: AtomicUsize,
    pub config: ReadConfig,
    pub meta_cache: Mutex<HashMap<String, (Instant, IndexMeta)>>,
    /// Which replicas lag behind the log, once this gateway follows the indexers' announcements.
    replica_lag: std::sync::OnceLock<Arc<crate::replica_lag::ReplicaLagService>>,
}

impl ReadExecutor {
    /// Talks HTTP to the nodes of `topology`.
    pub fn new(topology: Topology, config: ReadConfig) -> Result<ReadExecutor, NodeError> {
        let transport = HttpTransport::new(&topology, config.node_timeout)?;
        Ok(ReadExecutor::with_transport(topology, Arc::new(transport), config))
    }

    /// Talks to the nodes through `transport` (node positions = topology order).
    pub fn with_transport(topology: Topology, transport: Arc<dyn NodeTransport>, config: ReadConfig) -> ReadExecutor {
        let nodes = topology.nodes.clone();
        let bench = Mutex::new(Bench::new(nodes.len()));
        let tail = TailState::new(nodes.len(), config.tail.hedge_budget_percent);
        let view = ReadView::new(None, Arc::new(Placement::new(topology)), false, nodes.clone());
        ReadExecutor(Arc::new(Inner {
            tail,
            views: RwLock::new(BTreeMap::from([(None, Arc::new(view))])),
            known_nodes: Mutex::new(nodes),
            topology: std::sync::OnceLock::new(),
            transport,
            bench,
            turn: AtomicUsize::new(0),
            config,
            meta_cache: Mutex::new(HashMap::new()),
            replica_lag: std::sync::OnceLock::new(),
        }))
    }

    /// The `ops` partitions on which `node`'s replicas lag behind the log now (none known when
    /// this gateway does not follow the announcements).
    pub fn lagging_partitions(&self, node: &str) -> Vec<u32> {
        self.0.replica_lag.get().map(|lag| lag.lagging_partitions(node)).unwrap_or_default()
    }

    /// From now on, reads ask replicas that lag behind the log (as the indexers announce them)
    /// only when no other replica can answer.
    pub fn follow_replica_lag(&self, service: Arc<crate::replica_lag::ReplicaLagService>) {
        let _ = self.0.replica_lag.set(service);
    }

    /// From now on, reads take their placement from the topology book (online topology
    /// changes) instead of the launch topology.
    pub fn follow_topology(&self, service: Arc<crate::topology_changes::TopologyService>) {
        let _ = self.0.topology.set(service);
    }

    /// The placement reads of `index_uid` use now (its layout's).
    pub fn placement(&self, index_uid: &str) -> Arc<Placement> {
        self.0.view(index_uid).placement.clone()
    }

    pub fn config(&self) -> &ReadConfig {
        &self.0.config
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }

    /// Every shard of `index_uid`'s layout, ascending.
    pub fn all_shards(&self, index_uid: &str) -> Vec<ShardId> {
        self.0.view(index_uid).placement.shards().collect()
    }

    /// Whether node `node` (position: launch topology order, then nodes added later) is
    /// benched right now.
    pub fn is_benched(&self, node: usize) -> bool {
        self.0.bench.lock().expect("bench lock").health(node).is_benched(Instant::now())
    }

    /// Whether the node named `id` is benched right now.
    pub fn is_node_benched(&self, id: &str) -> bool {
        let position = self.0.known_nodes.lock().expect("known nodes lock").iter().position(|node| node.id == id);
        position.is_some_and(|node| self.is_benched(node))
    }
}

impl ReadExecutor {
    /// The node index of `index_uid` that node `node` (position) keeps `shard` in.
    pub(crate) fn node_index_of(view: &ReadView, index_uid: &str, node: usize, shard: ShardId) -> String {
        view.node_index(index_uid, view.rank_of(shard, node).unwrap_or(ReplicaRank(0)))
    }

    /// One node call per shard of `shards` (`call_of(shard, node index holding it)`; `None`
    /// skips the shard; the call must narrow itself to the shard, the node index holds others),
    /// each chosen node answering for all its shards concurrently, every answer read by `parse`
    /// (an answer it refuses counts as the node's failure, so another replica is asked). Node
    /// errors that are the user's come back as a single-index route gives them.
    pub(crate) async fn call_each_shard<T>(
        &self,
        index_uid: &str,
        shards: &[ShardId],
        call_of: impl Fn(ShardId, String) -> Option<NodeCall>,
        parse: impl Fn(Value) -> Result<T, String> + Copy,
    ) -> Result<Gathered<Vec<(ShardId, T)>>, ReadError> {
        let inner = self.inner();
        let view = inner.view(index_uid);
        inner
            .gather(&view, index_uid, shards, |node, shards| {
                let calls = shards
                    .into_iter()
                    .filter_map(|shard| Some((shard, call_of(shard, ReadExecutor::node_index_of(&view, index_uid, node, shard))?)));
                inner.call_all(node, calls.collect(), parse)
            })
            .await
    }

    /// One node call per node index part answering for `shards` (`call_of(part, its node
    /// index)`, narrowed by the caller to the part's shards unless it is whole; `None` skips
    /// it), as [`ReadExecutor::call_each_shard`] otherwise.
    pub(crate) async fn call_each_part<T>(
        &self,
        index_uid: &str,
        shards: &[ShardId],
        call_of: impl Fn(&NodeIndexPart, String) -> Option<NodeCall>,
        parse: impl Fn(Value) -> Result<T, String> + Copy,
    ) -> Result<Gathered<Vec<(NodeIndexPart, T)>>, ReadError> {
        let inner = self.inner();
        let view = inner.view(index_uid);
        inner
            .gather(&view, index_uid, shards, |node, shards| {
                let parts = view.node_index_parts(node, &shards);
                let calls = parts.into_iter().filter_map(|part| {
                    let call = call_of(&part, view.node_index(index_uid, part.rank))?;
                    Some((part, call))
                });
                inner.call_all(node, calls.collect(), parse)
            })
            .await
    }

    /// `call_of(node index holding shard)` on a replica of `shard`: its answer, or `None` with
    /// the shard listed as missing (partial mode only).
    pub(crate) async fn call_one_shard(
        &self,
        index_uid: &str,
        shard: ShardId,
        call_of: impl Fn(String) -> NodeCall,
    ) -> Result<(Option<Value>, Vec<ShardId>), ReadError> {
        let inner = self.inner();
        let call_of = &call_of;
        let view = inner.view(index_uid);
        let view = &view;
        let gathered = inner
            .gather(view, index_uid, &[shard], |node, _| async move {
                let call = call_of(ReadExecutor::node_index_of(view, index_uid, node, shard));
                inner.transport.call(node, &call).await.map_err(single_index_failure)
            })
            .await?;
        Ok((gathered.answers.into_iter().next().map(|answered| answered.value), gathered.missing))
    }
}

/// A request body for the node index `part` names: as the client sent it, its `filter`
/// narrowed to the part's shards when the node index holds others too.
pub(crate) fn narrowed_body(request: &Map<String, Value>, part: &NodeIndexPart) -> Value {
    let mut body = request.clone();
    if !part.whole {
        let filter = narrowed_to_shards(body.get("filter").unwrap_or(&Value::Null), &part.shards);
        body.insert("filter".into(), filter);
    }
    Value::Object(body)
}

/// A node error as a single-index route reports it (see [`Failure::from_node_error`]).
pub(crate) fn single_index_failure(error: NodeError) -> Failure {
    Failure::from_node_error(error, |object| client_error(object, ClientRequest::SingleIndex, |_| None))
}

impl Inner {
    /// Sends every call of `calls` to `node` concurrently; each answer read by `parse` (an answer
    /// it refuses counts as the node's failure) and kept with its key.
    async fn call_all<K, T>(
        &self,
        node: usize,
        calls: Vec<(K, NodeCall)>,
        parse: impl Fn(Value) -> Result<T, String> + Copy,
    ) -> Result<Vec<(K, T)>, Failure> {
        let answers = calls.into_iter().map(|(key, call)| async move {
            let answer = self.transport.call(node, &call).await.map_err(single_index_failure)?;
            Ok((key, parse(answer).map_err(Failure::Node)?))
        });
        futures::future::join_all(answers).await.into_iter().collect()
    }

    /// The view a read of `index_uid` takes now: its current layout's (see
    /// [`Inner::layout_view`]).
    pub(crate) fn view(&self, index_uid: &str) -> Arc<ReadView> {
        self.layout_view(self.layout_of(index_uid))
    }

    /// The current layout of `index_uid` (`None` too while this gateway does not follow the
    /// topology book).
    pub(crate) fn layout_of(&self, index_uid: &str) -> Option<u32> {
        self.topology.get().and_then(|book| book.layout(index_uid))
    }

    /// The view reads of index layout `layout` take now: the topology book's read view of it
    /// when this gateway follows the book (nodes it names for the first time get a position,
    /// a transport, a bench entry and stats first), else the launch topology's.
    pub(crate) fn layout_view(&self, layout: Option<u32>) -> Arc<ReadView> {
        let current = self.views.read().expect("read view lock").get(&layout).cloned();
        let Some(book) = self.topology.get() else {
            return current.unwrap_or_else(|| self.views.read().expect("read view lock")[&None].clone());
        };
        let (placement, narrowed) = book.read_view(layout);
        if let Some(current) = current.filter(|view| Arc::ptr_eq(&view.placement, &placement) && view.narrowed == narrowed) {
            return current;
        }
        let nodes = self.register_nodes(&placement.topology().nodes);
        let view = Arc::new(ReadView::new(layout, placement, narrowed, nodes));
        self.views.write().expect("read view lock").insert(layout, view.clone());
        view
    }

    /// Gives every node of `nodes` not known yet a position (a transport first, then a bench
    /// entry and stats); returns every known node by position. A node whose transport cannot
    /// be made gets none, and reads pass it over.
    fn register_nodes(&self, nodes: &[Node]) -> Vec<Node> {
        let mut known = self.known_nodes.lock().expect("known nodes lock");
        for node in nodes {
            if known.iter().any(|other| other.id == node.id) {
                continue;
            }
            match self.transport.add_node(node) {
                Ok(position) if position == known.len() => {
                    known.push(node.clone());
                    self.bench.lock().expect("bench lock").grow(known.len());
                    self.tail.grow(known.len());
                    tracing::info!(node = %node.id, position, "reads know a node added by a topology change");
                }
                Ok(position) => {
                    tracing::error!(node = %node.id, position, known = known.len(), "the transport numbered a node out of order")
                }
                Err(error) => tracing::error!(node = %node.id, %error, "no transport to a node added by a topology change"),
            }
        }
        known.clone()
    }

    /// The nodes a read of `index` avoids now, as `assign` takes them: the benched ones, and the
    /// ones whose node indexes of `index` lag behind the log (marked as benched until `now`, so
    /// they are asked only when no other replica can answer, and before a node that failed).
    fn avoided(&self, view: &ReadView, index: &str, now: Instant) -> Vec<Option<Instant>> {
        let mut avoided = self.bench.lock().expect("bench lock").benched_until(now);
        avoided.resize(view.nodes().len().max(avoided.len()), None);
        if let Some(lag) = self.replica_lag.get() {
            let lagging = lag.lagging_nodes(index);
            for (position, node) in view.nodes().iter().enumerate() {
                if lagging.contains(&node.id) && avoided[position].is_none() {
                    avoided[position] = Some(now);
                }
            }
        }
        avoided
    }

    /// Benches a node that failed a read or clears it after an answer, and exports how many
    /// nodes are benched now.
    fn record_node_outcome(&self, node: usize, answered: bool) {
        let now = Instant::now();
        let benched = {
            let mut bench = self.bench.lock().expect("bench lock");
            if answered {
                bench.record_success(node);
            } else {
                bench.record_failure(node, now);
            }
            bench.benched_until(now).iter().filter(|until| until.is_some()).count()
        };
        metrics::gauge!("miroir_read_nodes_benched").set(benched as f64);
    }

    /// Asks one replica of every shard in `shards`, each chosen node once for all its shards
    /// (`send(node, its shards)`), and moves a failing node's shards to other replicas until
    /// every shard has answered or the deadline passes. `index` names the index in errors.
    pub async fn gather<T, F, Fut>(&self, view: &ReadView, index: &str, shards: &[ShardId], send: F) -> Result<Gathered<T>, ReadError>
    where
        F: Fn(usize, Vec<ShardId>) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        self.gather_from_group(view, index, shards, turn, send).await
    }
}

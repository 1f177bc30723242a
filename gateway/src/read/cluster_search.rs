//! `POST /indexes/{uid}/search` and `POST /multi-search` (plain and federated) over the cluster.

use super::error::ReadError;
use super::executor::{Inner, ReadAnswer, ReadExecutor, ReadView};
use super::fanout::{Failure, Gathered};
use super::index_meta::IndexMeta;
use super::rewrite::{client_error, ClientRequest};
use super::transport::NodeCall;
use crate::search::multi::{FederatedPlan, MultiSearchPlan};
use crate::search::{search_response, settle, MergeError, NodeAnswer, NodeRequest, NodeResult, SearchPlan, Settled};
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::filter::{parse_json, primary_key_candidates};
use miroir_schemas::node_layout::{multi_search_for_node, request_for_node};
use miroir_schemas::placement::NodeIndexPart;
use miroir_schemas::topology::ShardId;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Splits a single-index search's time into the wait for the nodes' answers (every fan-out
/// round) and the gateway's own part: planning, index metadata, merging, shaping the answer
/// (`docs/metrics.md`).
fn record_search_time(total: Duration, waited_for_nodes: Duration) {
    metrics::histogram!("miroir_search_node_wait_seconds").record(waited_for_nodes.as_secs_f64());
    metrics::histogram!("miroir_search_gateway_seconds").record(total.saturating_sub(waited_for_nodes).as_secs_f64());
}

impl ReadExecutor {
    /// `POST /indexes/{index_uid}/search` with the client's (validated) JSON body.
    pub async fn search(&self, index_uid: &str, request: &Map<String, Value>) -> Result<ReadAnswer, ReadError> {
        let started = Instant::now();
        let request = &*request_for_node(request);
        let mut waited_for_nodes = Duration::ZERO;
        let meta = self.index_meta(index_uid).await?;
        let mut plan = SearchPlan::new(index_uid, request, meta.settings.clone())?;
        let shards = self.narrowed_shards(index_uid, request, &meta);
        // One view for every round: a reshard switching meanwhile cannot mix two layouts.
        let view = self.inner().view(index_uid);
        loop {
            let asked = Instant::now();
            super::explain::note_round(plan.node_fetch());
            let turn = search_turn(&[(index_uid, request)]);
            let gathered = self
                .gather_search(&view, index_uid, &shards, turn, ClientRequest::SingleIndex, |layout, parts| {
                    plan.node_request(layout, parts)
                })
                .await?;
            waited_for_nodes += asked.elapsed();
            let results: Vec<NodeResult> = gathered.values().cloned().collect();
            match settle(&plan, &results)? {
                Settled::Refill(fetch) => plan = plan.widened(fetch),
                Settled::Done(merged) => {
                    let body = search_response(&plan.merge, &merged, Some(&request_uid()));
                    record_search_time(started.elapsed(), waited_for_nodes);
                    return Ok(ReadAnswer { body, missing_shards: gathered.missing });
                }
            }
        }
    }

    /// `GET /indexes/{index_uid}/search?<query>`: the query string converted as Meilisearch
    /// converts it, then the same search as POST.
    pub async fn search_get(&self, index_uid: &str, query: &[(String, String)]) -> Result<ReadAnswer, ReadError> {
        let request = super::query_string::search_query_to_body(query)?;
        self.search(index_uid, &request).await
    }

    /// `POST /multi-search`: federated when the body has a non-null `federation`, else one
    /// answer per query.
    pub async fn multi_search(&self, body: &Map<String, Value>) -> Result<ReadAnswer, ReadError> {
        let body = &*multi_search_for_node(body);
        let queries: Vec<Value> = body.get("queries").and_then(Value::as_array).cloned().unwrap_or_default();
        let metas = self.metas_of(body, &queries).await?;
        let settings_of = |uid: &str| metas.get(uid).map(|meta| meta.settings.clone()).unwrap_or_default();
        if body.get("federation").is_some_and(|federation| !federation.is_null()) {
            let mut plan = FederatedPlan::new(body, settings_of)?;
            let label = federated_label(&queries);
            let searched: Vec<(&str, &Map<String, Value>)> =
                queries.iter().filter_map(|query| Some((query.get("indexUid")?.as_str()?, query.as_object()?))).collect();
            // A node query names node indexes of one layout: the queries of indexes in different
            // layouts (one was resharded) are asked in one gather per layout, and the merge
            // takes every answer alike (each names its query and shard).
            let layout_of = federated_layouts(&plan, |uid| self.inner().layout_of(uid));
            let mut layouts: BTreeSet<Option<u32>> = layout_of.values().copied().collect();
            if layouts.is_empty() {
                // No query: one (empty) gather as before, Meilisearch's answer to it.
                layouts.insert(None);
            }
            let views: Vec<Arc<ReadView>> = layouts.into_iter().map(|layout| self.inner().layout_view(layout)).collect();
            let turn = search_turn(&searched);
            loop {
                let gathers = views.iter().map(|view| {
                    let shards: Vec<ShardId> = view.placement.shards().collect();
                    let (plan, label, layout_of) = (&plan, &label, &layout_of);
                    let in_layout = move |index: &str| layout_of.get(index) == Some(&view.layout);
                    async move {
                        self.gather_search(view, label, &shards, turn, ClientRequest::FederatedSearch, |layout, parts| {
                            plan.node_request_of(layout, parts, &in_layout)
                        })
                        .await
                    }
                });
                let gathered = futures::future::try_join_all(gathers).await?;
                let results: Vec<NodeResult> = gathered.iter().flat_map(|gathered| gathered.values().cloned()).collect();
                let missing: BTreeSet<ShardId> = gathered.iter().flat_map(|gathered| gathered.missing.iter().copied()).collect();
                let merged = plan.merge(&results)?;
                if let Some(fetch) = plan.distinct_refill(&results, &merged) {
                    plan = plan.widened(fetch);
                    continue;
                }
                let body = plan.response_from(&results, &merged, Some(&request_uid()))?;
                return Ok(ReadAnswer { body, missing_shards: missing.into_iter().collect() });
            }
        }
        let plan = MultiSearchPlan::new(&queries, settings_of).map_err(|error| in_query(error, None))?;
        let searches = plan.searches.iter().zip(&queries).enumerate().map(|(position, (search, query))| {
            let request = query.as_object().cloned().unwrap_or_default();
            let meta = metas.get(&search.merge.index_uid).cloned();
            async move {
                let index_uid = search.merge.index_uid.as_str();
                let shards = meta.map_or_else(|| self.all_shards(index_uid), |meta| self.narrowed_shards(index_uid, &request, &meta));
                let view = self.inner().view(index_uid);
                let mode = ClientRequest::MultiSearch;
                let mut search = search.clone();
                let turn = search_turn(&[(search.merge.index_uid.as_str(), &request)]);
                loop {
                    let gathered = self
                        .gather_search(&view, &search.merge.index_uid, &shards, turn, mode, |layout, parts| {
                            let mut request = search.node_request(layout, parts);
                            // the node sees one query; its errors must name the client's position
                            request.origins.iter_mut().for_each(|origin| origin.query = position);
                            request
                        })
                        .await?;
                    // the merge addresses hits of a plain query as query 0
                    let results: Vec<NodeResult> = gathered
                        .values()
                        .cloned()
                        .map(|mut result| {
                            result.origins.iter_mut().for_each(|origin| origin.query = 0);
                            result
                        })
                        .collect();
                    // as for a single search: `distinct` may need more hits from the nodes
                    match settle(&search, &results).map_err(|error| in_query(error, None))? {
                        Settled::Refill(fetch) => search = search.widened(fetch),
                        Settled::Done(merged) => return Ok::<_, ReadError>((merged, gathered.missing)),
                    }
                }
            }
        });
        let answered = futures::future::join_all(searches).await;
        let mut merged = Vec::with_capacity(answered.len());
        let mut missing = BTreeSet::new();
        for answer in answered {
            let (query_merged, query_missing) = answer?;
            missing.extend(query_missing);
            merged.push(query_merged);
        }
        let body = plan.response(&merged, Some(&request_uid()));
        Ok(ReadAnswer { body, missing_shards: missing.into_iter().collect() })
    }

    /// The metadata of every index a multi-search names, read concurrently. An unknown index
    /// is Meilisearch's multi-search error for the first query naming it.
    async fn metas_of(&self, body: &Map<String, Value>, queries: &[Value]) -> Result<BTreeMap<String, IndexMeta>, ReadError> {
        let mut uids: Vec<(Option<usize>, String)> = Vec::new();
        for (position, query) in queries.iter().enumerate() {
            if let Some(uid) = query.get("indexUid").and_then(Value::as_str) {
                if !uids.iter().any(|(_, known)| known == uid) {
                    uids.push((Some(position), uid.to_owned()));
                }
            }
        }
        let facets_by_index = body.get("federation").and_then(|federation| federation.get("facetsByIndex")).and_then(Value::as_object);
        for uid in facets_by_index.into_iter().flat_map(|by_index| by_index.keys()) {
            if !uids.iter().any(|(_, known)| known == uid) {
                uids.push((None, uid.clone()));
            }
        }
        let reads = uids.iter().map(|(_, uid)| self.index_meta(uid));
        let metas = futures::future::join_all(reads).await;
        let mut by_uid = BTreeMap::new();
        for ((position, uid), meta) in uids.into_iter().zip(metas) {
            match meta {
                Ok(meta) => {
                    by_uid.insert(uid, meta);
                }
                Err(ReadError::User(error)) => return Err(ReadError::User(in_query_error(error, position, &uid))),
                Err(other) => return Err(other),
            }
        }
        Ok(by_uid)
    }

    /// The shards a search must ask: all of them, or those owning the primary-key values the
    /// filter pins (at least one, so the filter is still checked by a node).
    pub(crate) fn narrowed_shards(&self, index_uid: &str, request: &Map<String, Value>, meta: &IndexMeta) -> Vec<ShardId> {
        let Some(ids) = self.pinned_ids(request, meta) else { return self.all_shards(index_uid) };
        let placement = self.placement(index_uid);
        let shards: BTreeSet<ShardId> = ids.iter().map(|id| placement.shard_of(id)).collect();
        if shards.is_empty() {
            return vec![ShardId(0)];
        }
        shards.into_iter().collect()
    }

    /// The primary-key values the search's filter pins, when it pins few enough to narrow it.
    pub(crate) fn pinned_ids(&self, request: &Map<String, Value>, meta: &IndexMeta) -> Option<BTreeSet<String>> {
        let filter = parse_json(request.get("filter")?).ok()??;
        primary_key_candidates(&filter, meta.primary_key.as_deref()?, self.config().max_pinned_ids)
    }

    /// Sends every chosen node of `view` the proxy search `node_request(the view's layout, its
    /// node index parts)` and parses the answers.
    async fn gather_search(
        &self,
        view: &ReadView,
        index_label: &str,
        shards: &[ShardId],
        turn: usize,
        mode: ClientRequest,
        node_request: impl Fn(Option<u32>, &[NodeIndexPart]) -> NodeRequest,
    ) -> Result<Gathered<NodeResult>, ReadError> {
        let inner: &Inner = self.inner();
        inner
            .gather_from_group(view, index_label, shards, turn, |node, shards| {
                let parts = view.node_index_parts(node, &shards);
                let request = node_request(view.layout, &parts);
                let watch = super::explain::CallWatch::start(view.node_id(node), &shards);
                async move {
                    let NodeRequest { body, origins } = request;
                    let answer = inner.transport.call(node, &NodeCall::ProxySearch { body }).await;
                    if let Some(watch) = watch {
                        watch.end(answer.as_ref().err().map(ToString::to_string));
                    }
                    let answer = answer.map_err(|error| {
                        Failure::from_node_error(error, |object| client_error(object, mode, |k| origins.get(k).map(|origin| origin.query)))
                    })?;
                    let answer = NodeAnswer::parse(&answer).map_err(|error| Failure::Node(error.to_string()))?;
                    Ok(NodeResult { origins, answer })
                }
            })
            .await
    }
}

/// Which replica group a search reads first: derived from what it searches (indexes and `q`),
/// not from its page or display options, so every page of a search, and the same search again,
/// read the same node indexes and order equal hits the same way (see `gather_from_group`).
/// Different searches spread over the groups.
pub(crate) fn search_turn(searched: &[(&str, &Map<String, Value>)]) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    for (index_uid, request) in searched {
        index_uid.hash(&mut hasher);
        request.get("q").and_then(Value::as_str).unwrap_or_default().hash(&mut hasher);
    }
    hasher.finish() as usize
}

/// A UUIDv7 per request, as Meilisearch's `requestUid`.
pub(crate) fn request_uid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The layout each index of a federated search is asked in: its own for the queried indexes; an
/// index only named in `facetsByIndex` goes with the first query's.
fn federated_layouts(plan: &FederatedPlan, layout_of: impl Fn(&str) -> Option<u32>) -> BTreeMap<String, Option<u32>> {
    let mut layouts: BTreeMap<String, Option<u32>> = plan.query_indexes().map(|uid| (uid.to_owned(), layout_of(uid))).collect();
    let first = plan.query_indexes().next().and_then(&layout_of);
    for index in plan.facet_indexes() {
        layouts.entry(index.to_owned()).or_insert(first);
    }
    layouts
}

/// The index named in a federated search's unavailability error.
fn federated_label(queries: &[Value]) -> String {
    let uids: BTreeSet<&str> = queries.iter().filter_map(|query| query.get("indexUid").and_then(Value::as_str)).collect();
    uids.into_iter().collect::<Vec<_>>().join("`, `")
}

/// A planner error of a plain multi-search: Meilisearch names the query.
fn in_query(error: MergeError, position: Option<usize>) -> ReadError {
    match (error, position) {
        (MergeError::InvalidParameter { code, message }, Some(position)) => {
            ReadError::User(ResponseError::new(code, format!("Inside `.queries[{position}]`: {message}")))
        }
        (other, _) => ReadError::Merge(other),
    }
}

/// An index error met while preparing a multi-search, as Meilisearch reports it: in the query's
/// context (or the `facetsByIndex` entry's), `index_not_found` as a `400`.
fn in_query_error(mut error: ResponseError, position: Option<usize>, uid: &str) -> ResponseError {
    error.message = match position {
        Some(position) => format!("Inside `.queries[{position}]`: {}", error.message),
        None => format!("Inside `.federation.facetsByIndex.{uid}`: {}\n - Note: index `{uid}` is not used in queries", error.message),
    };
    if error.known_code() == Some(Code::IndexNotFound) {
        error.http_status = 400;
    }
    error
}

//! `GET/POST /indexes/{uid}/similar` over the cluster (the plan and merge are
//! [`crate::search::similar`]).
//!
//! 1. The target's shard, concurrently: Meilisearch's `/similar` for the whole window (it
//!    validates the request and reports every error exactly, unknown index included), and a
//!    `documents/fetch` of the target with `retrieveVectors` (under the tenant filter, which
//!    Meilisearch also requires the target to match).
//! 2. Every other shard: a pure vector search with the target's embedding.
//! 3. The answers merge by similarity.

use super::error::ReadError;
use super::executor::{narrowed_body, ReadAnswer, ReadExecutor};
use super::transport::NodeCall;
use crate::search::similar::{merge, target_vector, ShardAnswer, SimilarPlan};
use miroir_schemas::error::Code;
use miroir_schemas::node_layout::{filter_for_node, request_for_node, ReplicaRank};
use miroir_schemas::placement::NodeIndexPart;
use miroir_schemas::topology::ShardId;
use serde_json::{json, Map, Value};
use std::time::Instant;

impl ReadExecutor {
    /// `POST /indexes/{index_uid}/similar`. `request` carries the tenant filter ANDed into its
    /// `filter`; `tenant_filter` is that rule alone, which the target document must match.
    pub async fn similar(
        &self,
        index_uid: &str,
        request: &Map<String, Value>,
        tenant_filter: Option<Value>,
    ) -> Result<ReadAnswer, ReadError> {
        let started = Instant::now();
        let request = &*request_for_node(request);
        let tenant_filter = tenant_filter.map(|filter| filter_for_node(&filter));
        let plan = SimilarPlan::new(request);
        // an id that cannot be routed is refused by whichever shard gets it
        let target_shard = plan.id.as_deref().map_or(ShardId(0), |id| self.placement(index_uid).shard_of(id));
        // The target's node index holds other shards too: its similar documents are narrowed to
        // the target's shard, the other shards answer below.
        let similar_request = match plan.target_request() {
            Value::Object(request) => request,
            _ => Map::new(),
        };
        let target_part = NodeIndexPart { rank: ReplicaRank(0), shards: vec![target_shard], whole: false };
        let similar_body = narrowed_body(&similar_request, &target_part);
        let similar_call = |node_index| NodeCall::Similar { node_index, body: similar_body.clone() };
        let mut fetch = json!({"ids": [plan.id.clone().unwrap_or_default()], "retrieveVectors": true, "limit": 1});
        if let Some(filter) = tenant_filter {
            fetch["filter"] = filter;
        }
        let fetch_call = |node_index| NodeCall::FetchDocuments { node_index, body: fetch.clone() };
        let (similar, target) = futures::join!(
            self.call_one_shard(index_uid, target_shard, similar_call),
            self.call_one_shard(index_uid, target_shard, fetch_call)
        );
        let (similar, mut missing) = similar?;
        let Some(similar) = similar else {
            return Err(ReadError::ShardsUnavailable { index: index_uid.to_owned(), shards: missing });
        };
        let Some(id) = plan.id.as_deref() else {
            return Err(ReadError::Internal("a node found similar documents for an invalid id".into()));
        };
        let target = match target {
            // the target's own shard just answered: a failure now is the user's fetch error
            Ok((Some(page), _)) => page.get("results").and_then(Value::as_array).and_then(|results| results.first().cloned()),
            Ok((None, _)) => None,
            Err(error) => return Err(error),
        };
        let Some(target) = target else {
            return Err(ReadError::user(Code::NotFoundSimilarId, format!("Document `{id}` not found.")));
        };

        let vector = plan.embedder.as_deref().and_then(|embedder| target_vector(&target, embedder));
        let others: Vec<ShardId> = self.all_shards(index_uid).into_iter().filter(|shard| *shard != target_shard).collect();
        let request = match plan.other_shard_request(vector.as_ref()) {
            Value::Object(request) => request,
            _ => Map::new(),
        };
        let search_of = |part: &NodeIndexPart, node_index| Some(NodeCall::Search { node_index, body: narrowed_body(&request, part) });
        let searched = self.call_each_part(index_uid, &others, search_of, Ok).await?;
        missing.extend(searched.missing.iter().copied());

        let mut answers = vec![(target_shard, ShardAnswer { body: similar.clone(), is_vector_search: false })];
        answers.extend(
            searched.values().flatten().map(|(part, body)| (part.shards[0], ShardAnswer { body: body.clone(), is_vector_search: true })),
        );
        answers.sort_by_key(|(shard, _)| *shard);
        let answers: Vec<ShardAnswer> = answers.into_iter().map(|(_, answer)| answer).collect();
        let max_total_hits = self.index_meta(index_uid).await?.settings.max_total_hits;
        let mut body = merge(&plan, &answers, max_total_hits, started.elapsed().as_millis());
        if let Some(details) = similar.get("performanceDetails") {
            body["performanceDetails"] = details.clone();
        }
        missing.sort();
        missing.dedup();
        Ok(ReadAnswer { body, missing_shards: missing })
    }
}

//! `Miroir-Explain` for a single-index search: the plan (what the read would do, and why) from
//! the executor's own state (preference order, bench, loads), or a run recorded call by call.

use super::Inner;
use crate::read::assign::assign;
use crate::read::cluster_search::search_turn;
use crate::read::error::ReadError;
use crate::read::explain::{recording, ExplainMode};
use crate::read::{ReadAnswer, ReadExecutor};
use crate::search::explain::{plan_view, run_view, Candidate, Narrowing, NodePlan, PlanFacts, ShardChoice};
use crate::search::SearchPlan;
use miroir_schemas::node_layout::request_for_node;
use miroir_schemas::topology::ShardId;
use serde_json::{json, Map, Value};
use std::time::Instant;

/// The field of a search answer (`run`), or the whole answer (`plan`), holding the explanation.
pub const EXPLAIN_FIELD: &str = "_miroirExplain";

impl ReadExecutor {
    /// `POST /indexes/{index_uid}/search` with `Miroir-Explain`: the plan alone, or the answer
    /// with what the search did.
    pub async fn explain_search(&self, index_uid: &str, request: &Map<String, Value>, mode: ExplainMode) -> Result<ReadAnswer, ReadError> {
        match mode {
            ExplainMode::Plan => Ok(ReadAnswer::complete(json!({ EXPLAIN_FIELD: self.search_plan(index_uid, request).await? }))),
            ExplainMode::Run => {
                let (answer, log) = recording(self.search(index_uid, request)).await;
                let mut answer = answer?;
                let narrowing = self.narrowing(index_uid, &request_for_node(request)).await?;
                let total_ms = log.started.elapsed().as_secs_f64() * 1000.0;
                if let Value::Object(body) = &mut answer.body {
                    body.insert(EXPLAIN_FIELD.into(), run_view(&narrowing, &log.rounds, &log.calls, total_ms));
                }
                Ok(answer)
            }
        }
    }

    async fn narrowing(&self, index_uid: &str, request: &Map<String, Value>) -> Result<Narrowing, ReadError> {
        let meta = self.index_meta(index_uid).await?;
        Ok(Narrowing {
            shard_count: self.all_shards(index_uid).len() as u32,
            asked: self.narrowed_shards(index_uid, request, &meta).iter().map(|shard| shard.0).collect(),
            primary_key: meta.primary_key.clone(),
            pinned_ids: self.pinned_ids(request, &meta).map(|ids| ids.into_iter().collect()),
        })
    }

    /// What the search would do now: the shards, each shard's replica and why, the node
    /// requests, the hits asked per node and when the merge would ask again.
    async fn search_plan(&self, index_uid: &str, request: &Map<String, Value>) -> Result<Value, ReadError> {
        let request = &*request_for_node(request);
        let meta = self.index_meta(index_uid).await?;
        let plan = SearchPlan::new(index_uid, request, meta.settings.clone())?;
        let narrowing = self.narrowing(index_uid, request).await?;
        let shards: Vec<ShardId> = narrowing.asked.iter().map(|&shard| ShardId(shard)).collect();
        let turn = search_turn(&[(index_uid, request)]);
        let inner: &Inner = self.inner();
        let view = inner.view(index_uid);
        let placement = &view.placement;
        let nodes = view.nodes();
        let benched = inner.avoided(&view, index_uid, Instant::now());
        let assignment = assign(&shards, |shard| view.preference(shard, turn), &benched, |_, _| false);
        let choices = shards
            .iter()
            .map(|&shard| {
                let preference = view.preference(shard, turn);
                let chosen_node = assignment.by_node.iter().find(|(_, held)| held.contains(&shard)).map(|(&node, _)| node);
                let candidates = preference
                    .iter()
                    .map(|&node| Candidate {
                        node_id: nodes[node].id.clone(),
                        group: nodes[node].replica_group.clone(),
                        rank: placement.rank_of(shard, &nodes[node].id).map_or(0, |rank| rank.0),
                        benched: benched.get(node).copied().flatten().is_some(),
                    })
                    .collect();
                ShardChoice { shard: shard.0, candidates, chosen: chosen_node.and_then(|node| preference.iter().position(|&n| n == node)) }
            })
            .collect();
        let node_plans = assignment
            .by_node
            .iter()
            .map(|(&node, held)| {
                let parts = view.node_index_parts(node, held);
                NodePlan {
                    node_id: nodes[node].id.clone(),
                    shards: held.iter().map(|shard| shard.0).collect(),
                    body: plan.node_request(view.layout, &parts).body,
                }
            })
            .collect();
        let groups = placement.replica_groups();
        let loads = inner.tail.loads().into_iter().zip(nodes).map(|(load, node)| (node.id.clone(), load.ewma_ms, load.in_flight)).collect();
        let tail = &inner.config.tail;
        let facts = PlanFacts {
            index: index_uid.to_owned(),
            narrowing,
            first_group: groups.get(turn % groups.len().max(1)).cloned().unwrap_or_default(),
            choices,
            nodes: node_plans,
            fetch_per_node: plan.node_fetch(),
            distinct: plan.merge.distinct.clone(),
            loads,
            adaptive_replicas: tail.adaptive_replicas,
            hedging: json!({
                "budgetPercent": tail.hedge_budget_percent,
                "percentile": tail.hedge_percentile,
                "minDelayMs": tail.hedge_min_delay.as_millis() as u64,
            }),
        };
        Ok(plan_view(&facts))
    }
}

//! `Miroir-Explain` (pure): what a single-index search will do, or did, told as JSON. The read
//! path gathers the facts (which shards, each shard's replicas in preference order and which
//! one is chosen, the node requests, the calls made and how long each took); this module says
//! why and lays them out (docs/miroir-headers.md).

use serde_json::{json, Value};

/// One replica of a shard, in the order a read tries them.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub node_id: String,
    pub group: String,
    pub rank: u32,
    /// Reads avoid the node right now (it failed recently).
    pub benched: bool,
}

/// A shard's replicas in preference order and the one the read asks.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardChoice {
    pub shard: u32,
    pub candidates: Vec<Candidate>,
    /// Position of the chosen replica in `candidates`; `None`: no replica may be asked.
    pub chosen: Option<usize>,
}

/// Why the read asks `choice.chosen` for its shard.
pub fn replica_reason(choice: &ShardChoice) -> String {
    let Some(chosen) = choice.chosen.and_then(|at| Some((at, choice.candidates.get(at)?))) else {
        return "no replica may be asked: the shard is unavailable".to_owned();
    };
    let (at, replica) = chosen;
    let place = format!("replica group `{}`, rank {}", replica.group, replica.rank);
    if replica.benched {
        return format!("every replica is benched after failing; {place} is released first, so it is tried");
    }
    match at {
        0 => format!("first in preference order ({place})"),
        _ => {
            let skipped: Vec<String> = choice.candidates[..at].iter().map(|c| format!("`{}`", c.node_id)).collect();
            format!("stands in ({place}): {} benched after failing", skipped.join(", "))
        }
    }
}

/// Which shards a search asks, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Narrowing {
    pub shard_count: u32,
    pub asked: Vec<u32>,
    pub primary_key: Option<String>,
    /// The primary-key values the filter pins, when it pins few enough to narrow the search.
    pub pinned_ids: Option<Vec<String>>,
}

pub fn narrowing_view(narrowing: &Narrowing) -> Value {
    let why = match (&narrowing.pinned_ids, &narrowing.primary_key) {
        (Some(ids), Some(primary_key)) => {
            format!("the filter pins the primary key `{primary_key}` to {} value(s): only the shards owning them are asked", ids.len())
        }
        _ => "every shard: the filter does not pin the primary key to a few values".to_owned(),
    };
    json!({
        "shardCount": narrowing.shard_count,
        "asked": narrowing.asked,
        "narrowedByPrimaryKey": narrowing.pinned_ids.as_ref().map(|ids| json!({"primaryKey": narrowing.primary_key, "ids": ids})),
        "why": why,
    })
}

/// One node's request in a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePlan {
    pub node_id: String,
    pub shards: Vec<u32>,
    /// The federated `/multi-search` body it gets (one query per node index).
    pub body: Value,
}

/// Everything a plan shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFacts {
    pub index: String,
    pub narrowing: Narrowing,
    /// The replica group a read of this search tries first (from its indexes and `q`).
    pub first_group: String,
    pub choices: Vec<ShardChoice>,
    pub nodes: Vec<NodePlan>,
    pub fetch_per_node: usize,
    /// `distinct` in force (the request's or the index's): the merge may ask again for more.
    pub distinct: Option<String>,
    /// Adaptive replica choice: the nodes' current load as this gateway sees it.
    pub loads: Vec<(String, Option<f64>, u32)>,
    pub adaptive_replicas: bool,
    pub hedging: Value,
}

pub fn plan_view(facts: &PlanFacts) -> Value {
    let replicas: Vec<Value> = facts
        .choices
        .iter()
        .map(|choice| {
            json!({
                "shard": choice.shard,
                "node": choice.chosen.and_then(|at| choice.candidates.get(at)).map(|c| c.node_id.clone()),
                "why": replica_reason(choice),
                "preference": choice.candidates.iter().map(|c| json!({"node": c.node_id, "group": c.group, "rank": c.rank, "benched": c.benched})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let nodes: Vec<Value> =
        facts.nodes.iter().map(|node| json!({"node": node.node_id, "shards": node.shards, "request": node.body})).collect();
    let refills = match &facts.distinct {
        Some(attribute) => format!(
            "`distinct` on `{attribute}`: when cross-shard duplicates leave the page unsettled, every node is asked again for four times as many hits (up to maxTotalHits)"
        ),
        None => "none: without `distinct` one round settles the page".to_owned(),
    };
    let loads: Vec<Value> =
        facts.loads.iter().map(|(node, ewma, in_flight)| json!({"node": node, "ewmaMs": ewma, "inFlight": in_flight})).collect();
    json!({
        "mode": "plan",
        "index": facts.index,
        "shards": narrowing_view(&facts.narrowing),
        "firstReplicaGroup": {
            "group": facts.first_group,
            "why": "derived from the searched index and `q`, so every page of this search (and the same search again) reads the same node indexes",
        },
        "replicas": replicas,
        "nodeRequests": nodes,
        "hitsPerNode": facts.fetch_per_node,
        "refills": refills,
        "atRunTime": {
            "adaptiveReplicas": facts.adaptive_replicas,
            "nodeLoads": loads,
            "hedging": facts.hedging,
            "note": "a node clearly slower than another replica of its shards may be passed over, and a late call hedged on another replica; `Miroir-Explain: run` shows what happened",
        },
    })
}

/// How one node call of a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    Answered,
    Failed(String),
    /// Dropped unanswered: another attempt settled its shards first (a hedge's loser).
    Canceled,
}

/// One node call of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct CallFacts {
    pub round: usize,
    pub node_id: String,
    pub shards: Vec<u32>,
    pub started_ms: f64,
    pub took_ms: f64,
    pub outcome: CallOutcome,
}

/// One round of a run: the hits asked of each node.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundFacts {
    pub hits_per_node: usize,
}

/// What a run did: the rounds (the first, then refills) with their calls.
pub fn run_view(narrowing: &Narrowing, rounds: &[RoundFacts], calls: &[CallFacts], total_ms: f64) -> Value {
    let rounds: Vec<Value> = rounds
        .iter()
        .enumerate()
        .map(|(round, facts)| {
            let mut asked: Vec<u32> = Vec::new();
            let calls: Vec<Value> = calls
                .iter()
                .filter(|call| call.round == round)
                .map(|call| {
                    // A call for shards already asked in this round is a hedge or a failover.
                    let again = call.shards.iter().any(|shard| asked.contains(shard));
                    asked.extend(&call.shards);
                    let (outcome, error) = match &call.outcome {
                        CallOutcome::Answered => ("answered", None),
                        CallOutcome::Failed(error) => ("failed", Some(error.clone())),
                        CallOutcome::Canceled => ("canceled", None),
                    };
                    json!({
                        "node": call.node_id,
                        "shards": call.shards,
                        "kind": if again { "hedge or failover" } else { "first" },
                        "startedMs": round_ms(call.started_ms),
                        "tookMs": round_ms(call.took_ms),
                        "outcome": outcome,
                        "error": error,
                    })
                })
                .collect();
            let why = match round {
                0 => "the first round",
                _ => "a refill: `distinct` left the page unsettled, so every node was asked for more hits",
            };
            json!({"round": round, "hitsPerNode": facts.hits_per_node, "why": why, "calls": calls})
        })
        .collect();
    json!({"mode": "run", "shards": narrowing_view(narrowing), "rounds": rounds, "totalMs": round_ms(total_ms)})
}

/// Milliseconds to a tenth.
fn round_ms(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests;

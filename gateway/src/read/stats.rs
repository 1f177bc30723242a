//! `GET /indexes/{uid}/stats` (one replica per shard, summed by node index) and `GET /stats`
//! (every node's database sizes, each index's stats summed over one replica per shard).

use super::error::ReadError;
use super::executor::{ReadAnswer, ReadExecutor};
use super::fanout::Failure;
use super::rewrite::{client_error, ClientRequest};
use super::transport::NodeCall;
use miroir_schemas::node_layout::{is_miroir_document_field, narrowed_to_shards, parse_node_index_layout, ReplicaRank};
use miroir_schemas::topology::ShardId;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Sums node index stats into one index's: counts and sizes add up, the average document size
/// is weighted by document counts, `isIndexing` if any node index is, and the field
/// distribution adds up per field (fields sorted, as Meilisearch lists them; Miroir's shard
/// field left out).
pub fn sum_index_stats<'a>(shards: impl IntoIterator<Item = &'a Value>) -> Value {
    let mut documents = 0u64;
    let mut raw_size = 0u64;
    let mut weighted_avg = 0u128;
    let mut indexing = false;
    let mut embeddings = 0u64;
    let mut embedded_documents = 0u64;
    let mut fields: BTreeMap<String, u64> = BTreeMap::new();
    let number = |stats: &Value, name: &str| stats.get(name).and_then(Value::as_u64).unwrap_or(0);
    for stats in shards {
        let shard_documents = number(stats, "numberOfDocuments");
        documents += shard_documents;
        raw_size += number(stats, "rawDocumentDbSize");
        weighted_avg += u128::from(number(stats, "avgDocumentSize")) * u128::from(shard_documents);
        indexing |= stats.get("isIndexing").and_then(Value::as_bool).unwrap_or(false);
        embeddings += number(stats, "numberOfEmbeddings");
        embedded_documents += number(stats, "numberOfEmbeddedDocuments");
        for (field, count) in stats.get("fieldDistribution").and_then(Value::as_object).into_iter().flatten() {
            if !is_miroir_document_field(field) {
                *fields.entry(field.clone()).or_default() += count.as_u64().unwrap_or(0);
            }
        }
    }
    let avg = if documents == 0 { 0 } else { (weighted_avg / u128::from(documents)) as u64 };
    json!({
        "numberOfDocuments": documents,
        "rawDocumentDbSize": raw_size,
        "avgDocumentSize": avg,
        "isIndexing": indexing,
        "numberOfEmbeddings": embeddings,
        "numberOfEmbeddedDocuments": embedded_documents,
        "fieldDistribution": fields,
    })
}

/// The later of two RFC 3339 timestamps (`null` counts as earliest).
fn later(a: Value, b: &Value) -> Value {
    let parse = |v: &Value| v.as_str().and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok());
    match (parse(&a), parse(b)) {
        (_, None) => a,
        (None, Some(_)) => b.clone(),
        (Some(x), Some(y)) => {
            if y > x {
                b.clone()
            } else {
                a
            }
        }
    }
}

/// A node index's stats cut down to `documents` of its documents (a node answering for only
/// some of the shards its node index holds, when another replica is down): counts and sizes
/// in proportion, the average document size as it is. An estimate, said in ARCHITECTURE.md.
pub fn scaled_index_stats(stats: &Value, documents: u64) -> Value {
    let held = stats.get("numberOfDocuments").and_then(Value::as_u64).unwrap_or(0);
    let scale = |value: &Value| match (value.as_u64(), held) {
        (Some(count), held) if held > 0 => json!((u128::from(count) * u128::from(documents) / u128::from(held)) as u64),
        _ => json!(0),
    };
    let mut scaled = stats.clone();
    for name in ["rawDocumentDbSize", "numberOfEmbeddings", "numberOfEmbeddedDocuments"] {
        if let Some(value) = stats.get(name) {
            scaled[name] = scale(value);
        }
    }
    if let Some(fields) = stats.get("fieldDistribution").and_then(Value::as_object) {
        scaled["fieldDistribution"] = Value::Object(fields.iter().map(|(field, count)| (field.clone(), scale(count))).collect());
    }
    scaled["numberOfDocuments"] = json!(documents);
    scaled
}

/// `/stats` from each node's `/stats` (`None` for a node that did not answer), with
/// `layout_of(index)` each index's current layout (node indexes of another layout, kept
/// during a reshard, are left out), `shard_count(layout)` its shards, `holders(layout, shard)`
/// the `(node, rank)` holding each shard, in placement order, and `held_at(layout, node,
/// rank)` how many shards that node index holds. The cluster's
/// database sizes are summed over the nodes that answered; each user index's stats over one
/// answering replica per shard: the first listed, so while every node answers, the node
/// indexes of one rank, each counted whole. A node index standing in for only some of its
/// shards counts in proportion to them.
pub fn cluster_stats(
    node_stats: &[Option<Value>],
    layout_of: impl Fn(&str) -> Option<u32>,
    shard_count: impl Fn(Option<u32>) -> u32,
    holders: impl Fn(Option<u32>, ShardId) -> Vec<(usize, ReplicaRank)>,
    held_at: impl Fn(Option<u32>, usize, ReplicaRank) -> usize,
) -> (Value, Vec<ShardId>) {
    let mut database_size = 0u64;
    let mut used_size = 0u64;
    let mut last_update = Value::Null;
    // (node, index, layout, rank) → the node index's stats
    let mut by_node_index: BTreeMap<(usize, String, Option<u32>, ReplicaRank), Value> = BTreeMap::new();
    for (node, stats) in node_stats.iter().enumerate() {
        let Some(stats) = stats else { continue };
        database_size += stats.get("databaseSize").and_then(Value::as_u64).unwrap_or(0);
        used_size += stats.get("usedDatabaseSize").and_then(Value::as_u64).unwrap_or(0);
        last_update = later(last_update, stats.get("lastUpdate").unwrap_or(&Value::Null));
        for (node_index, index_stats) in stats.get("indexes").and_then(Value::as_object).into_iter().flatten() {
            match parse_node_index_layout(node_index) {
                Some((index, layout, rank)) if layout == layout_of(index) => {
                    by_node_index.insert((node, index.to_owned(), layout, rank), index_stats.clone());
                }
                _ => {}
            }
        }
    }
    let answered = |node: usize| node_stats.get(node).is_some_and(Option::is_some);
    // Per layout read (the launch one always) and shard, the first answering holder; per
    // chosen node index, how many of its shards.
    let layouts: BTreeSet<Option<u32>> = std::iter::once(None).chain(by_node_index.keys().map(|(_, _, layout, _)| *layout)).collect();
    let mut chosen: BTreeMap<(Option<u32>, usize, ReplicaRank), usize> = BTreeMap::new();
    let mut unanswered = BTreeSet::new();
    for layout in layouts {
        for shard in (0..shard_count(layout)).map(ShardId) {
            match holders(layout, shard).into_iter().find(|(node, _)| answered(*node)) {
                Some((node, rank)) => *chosen.entry((layout, node, rank)).or_default() += 1,
                None => _ = unanswered.insert(shard),
            }
        }
    }
    let unanswered: Vec<ShardId> = unanswered.into_iter().collect();
    let mut indexes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for ((node, index, layout, rank), stats) in by_node_index {
        let Some(&asked) = chosen.get(&(layout, node, rank)) else { continue };
        let held = held_at(layout, node, rank).max(1);
        let stats = if asked >= held {
            stats
        } else {
            let documents = stats.get("numberOfDocuments").and_then(Value::as_u64).unwrap_or(0);
            scaled_index_stats(&stats, documents * asked as u64 / held as u64)
        };
        indexes.entry(index).or_default().push(stats);
    }
    let indexes: Map<String, Value> = indexes.into_iter().map(|(index, parts)| (index, sum_index_stats(&parts))).collect();
    let body = json!({
        "databaseSize": database_size,
        "usedDatabaseSize": used_size,
        "lastUpdate": last_update,
        "indexes": indexes,
    });
    (body, unanswered)
}

impl ReadExecutor {
    /// `GET /indexes/{index_uid}/stats`: one node index per part, summed. A part that is not
    /// its node index's whole (another replica is down) counts its documents exactly (a
    /// filtered count) and the rest in proportion.
    pub async fn index_stats(&self, index_uid: &str) -> Result<ReadAnswer, ReadError> {
        let inner = self.inner();
        let view = inner.view(index_uid);
        let shards: Vec<ShardId> = view.placement.shards().collect();
        let user_failure = |error| Failure::from_node_error(error, |object| client_error(object, ClientRequest::SingleIndex, |_| None));
        let gathered = inner
            .gather(&view, index_uid, &shards, |node, shards| {
                let parts = view.node_index_parts(node, &shards);
                let calls: Vec<_> = parts
                    .into_iter()
                    .map(|part| (view.node_index(index_uid, part.rank), part))
                    .map(|(node_index, part)| async move {
                        let stats = inner
                            .transport
                            .call(node, &NodeCall::IndexStats { node_index: node_index.clone() })
                            .await
                            .map_err(user_failure)?;
                        if part.whole {
                            return Ok(stats);
                        }
                        let body = json!({"limit": 0, "filter": narrowed_to_shards(&Value::Null, &part.shards)});
                        let counted =
                            inner.transport.call(node, &NodeCall::FetchDocuments { node_index, body }).await.map_err(user_failure)?;
                        let documents = counted.get("total").and_then(Value::as_u64).unwrap_or(0);
                        Ok(scaled_index_stats(&stats, documents))
                    })
                    .collect();
                async move { futures::future::join_all(calls).await.into_iter().collect::<Result<Vec<_>, Failure>>() }
            })
            .await?;
        let body = sum_index_stats(gathered.values().flatten());
        Ok(ReadAnswer { body, missing_shards: gathered.missing })
    }

    /// `GET /stats`. Every node is asked (its database size counts); an index shard none of
    /// whose holders answered makes the answer a `503` (or partial).
    pub async fn stats(&self) -> Result<ReadAnswer, ReadError> {
        let inner = self.inner();
        let deadline = self.config().deadline;
        let view = inner.layout_view(None);
        // Every node of the placement read (a node removed by a topology change counts no more;
        // every layout's placement has the topology's nodes).
        let nodes = &view.placement.topology().nodes;
        let calls = nodes.iter().map(|node| async {
            let position = view.position_of(&node.id)?;
            match tokio::time::timeout(deadline, inner.transport.call(position, &NodeCall::Stats)).await {
                Ok(Ok(stats)) => Some(stats),
                _ => None,
            }
        });
        let node_stats = futures::future::join_all(calls).await;
        // The placement of every layout a node index answered names (the launch one always).
        let named = node_stats.iter().flatten().flat_map(|stats| stats.get("indexes").and_then(Value::as_object)).flat_map(|indexes| {
            indexes.keys().filter_map(|uid| parse_node_index_layout(uid).map(|(_, layout, _)| layout)).collect::<Vec<_>>()
        });
        let placements: BTreeMap<Option<u32>, _> =
            std::iter::once(None).chain(named).map(|layout| (layout, inner.layout_view(layout).placement.clone())).collect();
        let placement = |layout: Option<u32>| placements.get(&layout).unwrap_or(&view.placement);
        let holders = |layout: Option<u32>, shard: ShardId| {
            let placement = placement(layout);
            placement
                .replicas(shard)
                .iter()
                .filter_map(|holder| {
                    let node = nodes.iter().position(|n| n.id == holder.id)?;
                    Some((node, placement.rank_of(shard, &holder.id)?))
                })
                .collect::<Vec<_>>()
        };
        let held_at = |layout, node: usize, rank| placement(layout).shards_of_node_at(&nodes[node].id, rank).len();
        let shard_count = |layout| placement(layout).topology().shard_count;
        let (body, unanswered) = cluster_stats(&node_stats, |index| inner.layout_of(index), shard_count, holders, held_at);
        if !unanswered.is_empty() && !self.config().allow_partial {
            return Err(ReadError::ShardsUnavailable { index: "*".into(), shards: unanswered });
        }
        Ok(ReadAnswer { body, missing_shards: unanswered })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_stats_add_up() {
        let a = json!({"numberOfDocuments": 3, "rawDocumentDbSize": 300, "avgDocumentSize": 100, "isIndexing": false,
            "numberOfEmbeddings": 0, "numberOfEmbeddedDocuments": 0, "fieldDistribution": {"id": 3, "b": 1}});
        let b = json!({"numberOfDocuments": 1, "rawDocumentDbSize": 50, "avgDocumentSize": 20, "isIndexing": true,
            "numberOfEmbeddings": 2, "numberOfEmbeddedDocuments": 1, "fieldDistribution": {"id": 1, "a": 1}});
        assert_eq!(
            sum_index_stats([&a, &b]),
            json!({"numberOfDocuments": 4, "rawDocumentDbSize": 350, "avgDocumentSize": 80, "isIndexing": true,
                "numberOfEmbeddings": 2, "numberOfEmbeddedDocuments": 1, "fieldDistribution": {"a": 1, "b": 1, "id": 4}})
        );
        assert_eq!(sum_index_stats([])["avgDocumentSize"], 0);
    }

    #[test]
    fn cluster_stats_take_one_replica_per_shard() {
        let index_stats = |n: u64| json!({"numberOfDocuments": n, "fieldDistribution": {"id": n, "_miroir_shard": n}});
        let node = |size: u64, update: &str, indexes: Value| {
            Some(json!({"databaseSize": size, "usedDatabaseSize": size / 2, "lastUpdate": update, "indexes": indexes}))
        };
        // Shards 0 and 1 at rank 0 on node 0; at rank 1, shard 0 on node 1 and shard 1 on node 2.
        let holders = |shard: ShardId| vec![(0, ReplicaRank(0)), (1 + shard.0 as usize, ReplicaRank(1))];
        let held_at = |node: usize, rank: ReplicaRank| if rank == ReplicaRank(0) && node == 0 { 2 } else { 1 };
        let stats = [
            node(100, "2026-01-01T00:00:00Z", json!({"m__rank-0": index_stats(10), "other": index_stats(5)})),
            node(200, "2026-02-01T00:00:00.5Z", json!({"m__rank-1": index_stats(4)})),
            node(50, "2026-01-01T00:00:00Z", json!({"m__rank-1": index_stats(6)})),
        ];
        let holders = |_, shard| holders(shard);
        let held_at = |_, node, rank| held_at(node, rank);
        let (layout_of, shard_count) = (|_: &str| None, |_| 2);
        let (body, unanswered) = cluster_stats(&stats, layout_of, shard_count, holders, held_at);
        assert!(unanswered.is_empty());
        assert_eq!(body["databaseSize"], 350);
        assert_eq!(body["usedDatabaseSize"], 175);
        assert_eq!(body["lastUpdate"], "2026-02-01T00:00:00.5Z");
        assert_eq!(body["indexes"].as_object().unwrap().keys().collect::<Vec<_>>(), ["m"]);
        assert_eq!(body["indexes"]["m"]["numberOfDocuments"], 10, "rank 0 only: the rank-1 copies are not counted");
        assert_eq!(body["indexes"]["m"]["fieldDistribution"], json!({"id": 10}), "the shard field never shows");

        // Node 0 down: each shard from its rank-1 copy.
        let (body, unanswered) = cluster_stats(&[None, stats[1].clone(), stats[2].clone()], layout_of, shard_count, holders, held_at);
        assert!(unanswered.is_empty());
        assert_eq!(body["indexes"]["m"]["numberOfDocuments"], 10);
        let (_, unanswered) = cluster_stats(&[None, None, stats[2].clone()], layout_of, shard_count, holders, held_at);
        assert_eq!(unanswered, [ShardId(0)]);
    }

    #[test]
    fn cluster_stats_count_each_index_in_its_current_layout_only() {
        let index_stats = |n: u64| json!({"numberOfDocuments": n, "fieldDistribution": {"id": n}});
        // `m` was resharded from 1 shard to 2 (its old node index not released yet); `b` keeps
        // the launch layout. One node holds everything at rank 0.
        let stats = [Some(json!({"databaseSize": 1, "indexes": {
            "m__rank-0": index_stats(7), "m__s2-rank-0": index_stats(8), "b__rank-0": index_stats(3)}}))];
        let layout_of = |index: &str| (index == "m").then_some(2);
        let shard_count = |layout: Option<u32>| layout.unwrap_or(1);
        let holders = |_, _| vec![(0, ReplicaRank(0))];
        let held_at = |layout: Option<u32>, _, _| shard_count(layout) as usize;
        let (body, unanswered) = cluster_stats(&stats, layout_of, shard_count, holders, held_at);
        assert!(unanswered.is_empty());
        assert_eq!(body["indexes"]["m"]["numberOfDocuments"], 8, "the new layout only: {body}");
        assert_eq!(body["indexes"]["b"]["numberOfDocuments"], 3);
    }

    #[test]
    fn a_node_index_standing_in_for_some_shards_counts_in_proportion() {
        let stats =
            json!({"numberOfDocuments": 10, "rawDocumentDbSize": 1000, "avgDocumentSize": 100, "fieldDistribution": {"id": 10, "a": 5}});
        assert_eq!(
            scaled_index_stats(&stats, 4),
            json!({"numberOfDocuments": 4, "rawDocumentDbSize": 400, "avgDocumentSize": 100, "fieldDistribution": {"id": 4, "a": 2}})
        );
    }
}

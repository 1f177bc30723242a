//! `GET /indexes/{uid}/stats` (one replica per shard, summed) and `GET /stats` (every node's
//! database sizes, each index's stats summed over one replica per shard).

use super::error::ReadError;
use super::executor::{ReadAnswer, ReadExecutor};
use super::fanout::Failure;
use super::rewrite::{client_error, ClientRequest};
use super::transport::NodeCall;
use miroir_schemas::topology::{node_index_uid, parse_node_index_uid, ShardId};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Sums per-shard index stats into one index's: counts and sizes add up, the average
/// document size is weighted by document counts, `isIndexing` if any shard is, and the field
/// distribution adds up per field (fields sorted, as Meilisearch lists them).
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
            *fields.entry(field.clone()).or_default() += count.as_u64().unwrap_or(0);
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

/// `/stats` from each node's `/stats` (`None` for a node that did not answer) and
/// `holders(shard)` for each of the `shard_count` shards: the cluster's database sizes are summed over the nodes that answered;
/// each user index's stats are summed over one answering replica per shard.
pub fn cluster_stats(node_stats: &[Option<Value>], shard_count: u32, holders: impl Fn(ShardId) -> Vec<usize>) -> (Value, Vec<ShardId>) {
    let mut database_size = 0u64;
    let mut used_size = 0u64;
    let mut last_update = Value::Null;
    // (index, shard) → the stats of its first answering holder
    let mut per_shard: BTreeMap<(String, ShardId), (usize, Value)> = BTreeMap::new();
    for (node, stats) in node_stats.iter().enumerate() {
        let Some(stats) = stats else { continue };
        database_size += stats.get("databaseSize").and_then(Value::as_u64).unwrap_or(0);
        used_size += stats.get("usedDatabaseSize").and_then(Value::as_u64).unwrap_or(0);
        last_update = later(last_update, stats.get("lastUpdate").unwrap_or(&Value::Null));
        for (node_index, index_stats) in stats.get("indexes").and_then(Value::as_object).into_iter().flatten() {
            let Some((index, shard)) = parse_node_index_uid(node_index) else { continue };
            if !holders(shard).contains(&node) {
                // a leftover copy of a shard this node no longer holds
                continue;
            }
            per_shard.entry((index.to_owned(), shard)).or_insert((node, index_stats.clone()));
        }
    }
    let mut indexes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for ((index, _), (_, stats)) in per_shard {
        indexes.entry(index).or_default().push(stats);
    }
    let indexes: Map<String, Value> = indexes.into_iter().map(|(index, shards)| (index, sum_index_stats(&shards))).collect();
    // shards whose every holder failed to answer
    let unanswered: Vec<ShardId> = {
        let answered: BTreeSet<usize> = node_stats.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(n, _)| n).collect();
        (0..shard_count).map(ShardId).filter(|&shard| !holders(shard).iter().any(|n| answered.contains(n))).collect()
    };
    let body = json!({
        "databaseSize": database_size,
        "usedDatabaseSize": used_size,
        "lastUpdate": last_update,
        "indexes": indexes,
    });
    (body, unanswered)
}

impl ReadExecutor {
    /// `GET /indexes/{index_uid}/stats`.
    pub async fn index_stats(&self, index_uid: &str) -> Result<ReadAnswer, ReadError> {
        let inner = self.inner();
        let shards = self.all_shards();
        let gathered = inner
            .gather(index_uid, &shards, |node, shards| {
                let calls: Vec<_> = shards
                    .into_iter()
                    .map(|shard| {
                        let call = NodeCall::IndexStats { node_index: node_index_uid(index_uid, shard) };
                        async move { inner.transport.call(node, &call).await }
                    })
                    .collect();
                async move {
                    futures::future::join_all(calls)
                        .await
                        .into_iter()
                        .map(|stats| {
                            stats.map_err(|error| {
                                Failure::from_node_error(error, |object| client_error(object, ClientRequest::SingleIndex, |_| None))
                            })
                        })
                        .collect::<Result<Vec<_>, Failure>>()
                }
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
        let calls = (0..inner.transport.node_count()).map(|node| async move {
            match tokio::time::timeout(deadline, inner.transport.call(node, &NodeCall::Stats)).await {
                Ok(Ok(stats)) => Some(stats),
                _ => None,
            }
        });
        let node_stats = futures::future::join_all(calls).await;
        let holders = |shard: ShardId| {
            let topology = self.placement().topology();
            self.placement()
                .replicas(shard)
                .iter()
                .filter_map(|node| topology.nodes.iter().position(|n| n.id == node.id))
                .collect::<Vec<usize>>()
        };
        let (body, unanswered) = cluster_stats(&node_stats, self.placement().topology().shard_count, holders);
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
        let shard_stats = |n: u64| json!({"numberOfDocuments": n, "fieldDistribution": {"id": n}});
        let node = |size: u64, update: &str, indexes: Value| {
            Some(json!({"databaseSize": size, "usedDatabaseSize": size / 2, "lastUpdate": update, "indexes": indexes}))
        };
        // shard 0 on nodes 0 and 1, shard 1 on node 1 only
        let holders = |shard: ShardId| if shard.0 == 0 { vec![0, 1] } else { vec![1] };
        let stats = [
            node(
                100,
                "2026-01-01T00:00:00Z",
                json!({"m__shard-0": shard_stats(2), "m__shard-1": shard_stats(99), "other": shard_stats(5)}),
            ),
            node(200, "2026-02-01T00:00:00.5Z", json!({"m__shard-0": shard_stats(2), "m__shard-1": shard_stats(3)})),
        ];
        let (body, unanswered) = cluster_stats(&stats, 2, holders);
        assert!(unanswered.is_empty());
        assert_eq!(body["databaseSize"], 300);
        assert_eq!(body["usedDatabaseSize"], 150);
        assert_eq!(body["lastUpdate"], "2026-02-01T00:00:00.5Z");
        assert_eq!(body["indexes"].as_object().unwrap().keys().collect::<Vec<_>>(), ["m"]);
        assert_eq!(body["indexes"]["m"]["numberOfDocuments"], 5, "node 0's stray copy of shard 1 is not counted");

        let (_, unanswered) = cluster_stats(&[stats[0].clone(), None], 2, holders);
        assert_eq!(unanswered, [ShardId(1)]);
    }
}

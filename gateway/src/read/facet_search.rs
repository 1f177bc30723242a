//! `POST /indexes/{uid}/facet-search`: one facet search per shard, counts summed per value,
//! then Meilisearch's order for the facet (`sortFacetValuesBy`) and its `maxValuesPerFacet`.

use super::error::ReadError;
use super::executor::{narrowed_body, ReadAnswer, ReadExecutor};
use super::transport::NodeCall;
use crate::search::facets::FacetOrder;
use miroir_schemas::error::Code;
use miroir_schemas::filter::normalize_facet;
use miroir_schemas::node_layout::request_for_node;
use miroir_schemas::placement::NodeIndexPart;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Sums `(value, count)` lists from several shards. Values equal after Meilisearch's facet
/// normalization are one value (the first spelling seen is shown). Count order: most
/// documents first, equal counts by descending value (a node's heap order); alphabetical:
/// by normalized value. At most `max_values` are kept.
pub fn merge_facet_hits(shards: &[Vec<(String, u64)>], order: FacetOrder, max_values: usize) -> Vec<(String, u64)> {
    let mut merged: Vec<(String, String, u64)> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    for hits in shards {
        for (value, count) in hits {
            let key = normalize_facet(value);
            match position.get(&key) {
                Some(&at) => merged[at].2 += count,
                None => {
                    position.insert(key.clone(), merged.len());
                    merged.push((key, value.clone(), *count));
                }
            }
        }
    }
    match order {
        FacetOrder::Count => merged.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| b.1.cmp(&a.1))),
        FacetOrder::Alpha => merged.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1))),
    }
    merged.truncate(max_values);
    merged.into_iter().map(|(_, value, count)| (value, count)).collect()
}

/// `facetHits` of one node answer.
fn parse_facet_hits(answer: &Value) -> Result<(Vec<(String, u64)>, u64), String> {
    let hits = answer.get("facetHits").and_then(Value::as_array).ok_or("facet search answer without `facetHits`")?;
    let hits = hits
        .iter()
        .map(|hit| {
            let value = hit.get("value").and_then(Value::as_str).ok_or("facet hit without a string `value`")?;
            let count = hit.get("count").and_then(Value::as_u64).ok_or("facet hit without an integer `count`")?;
            Ok((value.to_owned(), count))
        })
        .collect::<Result<_, &str>>()?;
    Ok((hits, answer.get("processingTimeMs").and_then(Value::as_u64).unwrap_or(0)))
}

impl ReadExecutor {
    /// `POST /indexes/{index_uid}/facet-search` with the client's (validated) body.
    pub async fn facet_search(&self, index_uid: &str, request: &Map<String, Value>) -> Result<ReadAnswer, ReadError> {
        let request = &*request_for_node(request);
        let meta = self.index_meta(index_uid).await?;
        let Some(facet_name) = request.get("facetName").and_then(Value::as_str) else {
            return Err(ReadError::user(Code::MissingFacetSearchFacetName, "Missing field `facetName`"));
        };
        let order = meta.settings.sort_facet_values_by.order_of(facet_name);
        let max_values = meta.settings.max_values_per_facet;
        let shards = self.narrowed_shards(index_uid, request, &meta);
        let call_of = |part: &NodeIndexPart, node_index| Some(NodeCall::FacetSearch { node_index, body: narrowed_body(request, part) });
        let gathered = self.call_each_part(index_uid, &shards, call_of, |answer| parse_facet_hits(&answer)).await?;
        let per_shard: Vec<Vec<(String, u64)>> = gathered.values().flatten().map(|(_, (hits, _))| hits.clone()).collect();
        let processing_time_ms = gathered.values().flatten().map(|(_, (_, ms))| *ms).max().unwrap_or(0);
        let hits: Vec<Value> = merge_facet_hits(&per_shard, order, max_values)
            .into_iter()
            .map(|(value, count)| json!({"value": value, "count": count}))
            .collect();
        let facet_query = request.get("facetQuery").cloned().unwrap_or(Value::Null);
        let body = json!({"facetHits": hits, "facetQuery": facet_query, "processingTimeMs": processing_time_ms});
        Ok(ReadAnswer { body, missing_shards: gathered.missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn counts(values: &[&str]) -> Vec<(String, u64)> {
        let mut map: BTreeMap<String, u64> = BTreeMap::new();
        for value in values {
            *map.entry((*value).to_owned()).or_default() += 1;
        }
        map.into_iter().collect()
    }

    #[test]
    fn counts_are_summed_and_ordered() {
        let a = vec![("utils".to_owned(), 3), ("games".to_owned(), 1)];
        let b = vec![("Utils".to_owned(), 2), ("admin".to_owned(), 1)];
        assert_eq!(
            merge_facet_hits(&[a.clone(), b.clone()], FacetOrder::Count, 10),
            [("utils".to_owned(), 5), ("games".to_owned(), 1), ("admin".to_owned(), 1)]
        );
        assert_eq!(merge_facet_hits(&[a, b], FacetOrder::Alpha, 2), [("admin".to_owned(), 1), ("games".to_owned(), 1)]);
    }

    proptest! {
        /// Splitting documents over shards and merging the shards' complete answers gives the
        /// single index's answer.
        #[test]
        fn merging_shards_equals_one_index(
            docs in proptest::collection::vec(("[a-e]{1,2}", 0usize..4), 0..60),
            count_order in any::<bool>(),
            max_values in 1usize..8,
        ) {
            let order = if count_order { FacetOrder::Count } else { FacetOrder::Alpha };
            let all: Vec<&str> = docs.iter().map(|(v, _)| v.as_str()).collect();
            let shards: Vec<Vec<(String, u64)>> = (0..4)
                .map(|k| counts(&docs.iter().filter(|(_, s)| *s == k).map(|(v, _)| v.as_str()).collect::<Vec<_>>()))
                .collect();
            let single = merge_facet_hits(&[counts(&all)], order, max_values);
            prop_assert_eq!(merge_facet_hits(&shards, order, max_values), single);
        }
    }
}

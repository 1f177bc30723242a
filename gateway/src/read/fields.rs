//! `POST /indexes/{uid}/fields`: the fields of the whole index. Every node index of one replica
//! rank lists the fields its documents ever had (with what the index's settings make of each);
//! the index's fields are their union, Miroir's shard field left out, sorted by name and cut to
//! the client's page as one node cuts it.

use std::collections::BTreeMap;

use miroir_schemas::node_layout::is_miroir_document_field;
use serde_json::{json, Value};

use super::error::ReadError;
use super::executor::{ReadAnswer, ReadExecutor};
use super::transport::NodeCall;

/// The union of node indexes' field lists (each field's description from the first list
/// naming it: every node index has the index's settings), without the shard field, by name,
/// paginated.
pub fn merge_fields<'a>(lists: impl IntoIterator<Item = &'a [Value]>, offset: usize, limit: usize) -> Value {
    let mut fields: BTreeMap<&str, &Value> = BTreeMap::new();
    for field in lists.into_iter().flatten() {
        if let Some(name) = field.get("name").and_then(Value::as_str).filter(|name| !is_miroir_document_field(name)) {
            fields.entry(name).or_insert(field);
        }
    }
    let total = fields.len();
    let results: Vec<&Value> = fields.into_values().skip(offset).take(limit).collect();
    json!({"results": results, "offset": offset, "limit": limit, "total": total})
}

impl ReadExecutor {
    /// Asks every node index of the index, for one replica of each shard, for all its fields
    /// matching `filter` (checked by the caller), and merges them ([`merge_fields`]).
    pub async fn index_fields(
        &self,
        index_uid: &str,
        filter: Option<&Value>,
        offset: usize,
        limit: usize,
    ) -> Result<ReadAnswer, ReadError> {
        let mut body = json!({"offset": 0, "limit": u64::MAX});
        if let Some(filter) = filter {
            body["filter"] = filter.clone();
        }
        let parse = |answer: Value| match answer.get("results") {
            Some(Value::Array(fields)) => Ok(fields.clone()),
            _ => Err(format!("a fields answer without results: {answer}")),
        };
        let gathered = self
            .call_each_part(
                index_uid,
                &self.all_shards(index_uid),
                |_, node_index| Some(NodeCall::IndexFields { node_index, body: body.clone() }),
                parse,
            )
            .await?;
        let body = merge_fields(gathered.values().flatten().map(|(_, fields)| fields.as_slice()), offset, limit);
        Ok(ReadAnswer { body, missing_shards: gathered.missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::node_layout::SHARD_FIELD;
    use proptest::prelude::*;

    fn field(name: &str, searchable: bool) -> Value {
        json!({"name": name, "searchable": {"enabled": searchable}})
    }

    #[test]
    fn node_lists_are_united_by_name_without_the_shard_field() {
        let a = [field("title", true), field(SHARD_FIELD, false), field("id", true)];
        let b = [field("genre", false), field("title", false)];
        let merged = merge_fields([a.as_slice(), b.as_slice()], 0, 20);
        assert_eq!(
            merged,
            json!({"results": [field("genre", false), field("id", true), field("title", true)], "offset": 0, "limit": 20, "total": 3})
        );
        assert_eq!(merge_fields([a.as_slice(), b.as_slice()], 1, 1)["results"], json!([field("id", true)]));
        assert_eq!(merge_fields([a.as_slice()], 5, 20), json!({"results": [], "offset": 5, "limit": 20, "total": 2}));
    }

    proptest! {
        /// However the fields fall on node indexes, the merge lists each name once, sorted, and
        /// its pages put together are the whole list.
        #[test]
        fn pages_cover_the_union(lists in prop::collection::vec(prop::collection::vec("[a-e]{1,2}", 0..8), 1..5), limit in 1usize..6) {
            let lists: Vec<Vec<Value>> = lists.iter().map(|names| names.iter().map(|n| field(n, true)).collect()).collect();
            let whole = merge_fields(lists.iter().map(Vec::as_slice), 0, usize::MAX);
            let names: Vec<&str> = whole["results"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(&names, &sorted);
            prop_assert_eq!(whole["total"].as_u64().unwrap() as usize, names.len());
            let mut paged = Vec::new();
            for offset in (0..names.len()).step_by(limit) {
                let page = merge_fields(lists.iter().map(Vec::as_slice), offset, limit);
                paged.extend(page["results"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().to_owned()));
            }
            prop_assert_eq!(paged, names);
        }
    }
}

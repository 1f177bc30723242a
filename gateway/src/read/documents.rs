//! Document reads: `GET /indexes/{uid}/documents/{id}` (only the owning shard is asked),
//! `POST /indexes/{uid}/documents/fetch` and `GET /indexes/{uid}/documents` (every shard, or the
//! shards owning the `ids` / pinned primary keys).
//!
//! Order. Without `sort`, the documents are listed shard after shard (`shard-0` first), each
//! shard in its own order: stable, and `offset`/`limit` are exact because each shard is first
//! asked only for its `total` and then for exactly its part of the window. A node index holds
//! every shard its node holds at one replica rank, so each shard's fetch is narrowed to it with
//! a filter on the shard field. With `sort`, every
//! shard returns its first `offset + limit` documents and they are merged by the sort values
//! (ties: shard, then position), as Meilisearch Enterprise merges a sharded fetch.

use super::error::ReadError;
use super::executor::{ReadAnswer, ReadExecutor};
use super::fanout::Gathered;
use super::index_meta::IndexMeta;
use super::transport::NodeCall;
use crate::search::node_answer::hide_shard_field;
use crate::search::score::compare_sort_values;

use miroir_schemas::error::Code;
use miroir_schemas::node_layout::{is_expired, narrowed_to_shards, request_for_node, EXPIRY_FIELD};
use miroir_schemas::topology::ShardId;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Meilisearch's default `limit` of a document listing.
pub const DEFAULT_DOCUMENTS_LIMIT: usize = 20;

/// For shards holding `totals[k]` documents, listed one after the other, the `(offset, limit)`
/// each shard contributes to the window `[offset, offset + limit)` (limit 0: nothing).
pub fn concatenation_windows(totals: &[usize], offset: usize, limit: usize) -> Vec<(usize, usize)> {
    let end = offset.saturating_add(limit);
    let mut start_of_shard = 0usize;
    totals
        .iter()
        .map(|&total| {
            let shard_start = start_of_shard;
            let shard_end = shard_start + total;
            start_of_shard = shard_end;
            let from = offset.clamp(shard_start, shard_end);
            let to = end.clamp(shard_start, shard_end);
            (from - shard_start, to - from)
        })
        .collect()
}

/// One `attribute:asc|desc` of a fetch's `sort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub attribute: String,
    pub ascending: bool,
}

/// Parses the `sort` array; `None` for anything malformed (the node reports the exact error).
pub fn parse_sort(sort: &Value) -> Option<Vec<SortKey>> {
    sort.as_array()?
        .iter()
        .map(|rule| {
            let (attribute, direction) = rule.as_str()?.rsplit_once(':')?;
            let ascending = match direction {
                "asc" => true,
                "desc" => false,
                _ => return None,
            };
            Some(SortKey { attribute: attribute.to_owned(), ascending })
        })
        .collect()
}

/// The value of a dotted attribute in a document (`null` when absent).
fn attribute_value<'a>(document: &'a Map<String, Value>, attribute: &str) -> &'a Value {
    if let Some(value) = document.get(attribute) {
        return value;
    }
    attribute
        .split_once('.')
        .and_then(|(head, rest)| document.get(head)?.as_object().map(|inner| attribute_value(inner, rest)))
        .unwrap_or(&Value::Null)
}

/// `Greater` = `left` comes first.
pub fn compare_documents(keys: &[SortKey], left: &Map<String, Value>, right: &Map<String, Value>) -> Ordering {
    keys.iter()
        .map(|key| compare_sort_values(key.ascending, attribute_value(left, &key.attribute), attribute_value(right, &key.attribute)))
        .find(|order| *order != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Merges per-shard sorted lists (in shard order) into one, best first; ties keep shard order.
pub fn merge_sorted(keys: &[SortKey], shards: Vec<Vec<Map<String, Value>>>) -> Vec<Map<String, Value>> {
    let mut tagged: Vec<(usize, usize, Map<String, Value>)> = shards
        .into_iter()
        .enumerate()
        .flat_map(|(shard, documents)| documents.into_iter().enumerate().map(move |(at, document)| (shard, at, document)))
        .collect();
    // a stable sort on already-sorted runs is a merge
    tagged.sort_by(|a, b| compare_documents(keys, &b.2, &a.2).then_with(|| (a.0, a.1).cmp(&(b.0, b.1))));
    tagged.into_iter().map(|(_, _, document)| document).collect()
}

/// A document read's query string also asking for the TTL expiry when it names the fields to
/// return (the answer leaves it out again).
fn with_expiry_in_fields(query: &[(String, String)]) -> Vec<(String, String)> {
    query
        .iter()
        .map(|(name, value)| match name.as_str() {
            "fields" if !value.is_empty() && !value.split(',').any(|field| field.trim() == "*") => {
                (name.clone(), format!("{value},{EXPIRY_FIELD}"))
            }
            _ => (name.clone(), value.clone()),
        })
        .collect()
}

fn optional_usize(body: &Map<String, Value>, name: &str, default: usize) -> usize {
    body.get(name).and_then(Value::as_u64).map_or(default, |n| n as usize)
}

impl ReadExecutor {
    /// `GET /indexes/{index_uid}/documents/{document_id}`: asks only the owning shard.
    /// `query` is the client's query string (`fields`, `retrieveVectors`), forwarded as is.
    pub async fn get_document(&self, index_uid: &str, document_id: &str, query: &[(String, String)]) -> Result<ReadAnswer, ReadError> {
        self.get_unexpired_document(index_uid, document_id, query, None).await
    }

    /// [`ReadExecutor::get_document`] of an index with TTL (`expired_at`: now, in epoch
    /// milliseconds): a document expired by then is not found, as after its sweep.
    pub async fn get_unexpired_document(
        &self,
        index_uid: &str,
        document_id: &str,
        query: &[(String, String)],
        expired_at: Option<i64>,
    ) -> Result<ReadAnswer, ReadError> {
        let shard = self.placement(index_uid).shard_of(document_id);
        let query = match expired_at {
            Some(_) => with_expiry_in_fields(query),
            None => query.to_vec(),
        };
        // The id names one document in the node index, whatever other shards it holds.
        let call_of = |node_index| NodeCall::GetDocument { node_index, document_id: document_id.to_owned(), query: query.clone() };
        match self.call_one_shard(index_uid, shard, call_of).await? {
            (Some(mut body), _) => {
                if let Some(document) = body.as_object_mut() {
                    if expired_at.is_some_and(|now| is_expired(document, now)) {
                        return Err(ReadError::user(Code::DocumentNotFound, format!("Document `{document_id}` not found.")));
                    }
                    hide_shard_field(document);
                }
                Ok(ReadAnswer::complete(body))
            }
            // partial answers allowed, but a document read without its shard has nothing to give
            (None, missing) => Err(ReadError::ShardsUnavailable { index: index_uid.to_owned(), shards: missing }),
        }
    }

    /// `POST /indexes/{index_uid}/documents/fetch` with the client's (validated) body.
    pub async fn fetch_documents(&self, index_uid: &str, request: &Map<String, Value>) -> Result<ReadAnswer, ReadError> {
        let request = &*request_for_node(request);
        let meta = self.index_meta(index_uid).await?;
        let shards = self.document_shards(index_uid, request, &meta);
        let offset = optional_usize(request, "offset", 0);
        let limit = optional_usize(request, "limit", DEFAULT_DOCUMENTS_LIMIT);
        let sort = request.get("sort").filter(|sort| !sort.is_null());
        let (results, total, missing) = match sort {
            Some(sort) => {
                let keys = parse_sort(sort).unwrap_or_default();
                self.fetch_sorted(index_uid, request, &shards, &keys, offset, limit).await?
            }
            None => self.fetch_concatenated(index_uid, request, &shards, offset, limit).await?,
        };
        let body = json!({"results": results, "offset": offset, "limit": limit, "total": total});
        Ok(ReadAnswer { body, missing_shards: missing })
    }

    /// `GET /indexes/{index_uid}/documents?<query>`: the same listing as `documents/fetch`.
    pub async fn list_documents(&self, index_uid: &str, query: &[(String, String)]) -> Result<ReadAnswer, ReadError> {
        let request = super::query_string::documents_query_to_body(query)?;
        self.fetch_documents(index_uid, &request).await
    }

    /// Without `sort`: totals first, then each shard's exact part of the window.
    async fn fetch_concatenated(
        &self,
        index_uid: &str,
        request: &Map<String, Value>,
        shards: &[ShardId],
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Value>, usize, Vec<ShardId>), ReadError> {
        let mut counting = request.clone();
        counting.insert("offset".into(), 0.into());
        counting.insert("limit".into(), 0.into());
        let counted = self.fetch_on_shards(index_uid, shards, |_| Some(counting.clone())).await?;
        let mut totals: Vec<(ShardId, usize)> = shard_pages(&counted).map(|(shard, page)| (shard, page_total(page))).collect();
        totals.sort_by_key(|(shard, _)| *shard);
        let total = totals.iter().map(|(_, total)| total).sum();
        let windows = concatenation_windows(&totals.iter().map(|(_, total)| *total).collect::<Vec<_>>(), offset, limit);
        let wanted: Vec<(ShardId, (usize, usize))> =
            totals.iter().map(|(shard, _)| *shard).zip(windows).filter(|(_, (_, take))| *take > 0).collect();
        let wanted_shards: Vec<ShardId> = wanted.iter().map(|(shard, _)| *shard).collect();
        let fetched = self
            .fetch_on_shards(index_uid, &wanted_shards, |shard| {
                let (_, (skip, take)) = wanted.iter().find(|(s, _)| *s == shard)?;
                let mut body = request.clone();
                body.insert("offset".into(), (*skip).into());
                body.insert("limit".into(), (*take).into());
                Some(body)
            })
            .await?;
        let mut pages: Vec<(ShardId, &Value)> = shard_pages(&fetched).collect();
        pages.sort_by_key(|(shard, _)| *shard);
        let results = pages.into_iter().flat_map(|(_, page)| page_results(page)).collect();
        let missing: BTreeSet<ShardId> = counted.missing.iter().chain(&fetched.missing).copied().collect();
        Ok((results, total, missing.into_iter().collect()))
    }

    /// With `sort`: the first `offset + limit` of every shard, merged by the sort values.
    async fn fetch_sorted(
        &self,
        index_uid: &str,
        request: &Map<String, Value>,
        shards: &[ShardId],
        keys: &[SortKey],
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Value>, usize, Vec<ShardId>), ReadError> {
        let mut body = request.clone();
        body.insert("offset".into(), 0.into());
        body.insert("limit".into(), offset.saturating_add(limit).into());
        // the merge needs the sort attributes even when the client did not ask for them
        let added = add_sort_fields(&mut body, keys);
        let fetched = self.fetch_on_shards(index_uid, shards, |_| Some(body.clone())).await?;
        let mut pages: Vec<(ShardId, &Value)> = shard_pages(&fetched).collect();
        pages.sort_by_key(|(shard, _)| *shard);
        let total = pages.iter().map(|(_, page)| page_total(page)).sum();
        let lists =
            pages.iter().map(|(_, page)| page_results(page).filter_map(|document| document.as_object().cloned()).collect()).collect();
        let results = merge_sorted(keys, lists)
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|mut document| {
                for field in &added {
                    document.shift_remove(field);
                }
                Value::Object(document)
            })
            .collect();
        Ok((results, total, fetched.missing))
    }

    /// One `documents/fetch` per shard with `body_of(shard)` (shards mapping to `None` are
    /// skipped).
    async fn fetch_on_shards(
        &self,
        index_uid: &str,
        shards: &[ShardId],
        body_of: impl Fn(ShardId) -> Option<Map<String, Value>>,
    ) -> Result<Gathered<Vec<(ShardId, Value)>>, ReadError> {
        let call_of = |shard, node_index| {
            let mut body = body_of(shard)?;
            let filter = narrowed_to_shards(body.get("filter").unwrap_or(&Value::Null), &[shard]);
            body.insert("filter".into(), filter);
            Some(NodeCall::FetchDocuments { node_index, body: Value::Object(body) })
        };
        self.call_each_shard(index_uid, shards, call_of, Ok).await
    }

    /// The shards a document fetch must ask: those owning `ids` when given, else those the
    /// filter pins, else all.
    fn document_shards(&self, index_uid: &str, request: &Map<String, Value>, meta: &IndexMeta) -> Vec<ShardId> {
        let placement = self.placement(index_uid);
        if let Some(ids) = request.get("ids").and_then(Value::as_array) {
            let shards: BTreeSet<ShardId> = ids
                .iter()
                .filter_map(|id| match id {
                    Value::String(id) => Some(id.clone()),
                    Value::Number(id) => Some(id.to_string()),
                    _ => None,
                })
                .map(|id| placement.shard_of(&id))
                .collect();
            // an empty `ids` list still gets an answer (and its checks) from one shard
            return if shards.is_empty() { vec![ShardId(0)] } else { shards.into_iter().collect() };
        }
        self.narrowed_shards(index_uid, request, meta)
    }
}

fn shard_pages(gathered: &Gathered<Vec<(ShardId, Value)>>) -> impl Iterator<Item = (ShardId, &Value)> {
    gathered.values().flatten().map(|(shard, page)| (*shard, page))
}

fn page_total(page: &Value) -> usize {
    page.get("total").and_then(Value::as_u64).unwrap_or(0) as usize
}

/// A page's documents as the client sees them (Miroir's shard field removed).
fn page_results(page: &Value) -> impl Iterator<Item = Value> + '_ {
    page.get("results").and_then(Value::as_array).into_iter().flatten().cloned().map(|mut document| {
        if let Some(document) = document.as_object_mut() {
            hide_shard_field(document);
        }
        document
    })
}

/// Adds the sort attributes to an explicit `fields` list; returns the ones added.
fn add_sort_fields(body: &mut Map<String, Value>, keys: &[SortKey]) -> Vec<String> {
    let Some(Value::Array(fields)) = body.get_mut("fields") else { return Vec::new() };
    if fields.iter().any(|field| field == "*") {
        return Vec::new();
    }
    let mut added = Vec::new();
    for key in keys {
        if !fields.iter().any(|field| field.as_str() == Some(&key.attribute)) {
            fields.push(key.attribute.clone().into());
            added.push(key.attribute.clone());
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn windows_cut_the_concatenation_exactly(totals in proptest::collection::vec(0usize..20, 1..8), offset in 0usize..120, limit in 0usize..50) {
            let all: Vec<(usize, usize)> = totals.iter().enumerate().flat_map(|(k, &n)| (0..n).map(move |i| (k, i))).collect();
            let expected: Vec<(usize, usize)> = all.iter().copied().skip(offset).take(limit).collect();
            let windows = concatenation_windows(&totals, offset, limit);
            let got: Vec<(usize, usize)> = windows.iter().enumerate().flat_map(|(k, &(skip, take))| (skip..skip + take).map(move |i| (k, i))).collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn sorted_merge_equals_sorting_everything(values in proptest::collection::vec((0i64..30, 0usize..3), 0..40), ascending in any::<bool>()) {
            let keys = vec![SortKey { attribute: "n".into(), ascending }];
            let doc = |n: i64, id: usize| json!({"n": n, "id": id}).as_object().cloned().unwrap();
            let mut shards: Vec<Vec<Map<String, Value>>> = vec![Vec::new(); 3];
            for (id, (n, shard)) in values.iter().enumerate() {
                shards[*shard].push(doc(*n, id));
            }
            for shard in &mut shards {
                shard.sort_by(|a, b| compare_documents(&keys, b, a));
            }
            let merged: Vec<i64> = merge_sorted(&keys, shards).iter().map(|d| d["n"].as_i64().unwrap()).collect();
            let mut expected: Vec<i64> = values.iter().map(|(n, _)| *n).collect();
            expected.sort();
            if !ascending { expected.reverse(); }
            prop_assert_eq!(merged, expected);
        }
    }

    #[test]
    fn sort_rules_parse() {
        assert_eq!(
            parse_sort(&json!(["a.b:desc", "c:asc"])).unwrap(),
            [SortKey { attribute: "a.b".into(), ascending: false }, SortKey { attribute: "c".into(), ascending: true }]
        );
        assert_eq!(parse_sort(&json!(["a"])), None);
    }

    #[test]
    fn missing_sort_values_come_last() {
        let keys = vec![SortKey { attribute: "n".into(), ascending: true }];
        let shards = vec![vec![json!({"id": 1}).as_object().cloned().unwrap()], vec![json!({"n": 5}).as_object().cloned().unwrap()]];
        let merged = merge_sorted(&keys, shards);
        assert_eq!(merged[0].get("n"), Some(&json!(5)));
    }

    #[test]
    fn a_ttl_document_read_asks_for_the_expiry_only_when_it_names_its_fields() {
        let query = |pairs: &[(&str, &str)]| pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect::<Vec<_>>();
        assert_eq!(with_expiry_in_fields(&query(&[("fields", "title,id")])), query(&[("fields", "title,id,_miroir_until")]));
        for unchanged in [query(&[]), query(&[("fields", "*")]), query(&[("fields", "title, *")]), query(&[("retrieveVectors", "true")])] {
            assert_eq!(with_expiry_in_fields(&unchanged), unchanged);
        }
    }
}

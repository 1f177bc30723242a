//! Comparing a cluster's answer with the single node's: volatile fields dropped, index names
//! aligned, hits equal up to permutations among equal score vectors.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::{Answer, SINGLE};

/// Drops volatile fields and renames the cluster's index to the single node's.
pub fn normalize(answer: Answer, cluster_index: &str) -> Answer {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.shift_remove("processingTimeMs");
                map.shift_remove("requestUid");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let rename = |value: Value| -> Value {
        let text = value.to_string().replace(cluster_index, SINGLE);
        let mut value: Value = serde_json::from_str(&text).unwrap();
        strip(&mut value);
        value
    };
    match answer {
        Ok(body) => Ok(rename(body)),
        Err((status, body)) => Err((status, rename(body))),
    }
}

pub fn ids(hits: &Value) -> Vec<String> {
    hits.as_array().unwrap().iter().map(|hit| hit["id"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Hits with their tie key (the ranking details, which determine the score vector).
pub fn keyed(hits: &Value) -> Vec<(String, String)> {
    hits.as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            let mut key = hit.get("_rankingScoreDetails").cloned().unwrap_or(Value::Null);
            if let Some(federation) = hit.get("_federation") {
                key = json!([key, federation["weightedRankingScore"]]);
            }
            (hit["id"].as_str().unwrap().to_owned(), key.to_string())
        })
        .collect()
}

/// Same tie keys in the same order, and the same documents in every run of equal keys except
/// the runs a page boundary may cut (the first when `offset > 0`, and the last).
pub fn same_up_to_ties(single: &Value, cluster: &Value, offset: usize) -> Result<(), String> {
    let (s, c) = (keyed(single), keyed(cluster));
    let s_keys: Vec<&String> = s.iter().map(|(_, k)| k).collect();
    let c_keys: Vec<&String> = c.iter().map(|(_, k)| k).collect();
    if s_keys != c_keys {
        return Err(format!("score vectors differ:\n single  {s:?}\n cluster {c:?}"));
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for i in 0..s.len() {
        match runs.last_mut() {
            Some((_, end)) if s[*end - 1].1 == s[i].1 => *end += 1,
            _ => runs.push((i, i + 1)),
        }
    }
    let run_count = runs.len();
    for (at, (start, end)) in runs.into_iter().enumerate() {
        let cut = at + 1 == run_count || (at == 0 && offset > 0);
        let set = |list: &[(String, String)]| list[start..end].iter().map(|(id, _)| id.clone()).collect::<BTreeSet<_>>();
        if !cut && set(&s) != set(&c) {
            return Err(format!("tie group {start}..{end} holds different documents:\n single  {s:?}\n cluster {c:?}"));
        }
    }
    Ok(())
}

/// Asserts two answers are equal ([`compare`]).
pub async fn assert_same<F, Fut>(what: &str, single: Answer, cluster: Answer, offset: usize, rerun_with_details: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (Answer, Answer)>,
{
    if let Err(problem) = compare(single, cluster, offset, rerun_with_details).await {
        panic!("{what}: {problem}");
    }
}

/// How a cluster's answer differs from the single node's.
#[derive(Debug)]
pub enum Difference {
    /// Errors, totals, facets or other fields outside the hits.
    OutsideHits(String),
    /// The hits: other documents or other score vectors, beyond permutations among ties.
    Hits(String),
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Difference::OutsideHits(text) => write!(f, "answers differ outside hits: {text}"),
            Difference::Hits(text) => write!(f, "hits differ: {text}"),
        }
    }
}

/// Compares two answers, hits up to ties. `rerun_with_details()` runs the same requests asking
/// for ranking details, used to learn the tie groups when the orders differ.
pub async fn compare<F, Fut>(single: Answer, cluster: Answer, offset: usize, rerun_with_details: F) -> Result<(), Difference>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = (Answer, Answer)>,
{
    let (single, cluster) = match (single, cluster) {
        (Err(s), Err(c)) if s == c => return Ok(()),
        (Ok(s), Ok(c)) => (s, c),
        (s, c) => return Err(Difference::OutsideHits(format!("single {s:?}\ncluster {c:?}"))),
    };
    let hit_lists = |body: &Value| -> Vec<(Vec<String>, Value)> {
        match body.get("results") {
            Some(Value::Array(results)) => results.iter().map(|r| (ids(&r["hits"]), without_hits(r))).collect(),
            _ => vec![(ids(&body["hits"]), without_hits(body))],
        }
    };
    let (s_lists, c_lists) = (hit_lists(&single), hit_lists(&cluster));
    if c_lists.len() != s_lists.len() {
        return Err(Difference::OutsideHits(format!("{} result lists ≠ {}", s_lists.len(), c_lists.len())));
    }
    for ((s_ids, s_rest), (c_ids, c_rest)) in s_lists.iter().zip(&c_lists) {
        if c_rest != s_rest {
            return Err(Difference::OutsideHits(differences(s_rest, c_rest)));
        }
        if c_ids.len() != s_ids.len() {
            return Err(Difference::Hits(format!("{} hits ≠ {}", s_ids.len(), c_ids.len())));
        }
    }
    if single == cluster {
        return Ok(());
    }
    let (s_details, c_details) = rerun_with_details().await;
    let (s_details, c_details) = (s_details.expect("rerun"), c_details.expect("rerun"));
    let s_hits: Vec<&Value> = hits_of(&s_details);
    let c_hits: Vec<&Value> = hits_of(&c_details);
    for (i, (s, c)) in s_hits.iter().zip(&c_hits).enumerate() {
        assert_eq!(ids(s), s_lists[i].0, "the single node is not deterministic");
        assert_eq!(ids(c), c_lists[i].0, "the cluster is not deterministic");
        same_up_to_ties(s, c, offset).map_err(Difference::Hits)?;
    }
    Ok(())
}

/// Where two JSON values differ, as `path: single ≠ cluster` lines (key order included).
pub fn differences(single: &Value, cluster: &Value) -> String {
    fn walk(path: String, s: &Value, c: &Value, out: &mut Vec<String>) {
        match (s, c) {
            (Value::Object(a), Value::Object(b)) => {
                let (ka, kb): (Vec<_>, Vec<_>) = (a.keys().collect(), b.keys().collect());
                if ka != kb {
                    let mut sorted_a = ka.clone();
                    let mut sorted_b = kb.clone();
                    sorted_a.sort();
                    sorted_b.sort();
                    if sorted_a == sorted_b {
                        out.push(format!("{path}: key order {ka:?} ≠ {kb:?}"));
                    }
                }
                for (k, v) in a {
                    match b.get(k) {
                        Some(w) => walk(format!("{path}.{k}"), v, w, out),
                        None => out.push(format!("{path}.{k}: {v} ≠ (absent)")),
                    }
                }
                for (k, w) in b {
                    if !a.contains_key(k) {
                        out.push(format!("{path}.{k}: (absent) ≠ {w}"));
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (v, w)) in a.iter().zip(b).enumerate() {
                    walk(format!("{path}[{i}]"), v, w, out);
                }
            }
            _ if s != c => out.push(format!("{path}: {s} ≠ {c}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), single, cluster, &mut out);
    out.truncate(20);
    out.join("\n")
}

pub fn hits_of(body: &Value) -> Vec<&Value> {
    match body.get("results") {
        Some(Value::Array(results)) => results.iter().map(|r| &r["hits"]).collect(),
        _ => vec![&body["hits"]],
    }
}

pub fn without_hits(body: &Value) -> Value {
    let mut body = body.clone();
    body.as_object_mut().unwrap().shift_remove("hits");
    body
}

pub fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

pub fn with_details(query: &Value) -> Value {
    let mut query = query.clone();
    query["showRankingScoreDetails"] = json!(true);
    query
}

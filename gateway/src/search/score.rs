//! A hit's weighted score vector, as a node in proxy mode reports it in
//! `_federation.weightedScoreValues`, and the comparator Meilisearch's federated search merges
//! with (anchors §2.2). `Ordering::Greater` means "ranks first" everywhere in this module.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

/// One group of the vector: a run of relevancy rules collapsed into one number, a `sort`
/// value, a `_geo` sort distance, or a vector similarity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ScoreValue {
    WeightedScore(f64),
    Sort { asc: bool, value: Value },
    GeoSort { asc: bool, distance: Option<f64> },
    VectorSort(f64),
}

/// Compares two hits by their score vectors and, where the vectors cannot decide, by their
/// weighted global scores. `Greater` = `left` ranks first.
pub fn compare_hits(left: &[ScoreValue], left_global: f64, right: &[ScoreValue], right_global: f64) -> Ordering {
    compare_vectors(left, right).unwrap_or_else(|| compare_f64(left_global, right_global))
}

/// Walks both vectors in step. `None` when a pair of groups cannot be compared and both sides
/// have as many groups left: the caller then falls back to the global score.
pub fn compare_vectors(left: &[ScoreValue], right: &[ScoreValue]) -> Option<Ordering> {
    for position in 0..left.len().max(right.len()) {
        let (l, r) = match (left.get(position), right.get(position)) {
            (Some(l), Some(r)) => (l, r),
            // the longer vector has more rules that ranked it: it wins
            (None, _) => return Some(Ordering::Less),
            (_, None) => return Some(Ordering::Greater),
        };
        match compare_groups(l, r) {
            Some(Ordering::Equal) => continue,
            Some(order) => return Some(order),
            None => {
                let left_remaining = left.len() - position - 1;
                let right_remaining = right.len() - position - 1;
                return match left_remaining.cmp(&right_remaining) {
                    Ordering::Equal => None,
                    more_groups_wins => Some(more_groups_wins),
                };
            }
        }
    }
    Some(Ordering::Equal)
}

/// Compares two groups of the same kind; `None` for different kinds or opposite directions.
pub fn compare_groups(left: &ScoreValue, right: &ScoreValue) -> Option<Ordering> {
    use ScoreValue::*;
    match (left, right) {
        (WeightedScore(l) | VectorSort(l), WeightedScore(r) | VectorSort(r)) => Some(compare_scores(*l, *r)),
        (Sort { asc: la, value: l }, Sort { asc: ra, value: r }) if la == ra => Some(compare_sort_values(*la, l, r)),
        (GeoSort { asc: la, distance: l }, GeoSort { asc: ra, distance: r }) if la == ra => Some(compare_distances(*la, *l, *r)),
        _ => None,
    }
}

/// Scores closer than `f64::EPSILON` are equal, as in Meilisearch.
fn compare_scores(left: f64, right: f64) -> Ordering {
    if (left - right).abs() <= f64::EPSILON {
        Ordering::Equal
    } else {
        compare_f64(left, right)
    }
}

/// NaN never comes out of a node; if it did, treating it as equal keeps the order total
/// instead of panicking as Meilisearch's `unwrap` would.
fn compare_f64(left: f64, right: f64) -> Ordering {
    left.partial_cmp(&right).unwrap_or(Ordering::Equal)
}

/// `null` (a document without the field) ranks last whatever the direction; numbers rank
/// before strings; ascending means the smaller value ranks first.
pub fn compare_sort_values(ascending: bool, left: &Value, right: &Value) -> Ordering {
    let by_direction = |order: Ordering| if ascending { order.reverse() } else { order };
    match (left, right) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(_), Value::String(_)) => Ordering::Greater,
        (Value::String(_), Value::Number(_)) => Ordering::Less,
        (Value::Number(l), Value::Number(r)) => by_direction(compare_f64(l.as_f64().unwrap_or(0.0), r.as_f64().unwrap_or(0.0))),
        (Value::String(l), Value::String(r)) => by_direction(l.cmp(r)),
        // Meilisearch only sorts on numbers and strings and treats anything else as a tie.
        _ => Ordering::Equal,
    }
}

/// A document without a position ranks last. Ascending (`_geoPoint(..):asc`) means nearest first.
///
/// Deliberate difference: Meilisearch 1.50's `WeightedScoreValue::partial_cmp` compares the raw
/// distances without reversing them for `asc`, which would put the farthest document first when
/// merging answers of several remotes. A single node sorts nearest first, and the merged answer
/// must equal the single node's, so we follow the node's own order.
fn compare_distances(ascending: bool, left: Option<f64>, right: Option<f64>) -> Ordering {
    match (left, right) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(l), Some(r)) => {
            let order = compare_scores(l, r);
            if ascending {
                order.reverse()
            } else {
                order
            }
        }
    }
}

#[cfg(test)]
mod tests;

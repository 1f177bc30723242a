//! Per-document relevancy, shaped like Meilisearch's ranking rules and score details.
//!
//! Every score is computed from the document and the query alone (never from other documents),
//! so a document gets the same score whichever node or shard holds it.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use super::text::{match_word, searchable_text, tokenize, QueryTerm};
use crate::standin::documents::values_at;
use crate::standin::tasks::Document;

/// Meilisearch's ordinal rank: `max` is the best, 1 the worst matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    pub rank: u32,
    pub max: u32,
}

impl Rank {
    pub fn score(self) -> f64 {
        self.rank as f64 / self.max as f64
    }

    /// Lexicographic combination of two ranks (Meilisearch's `Rank::merge`).
    pub fn merge(outer: Rank, inner: Rank) -> Rank {
        Rank {
            rank: outer.rank.saturating_sub(1) * inner.max + inner.rank,
            max: outer.max * inner.max,
        }
    }

    fn from_cost(cost: u32, max_cost: u32) -> Rank {
        Rank { rank: max_cost + 1 - cost.min(max_cost), max: max_cost + 1 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExactAttribute {
    ExactMatch,
    MatchesStart,
    NoExactMatch,
}

impl ExactAttribute {
    fn rank(self) -> Rank {
        let rank = match self {
            ExactAttribute::ExactMatch => 3,
            ExactAttribute::MatchesStart => 2,
            ExactAttribute::NoExactMatch => 1,
        };
        Rank { rank, max: 3 }
    }

    fn name(self) -> &'static str {
        match self {
            ExactAttribute::ExactMatch => "exactMatch",
            ExactAttribute::MatchesStart => "matchesStart",
            ExactAttribute::NoExactMatch => "noExactMatch",
        }
    }
}

/// One ranking rule's outcome for one document.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    Words { matching: u32, max: u32 },
    Typo { typos: u32, max: u32 },
    Proximity(Rank),
    /// `attribute` (unified) carries both the field rank and the word position rank.
    Attribute { fid: Rank, position: Rank },
    AttributeRank(Rank),
    WordPosition(Rank),
    Exactness { attribute: ExactAttribute, exact_words: u32, max_words: u32 },
    Sort { field: String, asc: bool, value: Value },
    /// A vector search's similarity (`None`: the document has no embedding, ranked last).
    Vector { similarity: Option<f64> },
}

impl Detail {
    /// The ranks this detail contributes, in order (sort contributes none).
    fn ranks(&self) -> Vec<Rank> {
        match self {
            Detail::Words { matching, max } => vec![Rank { rank: *matching, max: *max }],
            Detail::Typo { typos, max } => vec![Rank { rank: max + 1 - typos, max: max + 1 }],
            Detail::Proximity(r) | Detail::AttributeRank(r) | Detail::WordPosition(r) => vec![*r],
            Detail::Attribute { fid, position } => vec![*fid, *position],
            Detail::Exactness { attribute, exact_words, max_words } => {
                let mut ranks = vec![attribute.rank()];
                if *attribute == ExactAttribute::NoExactMatch {
                    ranks.push(Rank { rank: exact_words + 1, max: max_words + 1 });
                }
                ranks
            }
            Detail::Sort { .. } | Detail::Vector { .. } => vec![],
        }
    }
}

/// `_rankingScore`: all ranks merged, sorts ignored.
pub fn global_score(details: &[Detail]) -> f64 {
    // a semantic score, when there is one, is the global score
    if let Some(Detail::Vector { similarity }) = details.iter().find(|detail| matches!(detail, Detail::Vector { .. })) {
        return similarity.unwrap_or(0.0);
    }
    details
        .iter()
        .flat_map(Detail::ranks)
        .fold(Rank { rank: 1, max: 1 }, Rank::merge)
        .score()
}

/// One element of `_federation.weightedScoreValues`.
#[derive(Debug, Clone, PartialEq)]
pub enum ScoreValue {
    Weighted(f64),
    Sort { asc: bool, value: Value },
    Vector(f64),
}

impl ScoreValue {
    pub fn to_json(&self) -> Value {
        match self {
            ScoreValue::Weighted(s) => json!({ "weightedScore": s }),
            ScoreValue::Vector(s) => json!({ "vectorSort": s }),
            ScoreValue::Sort { asc, value } => json!({ "sort": { "asc": asc, "value": value } }),
        }
    }
}

/// Consecutive ranks merged into one weighted score, sorts kept apart (Meilisearch's
/// `weighted_score_values`).
pub fn weighted_score_values(details: &[Detail], weight: f64) -> Vec<ScoreValue> {
    let mut out = Vec::new();
    let mut pending: Option<Rank> = None;
    for detail in details {
        match detail {
            Detail::Sort { asc, value, .. } => {
                if let Some(rank) = pending.take() {
                    out.push(ScoreValue::Weighted(rank.score() * weight));
                }
                out.push(ScoreValue::Sort { asc: *asc, value: value.clone() });
            }
            Detail::Vector { similarity } => {
                if let Some(rank) = pending.take() {
                    out.push(ScoreValue::Weighted(rank.score() * weight));
                }
                out.push(ScoreValue::Vector(similarity.unwrap_or(0.0) * weight));
            }
            other => {
                for rank in other.ranks() {
                    pending = Some(match pending {
                        None => rank,
                        Some(p) => Rank::merge(p, rank),
                    });
                }
            }
        }
    }
    if let Some(rank) = pending {
        out.push(ScoreValue::Weighted(rank.score() * weight));
    }
    out
}

/// Meilisearch's order of two sort values: `Greater` means `left` is better.
pub fn compare_sort_values(asc: bool, left: &Value, right: &Value) -> Ordering {
    use Value::*;
    let order = match (left, right) {
        (Null, Null) => return Ordering::Equal,
        (Null, _) => return Ordering::Less,
        (_, Null) => return Ordering::Greater,
        (Number(_), String(_)) => return Ordering::Greater,
        (String(_), Number(_)) => return Ordering::Less,
        (Number(l), Number(r)) => l
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&r.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (String(l), String(r)) => l.cmp(r),
        _ => return Ordering::Equal,
    };
    if asc {
        order.reverse()
    } else {
        order
    }
}

/// Meilisearch's federated comparator over weighted score values: `Greater` = `left` first.
pub fn compare_score_values(left: &[ScoreValue], right: &[ScoreValue], left_global: f64, right_global: f64) -> Ordering {
    for (i, (l, r)) in left.iter().zip(right).enumerate() {
        let order = match (l, r) {
            (ScoreValue::Weighted(a) | ScoreValue::Vector(a), ScoreValue::Weighted(b) | ScoreValue::Vector(b)) => {
                if (a - b).abs() <= f64::EPSILON {
                    Ordering::Equal
                } else {
                    a.partial_cmp(b).unwrap_or(Ordering::Equal)
                }
            }
            (ScoreValue::Sort { asc: la, value: lv }, ScoreValue::Sort { asc: ra, value: rv }) if la == ra => {
                compare_sort_values(*la, lv, rv)
            }
            _ => {
                let remaining = (left.len() - i).cmp(&(right.len() - i));
                if remaining != Ordering::Equal {
                    return remaining;
                }
                return left_global.partial_cmp(&right_global).unwrap_or(Ordering::Equal);
            }
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    left.len().cmp(&right.len())
}

/// Bucket-sort order of two documents' details: `Greater` means `left` ranks first.
pub fn compare_details(left: &[Detail], right: &[Detail]) -> Ordering {
    for (l, r) in left.iter().zip(right) {
        let order = match (l, r) {
            (Detail::Sort { asc, value: lv, .. }, Detail::Sort { value: rv, .. }) => {
                compare_sort_values(*asc, lv, rv)
            }
            (Detail::Vector { similarity: l }, Detail::Vector { similarity: r }) => {
                l.unwrap_or(-1.0).partial_cmp(&r.unwrap_or(-1.0)).unwrap_or(Ordering::Equal)
            }
            _ => {
                let mut order = Ordering::Equal;
                for (a, b) in l.ranks().into_iter().zip(r.ranks()) {
                    order = (a.rank as u64 * b.max as u64).cmp(&(b.rank as u64 * a.max as u64));
                    if order != Ordering::Equal {
                        break;
                    }
                }
                order
            }
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

/// `_rankingScoreDetails`.
pub fn details_json(details: &[Detail]) -> Value {
    let mut map = Map::new();
    for (order, detail) in details.iter().enumerate() {
        let (key, value) = match detail {
            Detail::Words { matching, max } => ("words".to_owned(), json!({
                "order": order, "matchingWords": matching, "maxMatchingWords": max,
                "score": Rank { rank: *matching, max: *max }.score()
            })),
            Detail::Typo { typos, max } => ("typo".to_owned(), json!({
                "order": order, "typoCount": typos, "maxTypoCount": max,
                "score": Rank { rank: max + 1 - typos, max: max + 1 }.score()
            })),
            Detail::Proximity(r) => ("proximity".to_owned(), json!({"order": order, "score": r.score()})),
            Detail::Attribute { fid, position } => ("attribute".to_owned(), json!({
                "order": order, "attributeRankingOrderScore": fid.score(),
                "queryWordDistanceScore": position.score(),
                "score": Rank::merge(*fid, *position).score()
            })),
            Detail::AttributeRank(r) => ("attributeRank".to_owned(), json!({"order": order, "score": r.score()})),
            Detail::WordPosition(r) => ("wordPosition".to_owned(), json!({"order": order, "score": r.score()})),
            Detail::Exactness { attribute, exact_words, max_words } => {
                let mut obj = json!({"order": order, "matchType": attribute.name()});
                let score = global_score(std::slice::from_ref(detail));
                if *attribute == ExactAttribute::NoExactMatch {
                    obj["matchingWords"] = json!(exact_words);
                    obj["maxMatchingWords"] = json!(max_words);
                }
                obj["score"] = json!(score);
                ("exactness".to_owned(), obj)
            }
            Detail::Sort { field, asc, value } => (
                format!("{field}:{}", if *asc { "asc" } else { "desc" }),
                json!({"order": order, "value": value}),
            ),
            Detail::Vector { similarity } => ("vectorSort".to_owned(), json!({"order": order, "similarity": similarity})),
        };
        map.insert(key, value);
    }
    Value::Object(map)
}

/// A searchable field of a document: its weight (position in `searchableAttributes`) and
/// its words with their positions.
pub struct FieldWords {
    pub weight: u32,
    /// One entry per leaf value (array elements separately) so exactness sees whole values.
    pub values: Vec<Vec<(String, u32)>>,
}

/// The searchable fields of a document. `searchable = None` means `["*"]`: every field, all
/// with weight 0 (as Meilisearch weights them).
pub fn document_fields(doc: &Document, searchable: Option<&[String]>, restrict: Option<&[String]>) -> Vec<FieldWords> {
    let allowed = |name: &str| {
        restrict.is_none_or(|list| list.iter().any(|p| crate::standin::settings::pattern_covers(p, name)))
    };
    let mut out = Vec::new();
    let mut add = |weight: u32, values: Vec<&Value>| {
        let mut position = 0u32;
        let mut per_value = Vec::new();
        for value in values {
            if let Some(text) = searchable_text(value) {
                let words: Vec<(String, u32)> = tokenize(&text)
                    .into_iter()
                    .map(|w| {
                        let p = position;
                        position += 1;
                        (w.text, p)
                    })
                    .collect();
                per_value.push(words);
            }
        }
        out.push(FieldWords { weight, values: per_value });
    };
    match searchable {
        None => {
            for key in doc.keys().filter(|key| *key != crate::standin::vectors::VECTORS_FIELD) {
                if allowed(key) {
                    add(0, values_at(doc, key));
                }
            }
        }
        Some(list) => {
            for (weight, field) in list.iter().enumerate() {
                if allowed(field) {
                    add(weight as u32, values_at(doc, field));
                }
            }
        }
    }
    out
}

/// Meilisearch's cost of a word being `distance` positions away from where the query has it.
fn position_cost(distance: u32) -> u32 {
    match distance {
        0 => 0,
        1 => 1,
        2..=4 => 2,
        5..=7 => 3,
        8..=11 => 4,
        12..=16 => 5,
        17..=24 => 6,
        25..=64 => 7,
        65..=256 => 8,
        257..=1024 => 9,
        _ => 10,
    }
}

fn bucketed(position: u32) -> u32 {
    if position < 16 {
        position
    } else if position < 24 {
        24
    } else {
        (position as f64).log2().ceil().exp2() as u32
    }
}

const MAX_PROXIMITY: u32 = 4;

fn proximity(left: u32, right: u32) -> u32 {
    if left <= right {
        (right - left).min(MAX_PROXIMITY)
    } else {
        (left - right + 1).min(MAX_PROXIMITY)
    }
}

/// One occurrence of a query term in a document.
#[derive(Clone, Copy)]
struct Occurrence {
    field: usize,
    weight: u32,
    position: u32,
    typos: u32,
    exact: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchingStrategy {
    Last,
    All,
    Frequency,
}

/// Everything a rule needs besides the document.
pub struct RankingContext<'a> {
    pub terms: &'a [QueryTerm],
    pub rules: &'a [String],
    /// Query `sort` criteria (field, ascending), applied where the `sort` rule sits.
    pub sort: &'a [(String, bool)],
    pub strategy: MatchingStrategy,
    /// The highest field weight (`searchableAttributes` length − 1), `None` for `*`.
    pub max_weight: Option<u32>,
}

/// The score details of a document, or `None` when it does not match the query.
pub fn rank_document(ctx: &RankingContext<'_>, doc: &Document, fields: &[FieldWords]) -> Option<Vec<Detail>> {
    let n = ctx.terms.len();
    let mut occurrences: Vec<Vec<Occurrence>> = vec![Vec::new(); n];
    if n > 0 {
        for (fi, field) in fields.iter().enumerate() {
            for value in &field.values {
                for (word, position) in value {
                    for (ti, term) in ctx.terms.iter().enumerate() {
                        if let Some(m) = match_word(term, word) {
                            occurrences[ti].push(Occurrence { field: fi, weight: field.weight, position: *position, typos: m.typos, exact: m.exact });
                        }
                    }
                }
            }
        }
    }
    let k = if n == 0 {
        0
    } else {
        let leading = occurrences.iter().take_while(|o| !o.is_empty()).count();
        match ctx.strategy {
            MatchingStrategy::All if leading < n => return None,
            _ if leading == 0 => return None,
            _ => leading,
        }
    };
    let used = &occurrences[..k];
    let k32 = k as u32;
    let mut details = Vec::new();
    for rule in ctx.rules {
        match rule.as_str() {
            "sort" => {
                for (field, asc) in ctx.sort {
                    details.push(Detail::Sort { field: field.clone(), asc: *asc, value: sort_value(doc, field, *asc) });
                }
            }
            _ if n == 0 => {
                if let Some((field, dir)) = rule.rsplit_once(':') {
                    let asc = dir == "asc";
                    details.push(Detail::Sort { field: field.to_owned(), asc, value: sort_value(doc, field, asc) });
                }
            }
            "words" => details.push(Detail::Words { matching: k32, max: n as u32 }),
            "typo" => {
                let typos = used.iter().map(|o| o.iter().map(|x| x.typos).min().unwrap_or(0)).sum();
                let max = ctx.terms[..k].iter().map(|t| t.max_typos).sum();
                details.push(Detail::Typo { typos, max });
            }
            "proximity" => {
                let cost: u32 = used
                    .windows(2)
                    .map(|pair| {
                        let best = pair[0]
                            .iter()
                            .flat_map(|a| pair[1].iter().filter(move |b| b.field == a.field).map(move |b| proximity(a.position, b.position)))
                            .min()
                            .unwrap_or(MAX_PROXIMITY);
                        best - 1
                    })
                    .sum();
                details.push(Detail::Proximity(Rank::from_cost(cost, (MAX_PROXIMITY - 1) * k32.saturating_sub(1))));
            }
            "attribute" => details.push(Detail::Attribute { fid: fid_rank(ctx, used), position: position_rank(used) }),
            "attributeRank" => details.push(Detail::AttributeRank(fid_rank(ctx, used))),
            "wordPosition" => details.push(Detail::WordPosition(position_rank(used))),
            "exactness" => details.push(exactness(ctx, fields, used)),
            custom => {
                if let Some((field, dir)) = custom.rsplit_once(':') {
                    let asc = dir == "asc";
                    details.push(Detail::Sort { field: field.to_owned(), asc, value: sort_value(doc, field, asc) });
                }
            }
        }
    }
    Some(details)
}

fn fid_rank(ctx: &RankingContext<'_>, used: &[Vec<Occurrence>]) -> Rank {
    let max_weight = ctx.max_weight.unwrap_or(0);
    let cost = used.iter().map(|o| o.iter().map(|x| x.weight).min().unwrap_or(max_weight)).sum();
    Rank::from_cost(cost, max_weight * used.len() as u32)
}

fn position_rank(used: &[Vec<Occurrence>]) -> Rank {
    let cost = used
        .iter()
        .enumerate()
        .map(|(i, o)| o.iter().map(|x| position_cost(bucketed(x.position).abs_diff(i as u32))).min().unwrap_or(10))
        .sum();
    Rank::from_cost(cost, 10 * used.len() as u32)
}

fn exactness(ctx: &RankingContext<'_>, fields: &[FieldWords], used: &[Vec<Occurrence>]) -> Detail {
    let k = used.len();
    let words: Vec<&str> = ctx.terms[..k].iter().map(|t| t.word.as_str()).collect();
    let mut attribute = ExactAttribute::NoExactMatch;
    for value in fields.iter().flat_map(|f| f.values.iter()) {
        let starts = value.len() >= k && value.iter().zip(&words).all(|((w, _), q)| w == q);
        if starts && value.len() == k {
            attribute = ExactAttribute::ExactMatch;
            break;
        }
        if starts {
            attribute = ExactAttribute::MatchesStart;
        }
    }
    let exact_words = used.iter().filter(|o| o.iter().any(|x| x.exact)).count() as u32;
    Detail::Exactness { attribute, exact_words, max_words: k as u32 }
}

/// The value a document sorts by: its smallest value ascending, largest descending; numbers
/// as floats, strings as written; null when it has none.
pub fn sort_value(doc: &Document, field: &str, asc: bool) -> Value {
    let values = values_at(doc, field);
    let mut best: Option<Value> = None;
    for v in values {
        let candidate = match v {
            Value::Number(n) => json!(n.as_f64().unwrap_or(0.0)),
            Value::String(s) => json!(s),
            Value::Bool(b) => json!(b.to_string()),
            _ => continue,
        };
        best = Some(match best {
            None => candidate,
            Some(current) => {
                // keep the value that ranks the document best in this direction
                if compare_sort_values(asc, &candidate, &current) == Ordering::Greater {
                    candidate
                } else {
                    current
                }
            }
        });
    }
    best.unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_scores_are_reproduced() {
        // "search sort with details": words 1/1, typo 0/1, proximity, attributeRank 3/4,
        // sort, wordPosition 10/11, exactness noExactMatch with 1/1 exact words.
        let details = vec![
            Detail::Words { matching: 1, max: 1 },
            Detail::Typo { typos: 0, max: 1 },
            Detail::Proximity(Rank { rank: 1, max: 1 }),
            Detail::AttributeRank(Rank { rank: 3, max: 4 }),
            Detail::Sort { field: "installed_size_kb".into(), asc: false, value: json!(17384.0) },
            Detail::WordPosition(Rank { rank: 10, max: 11 }),
            Detail::Exactness { attribute: ExactAttribute::NoExactMatch, exact_words: 1, max_words: 1 },
        ];
        assert_eq!(global_score(&details), 0.8560606060606061);
        let values = weighted_score_values(&details, 1.0);
        assert_eq!(values[0], ScoreValue::Weighted(0.875));
        assert_eq!(values[2], ScoreValue::Weighted(0.8484848484848485));
        let json = details_json(&details);
        assert_eq!(json["exactness"]["score"], json!(0.3333333333333333));
        assert_eq!(json["wordPosition"]["score"], json!(0.9090909090909091));
    }

    #[test]
    fn matches_start_without_sort() {
        let details = vec![
            Detail::Words { matching: 1, max: 1 },
            Detail::Typo { typos: 0, max: 1 },
            Detail::Proximity(Rank { rank: 1, max: 1 }),
            Detail::AttributeRank(Rank { rank: 3, max: 4 }),
            Detail::WordPosition(Rank { rank: 11, max: 11 }),
            Detail::Exactness { attribute: ExactAttribute::MatchesStart, exact_words: 1, max_words: 1 },
        ];
        assert_eq!(global_score(&details), 0.8712121212121212);
    }

    #[test]
    fn null_sort_values_rank_last_both_ways() {
        assert_eq!(compare_sort_values(true, &json!(1.0), &Value::Null), Ordering::Greater);
        assert_eq!(compare_sort_values(false, &json!(1.0), &Value::Null), Ordering::Greater);
        assert_eq!(compare_sort_values(true, &json!(1.0), &json!(2.0)), Ordering::Greater);
    }
}

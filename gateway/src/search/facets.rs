//! Facet distributions and stats: parsing a node's `facetsByIndex` entry, summing them over
//! shards, taking rejected (distinct) hits back out, and the index's order and truncation.
//!
//! Exactness bound. Every node truncates each facet to its node index's `maxValuesPerFacet`
//! (today the client's setting, `M`) before we see it, and the merge keeps `M` values:
//! * alphabetical order: a node keeps the first values of its walk ([`keep_and_order`]); when
//!   every shard takes the walk the whole index takes, a value among the first `M` merged values
//!   is among the first `M` of every shard that holds it, so its count is exact. A shard that
//!   matched 3,000 documents or fewer while the whole index matched more walks its numbers in
//!   text order instead of numeric order and may not send the values the merge needs
//!   (ARCHITECTURE.md, "What a sharded answer cannot match");
//! * count order: a value a truncated shard did not return has at most that shard's smallest
//!   returned count there; [`FacetMerge::count_order_is_exact`] checks that no hidden value can
//!   reach the returned list, and otherwise the tail can be undercounted by at most the sum
//!   of those smallest counts.

use super::error::MergeError;
use super::hit_values::{visit_facet_values, FacetValue};
use miroir_schemas::filter::normalize_facet;
use miroir_schemas::node_layout::{attribute_for_client, is_miroir_document_field};
use serde_json::{Map, Value};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Meilisearch's default `faceting.maxValuesPerFacet`.
pub const DEFAULT_MAX_VALUES_PER_FACET: usize = 100;
/// `faceting.sortFacetValuesBy` order for one facet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FacetOrder {
    #[default]
    Alpha,
    Count,
}

/// The index's `sortFacetValuesBy`: per facet name, with `*` as the default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FacetOrderRules(pub BTreeMap<String, FacetOrder>);

impl FacetOrderRules {
    /// Reads the setting's JSON form, `{"*": "alpha", "genre": "count"}`.
    pub fn from_setting(setting: &Value) -> FacetOrderRules {
        let rules = setting
            .as_object()
            .into_iter()
            .flatten()
            .map(|(facet, order)| {
                let order = if order.as_str() == Some("count") { FacetOrder::Count } else { FacetOrder::Alpha };
                (facet.clone(), order)
            })
            .collect();
        FacetOrderRules(rules)
    }

    pub fn order_of(&self, facet: &str) -> FacetOrder {
        self.0.get(facet).or_else(|| self.0.get("*")).copied().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FacetStat {
    pub min: f64,
    pub max: f64,
}

/// One index's facets: value counts in the order received, and numeric stats.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IndexFacets {
    pub distribution: BTreeMap<String, Vec<(String, u64)>>,
    pub stats: BTreeMap<String, FacetStat>,
}

impl IndexFacets {
    /// Parses `{"distribution": {facet: {value: count}}, "stats": {facet: {min, max}}}`.
    pub fn parse(index: &str, body: &Value) -> Result<IndexFacets, MergeError> {
        let path = |suffix: &str| format!(".facetsByIndex.{index}{suffix}");
        let mut facets = IndexFacets::default();
        let empty = Map::new();
        let distribution = match body.get("distribution") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(distribution)) => distribution,
            Some(other) => return Err(MergeError::bad_answer(&path(".distribution"), "an object", other)),
        };
        // Miroir's document fields are filterable on every node index (`facets: ["*"]` lists
        // them). A facet the client named as the shard field was asked as its stand-in.
        for (facet, values) in distribution.iter().filter(|(facet, _)| !is_miroir_document_field(facet)) {
            let facet = attribute_for_client(facet);
            let values = values.as_object().ok_or_else(|| MergeError::bad_answer(&path(".distribution"), "an object", values))?;
            let counts = values
                .iter()
                .map(|(value, count)| {
                    let count = count.as_u64().ok_or_else(|| MergeError::bad_answer(&path(".distribution"), "an integer", count))?;
                    Ok((value.clone(), count))
                })
                .collect::<Result<_, MergeError>>()?;
            facets.distribution.insert(facet.into_owned(), counts);
        }
        if let Some(Value::Object(stats)) = body.get("stats") {
            // The TTL expiry is a number: `facets: ["*"]` gives its stats too.
            for (facet, stat) in stats.iter().filter(|(facet, _)| !is_miroir_document_field(facet)) {
                let bound = |name: &str| stat.get(name).and_then(Value::as_f64);
                let (Some(min), Some(max)) = (bound("min"), bound("max")) else {
                    return Err(MergeError::bad_answer(&path(".stats"), "{min, max}", stat));
                };
                facets.stats.insert(attribute_for_client(facet).into_owned(), FacetStat { min, max });
            }
        }
        Ok(facets)
    }
}

/// Facets of one index summed over its shards, then fixed up and cut.
#[derive(Debug, Clone, Default)]
pub struct FacetMerge {
    counts: BTreeMap<String, Vec<(String, u64)>>,
    positions: BTreeMap<String, HashMap<String, usize>>,
    /// Per facet, the displayed values some shard listed as numbers ([`numbers_listed`]).
    numbers: BTreeMap<String, HashSet<String>>,
    stats: BTreeMap<String, FacetStat>,
    /// Per facet, the smallest count of every shard answer that came back full
    /// (`node_limit` values), i.e. possibly truncated.
    /// (normalized values returned).
    truncated_minimums: BTreeMap<String, Vec<(u64, HashSet<String>)>>,
}

impl FacetMerge {
    /// Adds one shard's facets. `node_limit` is the node index's `maxValuesPerFacet`.
    pub fn add(&mut self, shard: &IndexFacets, node_limit: usize) {
        for (facet, values) in &shard.distribution {
            self.numbers.entry(facet.clone()).or_default().extend(numbers_listed(values).into_iter().map(str::to_owned));
            let counts = self.counts.entry(facet.clone()).or_default();
            let positions = self.positions.entry(facet.clone()).or_default();
            for (value, count) in values {
                // one node folds spellings that normalize alike into one value; so do shards
                match positions.entry(normalize_facet(value)) {
                    Entry::Occupied(at) => counts[*at.get()].1 += count,
                    Entry::Vacant(slot) => {
                        slot.insert(counts.len());
                        counts.push((value.clone(), *count));
                    }
                }
            }
            if values.len() >= node_limit {
                let smallest = values.iter().map(|(_, count)| *count).min().unwrap_or(0);
                let returned = values.iter().map(|(value, _)| normalize_facet(value)).collect();
                self.truncated_minimums.entry(facet.clone()).or_default().push((smallest, returned));
            }
        }
        for (facet, stat) in &shard.stats {
            self.stats
                .entry(facet.clone())
                .and_modify(|merged| {
                    merged.min = merged.min.min(stat.min);
                    merged.max = merged.max.max(stat.max);
                })
                .or_insert(*stat);
        }
    }

    /// Takes the facet values of a hit that `distinct` rejected out of the counts, as
    /// Meilisearch's federated search does; a value whose count reaches 0 disappears.
    pub fn remove_hit(&mut self, document: &Map<String, Value>, extra_document: &Map<String, Value>) {
        for (facet, counts) in &mut self.counts {
            // strings are matched by their normalized form, numbers by their display
            let mut by_key: HashMap<String, usize> = HashMap::new();
            for (at, (value, _)) in counts.iter().enumerate() {
                by_key.entry(normalize_facet(value)).or_insert(at);
            }
            let mut emptied = false;
            let mut take_one = |value: FacetValue| {
                let key = match value {
                    FacetValue::Normalized(string) => string,
                    FacetValue::Number(number) => number.to_string(),
                };
                if let Some(&at) = by_key.get(&key) {
                    counts[at].1 = counts[at].1.saturating_sub(1);
                    emptied |= counts[at].1 == 0;
                }
            };
            visit_facet_values(document, facet, &mut take_one);
            visit_facet_values(extra_document, facet, &mut take_one);
            if emptied {
                counts.retain(|(_, count)| *count != 0);
                let positions = self.positions.entry(facet.clone()).or_default();
                *positions = counts.iter().enumerate().map(|(at, (value, _))| (normalize_facet(value), at)).collect();
            }
        }
    }

    /// True when, for count order, every returned count is exact and no value hidden by a
    /// shard's truncation could have a count reaching the returned list's smallest count.
    pub fn count_order_is_exact(&self, facet: &str, max_values: usize) -> bool {
        let Some(truncated) = self.truncated_minimums.get(facet) else { return true };
        let mut sorted = self.counts.get(facet).cloned().unwrap_or_default();
        sort_values(&mut sorted, FacetOrder::Count);
        let (shown, hidden) = sorted.split_at(max_values.min(sorted.len()));
        let hidden_bound = |value: Option<&str>| -> u64 {
            let key = value.map(normalize_facet);
            truncated
                .iter()
                .filter(|(_, returned)| key.as_ref().is_none_or(|key| !returned.contains(key)))
                .map(|(smallest, _)| smallest)
                .sum()
        };
        let shown_exact = shown.iter().all(|(value, _)| hidden_bound(Some(value)) == 0);
        let threshold = shown.last().map_or(0, |(_, count)| *count);
        let hidden_fit =
            hidden.iter().all(|(value, count)| count + hidden_bound(Some(value)) <= threshold) && hidden_bound(None) <= threshold;
        shown_exact && hidden_fit
    }

    /// The client's `facetDistribution` and `facetStats`: each facet's values cut to
    /// `max_values` and shown in the order one node holding all `candidates` matching
    /// documents would give ([`keep_and_order`]).
    pub fn finish(self, order: &FacetOrderRules, max_values: Option<usize>, candidates: usize) -> IndexFacets {
        let no_numbers = HashSet::new();
        let distribution = self
            .counts
            .into_iter()
            .map(|(facet, mut values)| {
                let numbers = self.numbers.get(&facet).unwrap_or(&no_numbers);
                keep_and_order(&mut values, order.order_of(&facet), max_values, candidates, |value| numbers.contains(value));
                (facet, values)
            })
            .collect();
        IndexFacets { distribution, stats: self.stats }
    }
}

/// Meilisearch's `CANDIDATES_THRESHOLD` (`milli/src/search/facet/facet_distribution.rs`): up to
/// this many matching documents, an alphabetical distribution is counted document by document;
/// above it, by walking the facet databases.
pub const FACET_CANDIDATES_THRESHOLD: usize = 3000;

/// Which values a node keeps when a facet has more than `max_values`, and the order it shows
/// them in, as real Meilisearch 1.50 does for a search matching `candidates` documents. A node
/// lists a facet's numeric values first and its string values after them (a string that looks
/// like a number, `"12"` from a CSV, is a string); `is_number` tells which displayed values are
/// numbers.
/// * alphabetical, up to [`FACET_CANDIDATES_THRESHOLD`] candidates: counted document by document
///   into maps keyed by text: numbers by their display (`10, 100, 1001, …, 101`), then strings by
///   normalized form; the first `max_values` in that order;
/// * alphabetical, more candidates: numbers walked in numeric order (`0, 6, 7, …`), then strings
///   by normalized form; the first `max_values`;
/// * count: biggest count first, equal counts by descending text (the order a node's
///   facet-level heap usually pops equal counts in); the first `max_values`.
pub fn keep_and_order(
    values: &mut Vec<(String, u64)>,
    order: FacetOrder,
    max_values: Option<usize>,
    candidates: usize,
    is_number: impl Fn(&str) -> bool,
) {
    match order {
        FacetOrder::Alpha => {
            let by_text = candidates <= FACET_CANDIDATES_THRESHOLD;
            values.sort_by_cached_key(|(value, _)| AlphaWalkKey::of(value, is_number(value), by_text));
        }
        FacetOrder::Count => sort_values(values, FacetOrder::Count),
    }
    if let Some(max) = max_values {
        values.truncate(max);
    }
}

/// The values of one shard's list that are numbers: the longest prefix of number-looking values
/// in the order a node lists numbers (by text, or by value). A number-looking value after it is
/// a string (`150, 200, 12` ends at `200`: `12` breaks both orders).
pub fn numbers_listed(values: &[(String, u64)]) -> Vec<&str> {
    let numeric: Vec<(&str, f64)> = values.iter().map_while(|(value, _)| Some((value.as_str(), displayed_number(value)?))).collect();
    let sorted_prefix =
        |in_order: fn(&(&str, f64), &(&str, f64)) -> bool| 1 + numeric.windows(2).take_while(|pair| in_order(&pair[0], &pair[1])).count();
    let by_text = sorted_prefix(|a, b| a.0 <= b.0);
    let by_value = sorted_prefix(|a, b| a.1 <= b.1);
    numeric.iter().take(by_text.max(by_value).min(numeric.len())).map(|(value, _)| *value).collect()
}

/// A displayed facet value as the number Meilisearch would display it (`7`, `1.5`; not `007`).
fn displayed_number(displayed: &str) -> Option<f64> {
    displayed.parse::<f64>().ok().filter(|number| number.is_finite() && number.to_string() == displayed)
}

/// A facet value's place in a node's alphabetical distribution: numbers first (by display
/// text, or by value), then strings by normalized form.
#[derive(Debug, PartialEq)]
enum AlphaWalkKey {
    NumberText(String),
    Number(f64),
    Text(String),
}

impl AlphaWalkKey {
    fn of(displayed: &str, is_number: bool, by_text: bool) -> AlphaWalkKey {
        match displayed_number(displayed).filter(|_| is_number) {
            Some(_) if by_text => AlphaWalkKey::NumberText(displayed.to_owned()),
            Some(number) => AlphaWalkKey::Number(number),
            None => AlphaWalkKey::Text(normalize_facet(displayed)),
        }
    }

    fn group(&self) -> u8 {
        match self {
            AlphaWalkKey::NumberText(_) | AlphaWalkKey::Number(_) => 0,
            AlphaWalkKey::Text(_) => 1,
        }
    }
}

impl Eq for AlphaWalkKey {}

impl PartialOrd for AlphaWalkKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AlphaWalkKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (AlphaWalkKey::Number(a), AlphaWalkKey::Number(b)) => a.total_cmp(b),
            (AlphaWalkKey::NumberText(a), AlphaWalkKey::NumberText(b)) | (AlphaWalkKey::Text(a), AlphaWalkKey::Text(b)) => a.cmp(b),
            _ => self.group().cmp(&other.group()),
        }
    }
}

/// Alphabetical by the displayed text, byte by byte; count: biggest first, equal counts by
/// descending text. (A search's distribution follows [`keep_and_order`].)
pub fn sort_values(values: &mut [(String, u64)], order: FacetOrder) {
    match order {
        FacetOrder::Alpha => values.sort_by(|(left, _), (right, _)| left.cmp(right)),
        FacetOrder::Count => values.sort_by(|(lv, lc), (rv, rc)| rc.cmp(lc).then_with(|| rv.cmp(lv))),
    }
}

/// `{"distribution": …, "stats": …}` → the client's JSON objects.
pub fn distribution_json(facets: &IndexFacets) -> Value {
    let distribution = facets
        .distribution
        .iter()
        .map(|(facet, values)| {
            let values = values.iter().map(|(value, count)| (value.clone(), Value::from(*count))).collect();
            (facet.clone(), Value::Object(values))
        })
        .collect();
    Value::Object(distribution)
}

pub fn stats_json(facets: &IndexFacets) -> Value {
    let stats = facets.stats.iter().map(|(facet, stat)| (facet.clone(), serde_json::json!({"min": stat.min, "max": stat.max}))).collect();
    Value::Object(stats)
}

#[cfg(test)]
mod tests;

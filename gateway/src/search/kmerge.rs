//! The k-way merge of ranked hit streams: Meilisearch's comparator first, then a deterministic
//! tie-break (client query, shard, position in the node's answer) so that the same data always
//! gives the same pages. Also applies cross-shard `distinct`, `maxTotalHits` and pinned hits.

use super::hit_values::{facet_values, FacetValue};
use super::node_answer::NodeHit;
use super::plan::QueryOrigin;
use super::score::compare_hits;
use std::cmp::Ordering;
use std::collections::{HashSet, VecDeque};

/// A node hit with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedHit {
    pub hit: NodeHit,
    pub origin: QueryOrigin,
    /// Position of the hit in its node's answer.
    pub position: usize,
}

impl RankedHit {
    /// `Greater` = `self` comes first. Total: equal only for the very same hit.
    pub fn rank(&self, other: &RankedHit) -> Ordering {
        compare_hits(&self.hit.score, self.hit.weighted_global_score, &other.hit.score, other.hit.weighted_global_score)
            .then_with(|| self.tie_key().cmp(&other.tie_key()).reverse())
    }

    fn tie_key(&self) -> (usize, u32, usize) {
        (self.origin.query, self.origin.shard.0, self.position)
    }
}

/// What to cut out of the merged list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub skip: usize,
    pub take: usize,
    /// `pagination.maxTotalHits`: no hit past this rank is ever shown.
    pub max_hits: usize,
}

/// The page, and the hits `distinct` rejected (all of them, for the facet fix-up and totals).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Merged {
    pub page: Vec<RankedHit>,
    pub rejected: Vec<RankedHit>,
    /// With `distinct`: how many of the given hits it kept (pinned ones included), page or not.
    /// Without, the merge stops at the page end and this stays 0.
    pub distinct_kept: usize,
}

/// Which attribute makes hits duplicates of each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distinct<'a> {
    None,
    /// One attribute across every query (`distinct` of a search, `federation.distinct`).
    Global(&'a str),
    /// Per client query (a federated query's own `distinct` or its index's `distinctAttribute`):
    /// duplicates only within the same query.
    PerQuery(&'a [Option<String>]),
}

impl<'a> Distinct<'a> {
    pub fn from_attribute(attribute: Option<&'a str>) -> Distinct<'a> {
        attribute.map_or(Distinct::None, Distinct::Global)
    }

    /// The attribute and the scope (`Some(query)` for per-query) that apply to a hit.
    fn rule_for(self, ranked: &RankedHit) -> Option<(Option<usize>, &'a str)> {
        match self {
            Distinct::None => None,
            Distinct::Global(attribute) => Some((None, attribute)),
            Distinct::PerQuery(by_query) => {
                by_query.get(ranked.origin.query)?.as_deref().map(|attribute| (Some(ranked.origin.query), attribute))
            }
        }
    }
}

/// Merges streams that are each sorted best first (a node's answer for one query and shard).
pub fn merge_streams(streams: Vec<Vec<RankedHit>>, distinct: Distinct<'_>, window: Window) -> Merged {
    let (pins, organic): (Vec<_>, Vec<_>) = streams.into_iter().flatten().partition(|ranked| ranked.hit.pinned_position.is_some());
    let mut pins = pins;
    pins.sort_by_key(|pin| (pin.hit.pinned_position, pin.tie_key()));
    let organic_streams = regroup(organic);

    let page_end = window.skip.saturating_add(window.take).min(window.max_hits);
    // with pins, the organic prefix up to the page end is needed to place them
    let (organic_skip, organic_take) = if pins.is_empty() { (window.skip, page_end.saturating_sub(window.skip)) } else { (0, page_end) };

    let mut merged = Merged::default();
    let mut seen: HashSet<(Option<usize>, FacetValue)> = HashSet::new();
    let mut accepted = 0usize;
    let mut heads = KMerge::new(organic_streams);
    while let Some(ranked) = heads.next_best() {
        if distinct != Distinct::None {
            // when deduplicating, every hit is looked at, so that the rejected list (used to fix
            // facet counts and totals) is complete
            if let Some((scope, attribute)) = distinct.rule_for(&ranked) {
                let values = facet_values(&ranked.hit.document, &ranked.hit.extra_document, attribute);
                if values.iter().any(|value| seen.contains(&(scope, value.clone()))) {
                    merged.rejected.push(ranked);
                    continue;
                }
                seen.extend(values.into_iter().map(|value| (scope, value)));
            }
        } else if accepted >= organic_skip + organic_take {
            break;
        }
        if accepted >= organic_skip && accepted < organic_skip + organic_take {
            merged.page.push(ranked);
        }
        accepted += 1;
    }
    if distinct != Distinct::None {
        merged.distinct_kept = accepted + pins.len();
    }
    if !pins.is_empty() {
        merged.page = place_pins(pins, window.skip, page_end.saturating_sub(window.skip), std::mem::take(&mut merged.page));
    }
    merged
}

/// Splits the flattened hits back into one stream per (node answer, query, shard): each is a
/// subsequence of a node's sorted answer, hence sorted itself.
fn regroup(hits: Vec<RankedHit>) -> Vec<Vec<RankedHit>> {
    let mut streams: Vec<Vec<RankedHit>> = Vec::new();
    let mut stream_of: std::collections::HashMap<(usize, u32), usize> = Default::default();
    for ranked in hits {
        let key = (ranked.origin.query, ranked.origin.shard.0);
        let at = *stream_of.entry(key).or_insert_with(|| {
            streams.push(Vec::new());
            streams.len() - 1
        });
        streams[at].push(ranked);
    }
    streams
}

/// Repeatedly yields the best head among the streams. Linear in the number of streams per
/// hit: there are few streams (shards × queries), and unlike a heap this needs no more than
/// the comparator's antisymmetry, which Meilisearch's mixed-kind fallback keeps.
struct KMerge {
    streams: Vec<VecDeque<RankedHit>>,
}

impl KMerge {
    fn new(streams: Vec<Vec<RankedHit>>) -> KMerge {
        KMerge { streams: streams.into_iter().map(VecDeque::from).collect() }
    }

    fn next_best(&mut self) -> Option<RankedHit> {
        let mut best: Option<(usize, &RankedHit)> = None;
        for (at, stream) in self.streams.iter().enumerate() {
            let Some(candidate) = stream.front() else { continue };
            if best.is_none_or(|(_, current)| candidate.rank(current) == Ordering::Greater) {
                best = Some((at, candidate));
            }
        }
        let at = best?.0;
        self.streams[at].pop_front()
    }
}

/// Puts pinned hits at their positions in the list whose `[skip, skip+take)` part is the page;
/// `organic` is that list's organic prefix. Pins whose position lies past the organic hits move
/// up, as Meilisearch does.
fn place_pins(pins: Vec<RankedHit>, skip: usize, take: usize, organic: Vec<RankedHit>) -> Vec<RankedHit> {
    let page_end = skip.saturating_add(take);
    let mut organic = organic.into_iter();
    let mut pins = pins.into_iter().peekable();
    let mut page = Vec::new();
    let mut position = 0usize;
    while position < page_end {
        let pin_due = pins.peek().is_some_and(|pin| pin.hit.pinned_position.unwrap_or(0) <= position);
        let next = if pin_due { pins.next() } else { organic.next().or_else(|| pins.next()) };
        let Some(hit) = next else { break };
        if position >= skip {
            page.push(hit);
        }
        position += 1;
    }
    page
}

#[cfg(test)]
mod tests;

//! Which primary-key values a filter restricts a search to, so a search can be sent only to
//! the shards owning them.
//!
//! Equality in filters is case-insensitive and trims and normalizes the value, so
//! `id = abc` also selects the documents `ABC` and `aBc`: every spelling that normalizes the
//! same way is a candidate. Integers match ids written in decimal.

use std::collections::BTreeSet;

use super::ast::{Condition, Filter, Token};
use super::facets::normalize_facet;

/// The set of document ids that can match `filter` when the primary key is `primary_key`,
/// or `None` when the filter does not pin the primary key (or would need more than `limit`
/// ids to say so). Sound: a document whose id is not in the set never matches.
pub fn primary_key_candidates(filter: &Filter, primary_key: &str, limit: usize) -> Option<BTreeSet<String>> {
    let candidates = plan(filter, primary_key, limit)?;
    (candidates.len() <= limit).then_some(candidates)
}

fn plan(filter: &Filter, primary_key: &str, limit: usize) -> Option<BTreeSet<String>> {
    match filter {
        Filter::Condition { field, op: Condition::Equal(value) } if field.value() == primary_key => ids_equal_to(value, limit),
        Filter::In { field, values } if field.value() == primary_key => {
            let mut all = BTreeSet::new();
            for value in values {
                all.extend(ids_equal_to(value, limit)?);
                if all.len() > limit {
                    return None;
                }
            }
            Some(all)
        }
        Filter::Or(children) => {
            let mut all = BTreeSet::new();
            for child in children {
                all.extend(plan(child, primary_key, limit)?);
                if all.len() > limit {
                    return None;
                }
            }
            Some(all)
        }
        // Children that say nothing only narrow further: intersect the ones that know.
        Filter::And(children) => {
            children.iter().filter_map(|child| plan(child, primary_key, limit)).reduce(|a, b| a.intersection(&b).cloned().collect())
        }
        _ => None,
    }
}

/// Length at which Meilisearch cuts string facet values (ASCII ids are cut exactly there).
const TRUNCATED_FACET_LENGTH: usize = 500 - 32;

/// Every valid document id `d` such that `d = value` selects document `d`.
fn ids_equal_to(value: &Token, limit: usize) -> Option<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    let normalized = normalize_facet(value.value());
    if normalized.len() >= TRUNCATED_FACET_LENGTH {
        // Meilisearch cuts long string facets, so a long value can equal the cut form of
        // many longer ids.
        return None;
    }
    if is_id_text(&normalized) {
        ids.extend(case_spellings(&normalized, limit)?);
    }
    if let Some(number) = value.finite_float() {
        // Integer ids are compared as floats; beyond 2^53 several integers share one float.
        if number.fract() == 0.0 && number.abs() < 9_007_199_254_740_992.0 {
            ids.insert(format!("{}", number as i64));
        } else if number.fract() == 0.0 {
            return None;
        }
    }
    Some(ids)
}

/// Lowercase ids made only of id characters (a normalized value always is lowercase).
fn is_id_text(value: &str) -> bool {
    !value.is_empty() && value.len() < 512 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// All upper/lower-case spellings of an ASCII id, or None when there are more than `limit`.
fn case_spellings(lowercase: &str, limit: usize) -> Option<Vec<String>> {
    let letters = lowercase.bytes().filter(u8::is_ascii_alphabetic).count();
    if letters >= usize::BITS as usize || (1usize << letters) > limit {
        return None;
    }
    let spellings = (0..1usize << letters)
        .map(|mask| {
            let mut bit = 0;
            lowercase
                .chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        let upper = mask & (1 << bit) != 0;
                        bit += 1;
                        if upper {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    Some(spellings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::parse;

    fn plan_of(filter: &str) -> Option<Vec<String>> {
        primary_key_candidates(&parse(filter).unwrap().unwrap(), "id", 64).map(|s| s.into_iter().collect())
    }

    #[test]
    fn equality_on_the_primary_key_pins_every_spelling() {
        assert_eq!(plan_of("id = aB1").unwrap(), ["AB1", "Ab1", "aB1", "ab1"]);
        assert_eq!(plan_of("id IN [7, x] OR id = 8").unwrap(), ["7", "8", "X", "x"]);
        assert_eq!(plan_of("id = 7.0").unwrap(), ["7"]);
        assert_eq!(plan_of("id = 'a b'").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn and_narrows_or_and_negations_give_up() {
        assert_eq!(plan_of("id IN [1, 2] AND (id = 2 OR id = 3) AND genre = x").unwrap(), ["2"]);
        assert_eq!(plan_of("id = 1 OR genre = x"), None);
        assert_eq!(plan_of("id != 1"), None);
        assert_eq!(plan_of("NOT id = 1"), None);
        assert_eq!(plan_of("id > 1"), None);
        assert_eq!(plan_of("id = abcdefgh"), None, "256 spellings exceed the limit");
    }
}

//! Properties of the parser, the serialization and the planner (checked against the oracle).

use proptest::prelude::*;

use super::oracle::matches;
use super::strategies::{document, filter, filter_on_documents};
use crate::filter::{parse, primary_key_candidates};

/// Fuzz budget: `MIROIR_FUZZ_CASES` raises it (see fuzz/run-short.sh).
fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("MIROIR_FUZZ_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(default);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(cases(512))]

    /// Writing a filter and parsing it back gives the same filter.
    #[test]
    fn display_then_parse_is_identity(f in filter()) {
        let text = f.to_string();
        let parsed = parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {}", e.message)))?;
        prop_assert_eq!(parsed, Some(f), "{}", text);
    }

    /// A document whose id is outside the planned set never matches the filter.
    #[test]
    fn planner_is_sound(f in filter_on_documents(), docs in prop::collection::vec(document(), 1..8)) {
        if let Some(ids) = primary_key_candidates(&f, "id", 4096) {
            for doc in &docs {
                let id = match &doc["id"] { serde_json::Value::String(s) => s.clone(), other => other.to_string() };
                if matches(&f, doc) {
                    prop_assert!(ids.contains(&id), "{} matches {:?} but plan is {:?}", f, doc, ids);
                }
            }
        }
    }

    /// Evaluating a filter or its re-parsed serialization gives the same answer.
    #[test]
    fn serialization_keeps_meaning(f in filter_on_documents(), doc in document()) {
        let reparsed = parse(&f.to_string()).unwrap().unwrap();
        prop_assert_eq!(matches(&f, &doc), matches(&reparsed, &doc));
    }

    /// `NOT` is the complement.
    #[test]
    fn not_is_complement(f in filter_on_documents(), doc in document()) {
        let negated = crate::filter::Filter::Not(Box::new(f.clone()));
        prop_assert_eq!(matches(&negated, &doc), !matches(&f, &doc));
    }
}

proptest! {
    #![proptest_config(cases(2048))]

    /// Fuzz: the parser never panics, and every refusal has a message whose second line
    /// locates it in the input.
    #[test]
    fn parser_never_panics_on_any_text(input in any::<String>()) {
        check_refusal_shape(&input)?;
    }

    /// Fuzz with the grammar's own vocabulary, which reaches far deeper than random text.
    #[test]
    fn parser_never_panics_on_filter_like_text(
        words in prop::collection::vec(prop_oneof![
            Just("AND"), Just("OR"), Just("NOT"), Just("IN"), Just("TO"), Just("EXISTS"), Just("IS"),
            Just("NULL"), Just("EMPTY"), Just("CONTAINS"), Just("STARTS WITH"), Just("("), Just(")"),
            Just("["), Just("]"), Just(","), Just("="), Just("!="), Just(">="), Just("<"), Just("'"),
            Just("\""), Just("\\"), Just("_geoRadius("), Just("_geoBoundingBox(["), Just("_geoPolygon(["),
            Just("_geo"), Just("_geoPoint("), Just("_vectors."), Just(".fragments."), Just("_foreign("),
            Just("1.5e"), Just("-3"), Just("x"), Just("\\u{"), Just("\\x4"), Just("🦀"), Just("\n"), Just(" "),
        ], 0..24),
    ) {
        check_refusal_shape(&words.concat())?;
    }
}

fn check_refusal_shape(input: &str) -> Result<(), TestCaseError> {
    if let Err(error) = parse(input) {
        let (_, position) = error.message.split_once('\n').ok_or_else(|| TestCaseError::fail("one-line message"))?;
        let columns = position.split(' ').next().unwrap();
        let (start, end) = columns.split_once(':').ok_or_else(|| TestCaseError::fail(position.to_owned()))?;
        let (start, end): (usize, usize) = (start.parse().unwrap(), end.parse().unwrap());
        prop_assert!(start >= 1 && end >= start, "{position}");
    }
    Ok(())
}

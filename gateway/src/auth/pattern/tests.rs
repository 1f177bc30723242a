use super::*;
use proptest::prelude::*;

fn reference_matches(pattern: &str, uid: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => uid.len() >= prefix.len() && &uid[..prefix.len()] == prefix,
        None => pattern == uid,
    }
}

#[test]
fn parse_accepts_uids_prefixes_and_star() {
    for ok in ["*", "movies", "movies*", "mov_ies-2*", "42"] {
        assert!(IndexPattern::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["", "mo*vies", "movies**", "a b", "é", "**"] {
        assert_eq!(IndexPattern::parse(bad), Err(InvalidIndexPattern(bad.to_owned())), "{bad}");
    }
    assert_eq!(
        InvalidIndexPattern("a b".into()).to_string(),
        "`a b` is not a valid index uid pattern. Index uid patterns can be an integer or a string containing only alphanumeric characters, hyphens (-), underscores (_), and optionally end with a star (*)."
    );
    assert!(IndexPattern::parse(&"a".repeat(400)).is_ok());
    assert!(IndexPattern::parse(&"a".repeat(401)).is_err());
}

#[test]
fn matching() {
    let movies = IndexPattern::parse("movies*").unwrap();
    assert!(movies.matches("movies") && movies.matches("movies_fr") && !movies.matches("movie"));
    assert!(!movies.is_exact() && !movies.matches_all());
    assert!(IndexPattern::all().matches("anything") && IndexPattern::all().matches_all());
    assert!(IndexPattern::parse("books").unwrap().is_exact());
}

proptest! {
    #[test]
    fn matching_agrees_with_reference(pattern in "[a-c]{0,3}\\*?", uid in "[a-c]{0,4}") {
        prop_assume!(!pattern.is_empty());
        let parsed = IndexPattern::new_unchecked(pattern.clone());
        prop_assert_eq!(parsed.matches(&uid), reference_matches(&pattern, &uid));
    }

    #[test]
    fn valid_patterns_are_uids_with_optional_star(raw in "[a-zA-Z0-9_ *.-]{0,6}") {
        let body = raw.strip_suffix('*').unwrap_or(&raw);
        let expected = raw == "*" || (!body.is_empty() && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        prop_assert_eq!(IndexPattern::parse(&raw).is_ok(), expected);
    }
}

//! Meilisearch's parser expectations, replayed: `testdata/parses.jsonl` holds filters with the
//! tree Meilisearch's parser builds (in its debug notation), `testdata/syntax_errors.jsonl`
//! filters with the exact error message it gives (trailing spaces of lines are not
//! significant there).

use crate::filter::{parse, Condition, Filter, SyntaxErrorKind, Token, VectorFilter};

fn cases(file: &str) -> Vec<serde_json::Value> {
    let cases: Vec<serde_json::Value> = file.lines().map(|line| serde_json::from_str(line).expect("fixture line is JSON")).collect();
    assert!(cases.len() > 60, "fixture unexpectedly small");
    cases
}

/// Meilisearch's debug notation of a tree: `{token}`, `AND[a, b, ]`, `NOT (x)`, …
fn meili_tree(filter: &Filter) -> String {
    let t = |token: &Token| format!("{{{}}}", token.value());
    let list = |name: &str, children: &[Filter]| {
        let inner: String = children.iter().map(|c| format!("{}, ", meili_tree(c))).collect();
        format!("{name}[{inner}]")
    };
    match filter {
        Filter::Not(inner) => format!("NOT ({})", meili_tree(inner)),
        Filter::Condition { field, op } => {
            let op = match op {
                Condition::GreaterThan(v) => format!("> {}", t(v)),
                Condition::GreaterThanOrEqual(v) => format!(">= {}", t(v)),
                Condition::Equal(v) => format!("= {}", t(v)),
                Condition::NotEqual(v) => format!("!= {}", t(v)),
                Condition::LowerThan(v) => format!("< {}", t(v)),
                Condition::LowerThanOrEqual(v) => format!("<= {}", t(v)),
                Condition::Between { from, to } => format!("{} TO {}", t(from), t(to)),
                Condition::Exists => "EXISTS".to_owned(),
                Condition::Null => "IS NULL".to_owned(),
                Condition::Empty => "IS EMPTY".to_owned(),
                Condition::Contains(v) => format!("CONTAINS {}", t(v)),
                Condition::StartsWith(v) => format!("STARTS WITH {}", t(v)),
            };
            format!("{} {op}", t(field))
        }
        Filter::In { field, values } => {
            let inner: String = values.iter().map(|v| format!("{}, ", t(v))).collect();
            format!("{} IN[{inner}]", t(field))
        }
        Filter::Or(children) => list("OR", children),
        Filter::And(children) => list("AND", children),
        Filter::VectorExists { embedder, filter } => {
            let mut out = "_vectors".to_owned();
            if let Some(embedder) = embedder {
                out.push_str(&format!(".{:?}", embedder.value()));
            }
            match filter {
                VectorFilter::Fragment(f) => out.push_str(&format!(".fragments.{:?}", f.value())),
                VectorFilter::DocumentTemplate => out.push_str(".documentTemplate"),
                VectorFilter::UserProvided => out.push_str(".userProvided"),
                VectorFilter::Regenerate => out.push_str(".regenerate"),
                VectorFilter::None => {}
            }
            out + " EXISTS"
        }
        Filter::GeoRadius { lat, lng, radius, resolution } => match resolution {
            None => format!("_geoRadius({}, {}, {})", t(lat), t(lng), t(radius)),
            Some(r) => format!("_geoRadius({}, {}, {}, {})", t(lat), t(lng), t(radius), t(r)),
        },
        Filter::GeoBoundingBox { top_right, bottom_left } => {
            format!("_geoBoundingBox([{}, {}], [{}, {}])", t(&top_right[0]), t(&top_right[1]), t(&bottom_left[0]), t(&bottom_left[1]))
        }
        Filter::GeoPolygon { points } => {
            let inner: String = points.iter().map(|[a, b]| format!("[{}, {}], ", t(a), t(b))).collect();
            format!("_geoPolygon([{inner}])")
        }
        Filter::Foreign { field, filter } => {
            format!("_foreign({}, {})", t(field), meili_tree(filter))
        }
    }
}

fn trim_lines(s: &str) -> String {
    s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

#[test]
fn builds_the_same_trees_as_meilisearch() {
    let mut failures = Vec::new();
    for case in cases(include_str!("../testdata/parses.jsonl")) {
        let input = case["filter"].as_str().unwrap();
        let expected = case["tree"].as_str().unwrap();
        match parse(input) {
            Ok(Some(filter)) if meili_tree(&filter) == expected => {}
            Ok(Some(filter)) => failures.push(format!("{input:?}: got {}, want {expected}", meili_tree(&filter))),
            other => failures.push(format!("{input:?}: got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn refuses_with_meilisearch_messages() {
    let mut failures = Vec::new();
    for case in cases(include_str!("../testdata/syntax_errors.jsonl")) {
        let input = case["filter"].as_str().unwrap();
        let expected = case["message"].as_str().unwrap();
        match parse(input) {
            Err(e) if trim_lines(&e.message) == trim_lines(expected) => {}
            Err(e) => failures.push(format!("{input:?}:\n  got  {:?}\n  want {expected:?}", e.message)),
            Ok(f) => failures.push(format!("{input:?}: parsed as {f:?}")),
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_transcript_invalid_filter_message_is_exact() {
    // "search invalid filter" exchange of the 1.50 transcript, byte for byte.
    let error = parse("section = ").unwrap_err();
    assert_eq!(error.message, "Was expecting a value but instead got nothing.\n11:11 section = ");
    assert_eq!(error.kind, SyntaxErrorKind::ExpectedValue { reserved_keyword: false });
}

#[test]
fn blank_input_is_no_filter() {
    assert_eq!(parse("").unwrap(), None);
    assert_eq!(parse(" \n\t ").unwrap(), None);
}

#[test]
fn keyword_tags_are_prefixes_like_meilisearch() {
    // `IS NULL` is matched as text, so `NULLABLE` leaves `ABLE` behind.
    let error = parse("x IS NULLABLE").unwrap_err();
    assert_eq!(error.kind, SyntaxErrorKind::ExpectedEof);
    assert!(error.message.starts_with("Found unexpected characters at the end of the filter: `ABLE`."));
}

#[test]
fn tokens_keep_their_place_for_later_errors() {
    let filter = parse("a = 1 AND version = '1'").unwrap().unwrap();
    let fields = filter.fields_in_check_order();
    assert_eq!(fields.iter().map(|t| t.value()).collect::<Vec<_>>(), ["version", "a"]);
    assert_eq!(
        fields[0].error_message("Attribute `version` is not filterable."),
        "Attribute `version` is not filterable.\n11:18 a = 1 AND version = '1'"
    );
}

#[test]
fn display_is_meilisearch_serialization() {
    let filter = parse("version = 1").unwrap().unwrap();
    assert_eq!(filter.to_string(), r#""version" = "1""#);
    // Meilisearch reports a non-filterable attribute of a search at `2:9` of this text.
    let reparsed = parse(&filter.to_string()).unwrap().unwrap();
    assert_eq!(reparsed.fields_in_check_order()[0].error_message("x"), "x\n2:9 \"version\" = \"1\"");
}

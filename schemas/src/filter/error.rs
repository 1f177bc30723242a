//! Filter errors, worded exactly as Meilisearch words them.
//!
//! A syntax error message is a diagnostic line followed by `start:end filter`, where
//! `start`/`end` are 1-based character columns of the offending text and `filter` is the text
//! being parsed (for errors inside `_foreign(…)`, the text from `_foreign` on).

use crate::error::{Code, ResponseError};

/// Why a filter string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxErrorKind {
    ExpectedValue {
        reserved_keyword: bool,
    },
    MalformedValue,
    MissingClosingDelimiter(char),
    InvalidPrimary,
    InvalidEscapedNumber,
    ExpectedEof,
    Incomplete,
    GeoRadius,
    GeoRadiusArgumentCount(usize),
    GeoBoundingBox,
    GeoPolygon,
    GeoPolygonNotEnoughPoints(usize),
    GeoCoordinatesNotPair(usize),
    ReservedGeo(&'static str),
    MisusedGeoRadius,
    MisusedGeoBoundingBox,
    VectorFilterLeftover,
    VectorFilterInvalidQuotes,
    VectorFilterMissingEmbedder,
    VectorFilterInvalidEmbedder,
    VectorFilterMissingFragment,
    VectorFilterInvalidFragment,
    VectorFilterUnknownSuffix {
        previous: Option<&'static str>,
        found: String,
    },
    VectorFilterOperation,
    InOpeningBracket,
    InClosingBracket,
    InExpectedValue,
    DepthLimitReached,
    Foreign,
    /// A low-level mismatch Meilisearch would report as an internal error; the grammar is
    /// built so these never reach the user, but they are worded like Meilisearch's anyway.
    Internal(&'static str),
    /// A specific character was expected (internal, like `Internal`).
    ExpectedChar(char),
}

/// A filter string Meilisearch would refuse, with its exact message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub kind: SyntaxErrorKind,
    pub message: String,
}

/// Why a `filter` request value is not a valid filter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("{}", .0.message)]
    Syntax(SyntaxError),
    /// The value (or an element of the array form) has the wrong JSON type.
    #[error("Invalid syntax for the filter parameter: `expected {}, found: {found}`.", .expected.join(", "))]
    InvalidType { expected: &'static [&'static str], found: serde_json::Value },
}

impl FilterError {
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The error object for the route's own filter code (`invalid_search_filter`,
    /// `invalid_document_filter`, …).
    pub fn to_response(&self, code: Code) -> ResponseError {
        ResponseError::new(code, self.message())
    }
}

/// `start:end text`: the second line of a filter error, with 1-based character columns
/// counted from the last line break before the offending text.
pub(crate) fn position_line(source: &str, start: usize, end: usize, extra_start: usize) -> String {
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..start].chars().count() + 1;
    let width = source[start..end].chars().count();
    format!("{column}:{} {}", column + width, &source[extra_start..])
}

/// Renders the full message of a syntax error found at `source[start..end]`.
pub(crate) fn render(kind: &SyntaxErrorKind, source: &str, start: usize, end: usize, extra_start: usize) -> String {
    let fragment = &source[start..end];
    let quoted = fragment.escape_debug().to_string();
    let first_line = match kind {
        SyntaxErrorKind::ExpectedValue { .. } if fragment.trim().is_empty() => {
            "Was expecting a value but instead got nothing.".to_owned()
        }
        SyntaxErrorKind::ExpectedValue { reserved_keyword: true } => format!(
            "Was expecting a value but instead got `{quoted}`, which is a reserved keyword. To use `{quoted}` as a field name or a value, surround it by quotes."
        ),
        SyntaxErrorKind::ExpectedValue { reserved_keyword: false } => {
            format!("Was expecting a value but instead got `{quoted}`.")
        }
        SyntaxErrorKind::MalformedValue => format!("Malformed value: `{quoted}`."),
        SyntaxErrorKind::MissingClosingDelimiter(c) => format!(
            "Expression `{quoted}` is missing the following closing delimiter: `{c}`."
        ),
        SyntaxErrorKind::InvalidPrimary => {
            let tail = if fragment.trim().is_empty() {
                "but instead got nothing.".to_owned()
            } else {
                format!("at `{quoted}`.")
            };
            format!("Was expecting an operation `=`, `!=`, `>=`, `>`, `<=`, `<`, `IN`, `NOT IN`, `TO`, `EXISTS`, `NOT EXISTS`, `IS NULL`, `IS NOT NULL`, `IS EMPTY`, `IS NOT EMPTY`, `CONTAINS`, `NOT CONTAINS`, `STARTS WITH`, `NOT STARTS WITH`, `_geoRadius`, `_geoBoundingBox` or `_geoPolygon` {tail}")
        }
        SyntaxErrorKind::InvalidEscapedNumber => {
            format!("Found an invalid escaped sequence number: `{quoted}`.")
        }
        SyntaxErrorKind::ExpectedEof => format!(
            "Found unexpected characters at the end of the filter: `{quoted}`. You probably forgot an `OR` or an `AND` rule."
        ),
        SyntaxErrorKind::Incomplete => {
            "The filter is incomplete and requires Unknown additional bytes to be parsed.".to_owned()
        }
        SyntaxErrorKind::GeoRadius => "The `_geoRadius` filter must be in the form: `_geoRadius(latitude, longitude, radius, optionalResolution)`.".to_owned(),
        SyntaxErrorKind::GeoRadiusArgumentCount(n) => {
            format!("Was expecting 3 or 4 arguments for `_geoRadius`, but instead found {n}.")
        }
        SyntaxErrorKind::GeoBoundingBox => "The `_geoBoundingBox` filter expects two pairs of arguments: `_geoBoundingBox([latitude, longitude], [latitude, longitude])`.".to_owned(),
        SyntaxErrorKind::GeoPolygon => "The `_geoPolygon` filter doesn't match the expected format: `_geoPolygon([latitude, longitude], [latitude, longitude])`.".to_owned(),
        SyntaxErrorKind::GeoPolygonNotEnoughPoints(n) => {
            format!("The `_geoPolygon` filter expects at least 3 points but only {n} were specified")
        }
        SyntaxErrorKind::GeoCoordinatesNotPair(n) => {
            format!("Was expecting 2 coordinates but instead found {n}.")
        }
        SyntaxErrorKind::ReservedGeo(name) => format!(
            "`{}` is a reserved keyword and thus can't be used as a filter expression. Use the `_geoRadius(latitude, longitude, distance)` or `_geoBoundingBox([latitude, longitude], [latitude, longitude])` built-in rules to filter on `_geo` coordinates.",
            name.escape_debug()
        ),
        SyntaxErrorKind::MisusedGeoRadius => {
            "The `_geoRadius` filter is an operation and can't be used as a value.".to_owned()
        }
        SyntaxErrorKind::MisusedGeoBoundingBox => {
            "The `_geoBoundingBox` filter is an operation and can't be used as a value.".to_owned()
        }
        SyntaxErrorKind::VectorFilterLeftover => "The vector filter has leftover tokens.".to_owned(),
        SyntaxErrorKind::VectorFilterUnknownSuffix { found, .. } if found == "." => "Was expecting one of `.fragments`, `.userProvided`, `.documentTemplate`, `.regenerate` or nothing, but instead found a point without a valid value.".to_owned(),
        SyntaxErrorKind::VectorFilterUnknownSuffix { previous: None, found }
            if VECTOR_SUFFIXES.contains(&found.as_str()) =>
        {
            "Was expecting this part to be unquoted.".to_owned()
        }
        SyntaxErrorKind::VectorFilterUnknownSuffix { previous: None, found } => {
            match VECTOR_SUFFIXES.iter().find(|s| within_two_edits(found, s)) {
                Some(suggestion) => format!("Was expecting one of `fragments`, `userProvided`, `documentTemplate`, `regenerate` or nothing, but instead found `{found}`. Did you mean `{suggestion}`?"),
                None => format!("Was expecting one of `fragments`, `userProvided`, `documentTemplate`, `regenerate` or nothing, but instead found `{found}`."),
            }
        }
        SyntaxErrorKind::VectorFilterUnknownSuffix { previous: Some(previous), found } => format!(
            "Vector filter can only accept one of `fragments`, `userProvided`, `documentTemplate` or `regenerate`, but found both `{previous}` and `{found}`."
        ),
        SyntaxErrorKind::VectorFilterInvalidFragment => {
            "The vector filter's fragment name is invalid.".to_owned()
        }
        SyntaxErrorKind::VectorFilterMissingFragment => {
            "The vector filter is missing a fragment name.".to_owned()
        }
        SyntaxErrorKind::VectorFilterMissingEmbedder => {
            "Was expecting embedder name but found nothing.".to_owned()
        }
        SyntaxErrorKind::VectorFilterInvalidEmbedder => {
            "The vector filter's embedder name is invalid.".to_owned()
        }
        SyntaxErrorKind::VectorFilterOperation => {
            "Was expecting an operation like `EXISTS` or `NOT EXISTS` after the vector filter.".to_owned()
        }
        SyntaxErrorKind::VectorFilterInvalidQuotes => {
            "The quotes in one of the values are inconsistent.".to_owned()
        }
        SyntaxErrorKind::InOpeningBracket => "Expected `[` after `IN` keyword.".to_owned(),
        SyntaxErrorKind::InClosingBracket => {
            "Expected matching `]` after the list of field names given to `IN[`".to_owned()
        }
        SyntaxErrorKind::InExpectedValue => format!(
            "Expected only comma-separated field names inside `IN[..]` but instead found `{quoted}`."
        ),
        SyntaxErrorKind::DepthLimitReached => "The filter exceeded the maximum depth limit. Try rewriting the filter so that it contains fewer nested conditions.".to_owned(),
        SyntaxErrorKind::Foreign => format!(
            "Was expecting a field name and an condition inside `_foreign(..)` filter but instead found `{quoted}`."
        ),
        SyntaxErrorKind::ExpectedChar(_) => "Encountered an internal `Char` error while parsing your filter. Please fill an issue".to_owned(),
        SyntaxErrorKind::Internal(kind) => format!(
            "Encountered an internal `{kind}` error while parsing your filter. Please fill an issue"
        ),
    };
    format!("{first_line}\n{}", position_line(source, start, end, extra_start))
}

const VECTOR_SUFFIXES: [&str; 4] = ["fragments", "userProvided", "documentTemplate", "regenerate"];

/// Whether `a` turns into `b` with at most two insertions, deletions, substitutions or swaps
/// of adjacent characters (the typo tolerance of Meilisearch's suggestion).
fn within_two_edits(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 {
        return false;
    }
    // Optimal string alignment distance, full table (the words are short).
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()] <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_from_the_last_line_break() {
        assert_eq!(position_line("ab = 🦀", 5, 9, 0), "6:7 ab = 🦀");
        assert_eq!(position_line("a\nbc = x", 2, 4, 0), "1:3 a\nbc = x");
    }

    #[test]
    fn suggestion_tolerates_two_typos_and_swaps() {
        assert!(within_two_edits("fargments", "fragments"));
        assert!(within_two_edits("userprovidd", "userProvided"));
        assert!(!within_two_edits("test", "fragments"));
    }
}

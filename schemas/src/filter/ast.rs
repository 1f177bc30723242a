//! The filter syntax tree, and its serialization back to a filter string.
//!
//! The shape follows Meilisearch's own tree (`NOT IN` is `Not(In)`, `IS NOT NULL` is
//! `Not(Null)`, `NOT EXISTS` is `Not(Exists)`), so anything computed on it — which fields are
//! used, what a document matches — lines up with what a node computes.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

/// Where a token was written: a byte range of the filter string it came from.
#[derive(Debug, Clone)]
pub struct TokenSpan {
    pub source: Arc<str>,
    pub start: usize,
    pub end: usize,
}

/// One value, field name or number as written in a filter, after unescaping.
///
/// Two tokens are equal when their values are equal: where they were written does not matter.
#[derive(Debug, Clone)]
pub struct Token {
    value: String,
    span: Option<TokenSpan>,
}

impl Token {
    /// A token that was not parsed from a filter string (tests, generated filters).
    pub fn new(value: impl Into<String>) -> Self {
        Token { value: value.into(), span: None }
    }

    pub(crate) fn parsed(value: String, span: TokenSpan) -> Self {
        Token { value, span: Some(span) }
    }

    /// The unescaped value.
    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn span(&self) -> Option<&TokenSpan> {
        self.span.as_ref()
    }

    /// The text as written (before unescaping), when the token was parsed.
    pub fn original(&self) -> &str {
        match &self.span {
            Some(span) => &span.source[span.start..span.end],
            None => &self.value,
        }
    }

    /// Meilisearch's rendering of an error about this token (an attribute that is not
    /// filterable, a bad latitude, …): the message, then `start:end filter` on a second line.
    pub fn error_message(&self, message: &str) -> String {
        match &self.span {
            Some(span) => format!("{message}\n{}", super::error::position_line(&span.source, span.start, span.end, 0)),
            None => {
                let chars = self.value.chars().count();
                format!("{message}\n1:{} {}", 1 + chars, self.value)
            }
        }
    }

    /// The value as a JSON string literal, which is how Meilisearch writes a token back.
    fn escaped(&self) -> String {
        serde_json::to_string(&self.value).expect("a string always serializes")
    }

    /// The value as a finite float, the way Meilisearch reads numbers in filters.
    pub fn finite_float(&self) -> Option<f64> {
        self.value.parse::<f64>().ok().filter(|n| n.is_finite())
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Token {}

/// The operator of a condition on one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    GreaterThan(Token),
    GreaterThanOrEqual(Token),
    Equal(Token),
    NotEqual(Token),
    LowerThan(Token),
    LowerThanOrEqual(Token),
    Between { from: Token, to: Token },
    Exists,
    Null,
    Empty,
    Contains(Token),
    StartsWith(Token),
}

impl Condition {
    /// The operator as Meilisearch names it in its messages.
    pub fn operator(&self) -> &'static str {
        match self {
            Condition::GreaterThan(_) => ">",
            Condition::GreaterThanOrEqual(_) => ">=",
            Condition::Equal(_) => "=",
            Condition::NotEqual(_) => "!=",
            Condition::LowerThan(_) => "<",
            Condition::LowerThanOrEqual(_) => "<=",
            Condition::Between { .. } => "TO",
            Condition::Exists => "EXISTS",
            Condition::Null => "IS NULL",
            Condition::Empty => "IS EMPTY",
            Condition::Contains(_) => "CONTAINS",
            Condition::StartsWith(_) => "STARTS WITH",
        }
    }
}

/// Which part of an embedder's vectors a `_vectors… EXISTS` filter looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorFilter {
    Fragment(Token),
    DocumentTemplate,
    UserProvided,
    Regenerate,
    None,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Not(Box<Filter>),
    Condition { field: Token, op: Condition },
    In { field: Token, values: Vec<Token> },
    Or(Vec<Filter>),
    And(Vec<Filter>),
    VectorExists { embedder: Option<Token>, filter: VectorFilter },
    GeoRadius { lat: Token, lng: Token, radius: Token, resolution: Option<Token> },
    GeoBoundingBox { top_right: [Token; 2], bottom_left: [Token; 2] },
    GeoPolygon { points: Vec<[Token; 2]> },
    Foreign { field: Token, filter: Box<Filter> },
}

impl Filter {
    /// The field tokens of conditions, in the order Meilisearch checks them for
    /// filterability (so the first one it would report is the first one here).
    ///
    /// Meilisearch walks the tree with a stack, pushing the children of `AND`/`OR` in order and
    /// popping the last pushed first; geo, vector and foreign filters carry no field here
    /// (a foreign filter yields its own field only).
    pub fn fields_in_check_order(&self) -> Vec<&Token> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(current) = stack.pop() {
            match current {
                Filter::Condition { field, .. } | Filter::In { field, .. } => out.push(field),
                Filter::Foreign { field, .. } => out.push(field),
                Filter::Not(inner) => stack.push(inner),
                Filter::And(children) | Filter::Or(children) => stack.extend(children.iter()),
                Filter::VectorExists { .. } | Filter::GeoRadius { .. } | Filter::GeoBoundingBox { .. } | Filter::GeoPolygon { .. } => {}
            }
        }
        out
    }

    /// Every attribute a condition of this filter reads (geo filters read `_geo`, which is
    /// reported separately by [`Filter::uses_geo`]).
    pub fn attributes(&self) -> BTreeSet<String> {
        self.fields_in_check_order().into_iter().map(|t| t.value().to_owned()).collect()
    }

    /// Whether any part of the filter is a `_geoRadius`, `_geoBoundingBox` or `_geoPolygon`.
    pub fn uses_geo(&self) -> bool {
        match self {
            Filter::GeoRadius { .. } | Filter::GeoBoundingBox { .. } | Filter::GeoPolygon { .. } => true,
            Filter::Not(inner) | Filter::Foreign { filter: inner, .. } => inner.uses_geo(),
            Filter::And(children) | Filter::Or(children) => children.iter().any(Filter::uses_geo),
            Filter::Condition { .. } | Filter::In { .. } | Filter::VectorExists { .. } => false,
        }
    }
}

/// Writes the filter the way Meilisearch serializes one: every field and value as a JSON
/// string, every operand of `AND`/`OR` and `NOT` in parentheses. The output parses back to an
/// equal filter.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Not(inner) => write!(f, "NOT ({inner})"),
            Filter::Condition { field, op } => write!(f, "{} {op}", field.escaped()),
            Filter::In { field, values } => {
                write!(f, "{} IN [", field.escaped())?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(&value.escaped())?;
                }
                f.write_str("]")
            }
            Filter::Or(children) => write_joined(f, children, " OR "),
            Filter::And(children) => write_joined(f, children, " AND "),
            Filter::VectorExists { embedder, filter } => {
                f.write_str("_vectors")?;
                if let Some(embedder) = embedder {
                    write!(f, ".{}", embedder.escaped())?;
                }
                match filter {
                    VectorFilter::Fragment(fragment) => write!(f, ".fragments.{}", fragment.escaped())?,
                    VectorFilter::DocumentTemplate => f.write_str(".documentTemplate")?,
                    VectorFilter::UserProvided => f.write_str(".userProvided")?,
                    VectorFilter::Regenerate => f.write_str(".regenerate")?,
                    VectorFilter::None => {}
                }
                f.write_str(" EXISTS")
            }
            Filter::GeoRadius { lat, lng, radius, resolution } => {
                write!(f, "_geoRadius({}, {}, {}", lat.original(), lng.original(), radius.original())?;
                if let Some(resolution) = resolution {
                    write!(f, ", {}", resolution.original())?;
                }
                f.write_str(")")
            }
            Filter::GeoBoundingBox { top_right, bottom_left } => write!(
                f,
                "_geoBoundingBox([{}, {}], [{}, {}])",
                top_right[0].original(),
                top_right[1].original(),
                bottom_left[0].original(),
                bottom_left[1].original()
            ),
            Filter::GeoPolygon { points } => {
                f.write_str("_geoPolygon(")?;
                for (i, [lat, lng]) in points.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "[{}, {}]", lat.original(), lng.original())?;
                }
                f.write_str(")")
            }
            Filter::Foreign { field, filter } => {
                write!(f, "_foreign({}, {filter})", field.escaped())
            }
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, children: &[Filter], separator: &str) -> fmt::Result {
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "({child})")?;
    }
    Ok(())
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::GreaterThan(t) => write!(f, "> {}", t.escaped()),
            Condition::GreaterThanOrEqual(t) => write!(f, ">= {}", t.escaped()),
            Condition::Equal(t) => write!(f, "= {}", t.escaped()),
            Condition::NotEqual(t) => write!(f, "!= {}", t.escaped()),
            Condition::LowerThan(t) => write!(f, "< {}", t.escaped()),
            Condition::LowerThanOrEqual(t) => write!(f, "<= {}", t.escaped()),
            Condition::Between { from, to } => write!(f, "{} TO {}", from.escaped(), to.escaped()),
            Condition::Exists => f.write_str("EXISTS"),
            Condition::Null => f.write_str("IS NULL"),
            Condition::Empty => f.write_str("IS EMPTY"),
            Condition::Contains(t) => write!(f, "CONTAINS {}", t.escaped()),
            Condition::StartsWith(t) => write!(f, "STARTS WITH {}", t.escaped()),
        }
    }
}

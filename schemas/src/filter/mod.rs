//! Meilisearch's filter language: parsing (with Meilisearch's exact error messages), the
//! syntax tree and its serialization, and primary-key planning for search fan-out. Filters
//! are evaluated by the nodes only; the tests hold an evaluator as the planner's oracle.
//!
//! ```
//! use miroir_schemas::filter::parse;
//! let filter = parse("genre = horror AND year > 2000").unwrap().unwrap();
//! assert_eq!(filter.to_string(), r#"("genre" = "horror") AND ("year" > "2000")"#);
//! ```

mod ast;
mod error;
mod facets;
mod geo;
mod json;
mod parser;
mod plan;
mod scan;
mod value;
mod vector;

#[cfg(test)]
mod tests;

pub use ast::{Condition, Filter, Token, TokenSpan, VectorFilter};
pub use error::{FilterError, SyntaxError, SyntaxErrorKind};
pub use facets::normalize_facet;
pub use json::parse_json;
pub use plan::primary_key_candidates;

/// Parses one filter string. Blank input is no filter (`Ok(None)`), as in Meilisearch.
pub fn parse(input: &str) -> Result<Option<Filter>, SyntaxError> {
    if input.trim().is_empty() {
        return Ok(None);
    }
    let parser = scan::Parser::new(input);
    parser.filter().map(Some).map_err(|fail| parser.finish(fail))
}

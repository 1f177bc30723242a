//! Tests of the filter module. `syntax` replays Meilisearch's own parse and error
//! expectations (recorded in `../testdata`), the others are property tests;
//! `oracle` evaluates a filter against a document, to check the planner with.

mod document_facets;
mod json;
mod oracle;
mod properties;
mod strategies;
mod syntax;

//! Tests of the filter module. `syntax` replays Meilisearch's own parse and error
//! expectations (recorded in `../testdata`), the others are property tests.

mod json;
mod properties;
mod strategies;
mod syntax;

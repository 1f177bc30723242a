//! Search planning and merging, pure: the HTTP layer plans a search with [`plan::SearchPlan`]
//! (or [`multi::FederatedPlan`] / [`multi::MultiSearchPlan`]), sends each chosen node the body of
//! its [`plan::NodeRequest`] with `Meili-Proxy-Search: true`, parses each answer with
//! [`node_answer::NodeAnswer::parse`], and merges them into the client's answer.

pub mod error;
pub mod explain;
pub mod facets;
pub mod hit_values;
pub mod kmerge;
pub mod multi;
pub mod node_answer;
pub mod plan;
pub mod score;
pub mod similar;
pub mod single;

pub use error::MergeError;
pub use node_answer::{NodeAnswer, NodeHit};
pub use plan::{IndexSearchSettings, MergeParams, NodeRequest, Pagination, QueryOrigin, SearchPlan};
pub use single::{distinct_refill, exhaustive_distinct_total, merge_search, search_response, settle, MergedSearch, NodeResult, Settled};

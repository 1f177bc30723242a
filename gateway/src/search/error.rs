//! The one error type of search planning and merging.

use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// A node's answer lacks a field the merge needs.
    #[error("Missing field `{0}` in the response of a node")]
    MissingPath(&'static str),
    /// A node's answer holds a field of the wrong type.
    #[error("Unexpected value at `{path}` in the response of a node: expected {expected}, found `{found}`")]
    UnexpectedValue { path: String, expected: &'static str, found: String },
    #[error("Could not parse `_federation.weightedScoreValues` in the response of a node: {0}")]
    BadScoreValues(String),
    /// A hit names a node query the gateway never sent.
    #[error("A node answered for query {0}, which the gateway did not send it")]
    UnknownNodeQuery(usize),
    /// A client parameter the planner reads has the wrong type (the HTTP layer validates
    /// requests first; this keeps the planner total).
    #[error("{message}")]
    InvalidParameter { code: Code, message: String },
    /// Two federated indexes order the same facet differently (`mergeFacets`).
    #[error("{0}")]
    InconsistentFacetOrder(String),
}

impl MergeError {
    pub(crate) fn missing(path: &'static str) -> Self {
        MergeError::MissingPath(path)
    }

    pub(crate) fn bad_answer(path: &str, expected: &'static str, found: &Value) -> Self {
        MergeError::UnexpectedValue { path: path.to_owned(), expected, found: found.to_string() }
    }

    /// The error object the client gets: a broken node answer is a `502 remote_bad_response`,
    /// as Meilisearch answers for a broken remote; a bad parameter keeps its own code.
    pub fn response_error(&self) -> ResponseError {
        match self {
            MergeError::InvalidParameter { code, message } => ResponseError::new(*code, message.clone()),
            MergeError::InconsistentFacetOrder(message) => ResponseError::new(Code::InvalidMultiSearchFacetOrder, message.clone()),
            other => ResponseError::new(Code::RemoteBadResponse, other.to_string()),
        }
    }
}

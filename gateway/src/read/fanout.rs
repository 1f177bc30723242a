//! The outcome types of one fan-out: which node answered for which shards, and how a node
//! call can fail.

use miroir_clients::node::NodeError;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::topology::ShardId;

/// Why one node call did not give a usable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The node refused the request for a reason that is the user's (invalid filter, unknown
    /// index…): every replica would say the same, so it goes to the client (already rewritten).
    User(ResponseError),
    /// The node has no such index. Another replica may have it (this node came back empty and
    /// is being rebuilt): ask it, without benching this node; when every replica says so, the
    /// index is gone and the error goes to the client.
    Missing(ResponseError),
    /// The node is down, slow, overloaded or answered nonsense: bench it and ask another replica.
    Node(String),
}

impl Failure {
    /// Sorts a node client error. 4xx answers are the user's, except 401/403, which mean the
    /// node refused Miroir's key (an operator problem another replica may not have).
    /// `rewrite` turns a node error object into the client's.
    pub fn from_node_error(error: NodeError, rewrite: impl FnOnce(&ResponseError) -> ResponseError) -> Failure {
        match &error {
            NodeError::Meilisearch { error: object, .. } if object.known_code() == Some(Code::IndexNotFound) => {
                Failure::Missing(rewrite(object))
            }
            NodeError::Meilisearch { error: object, .. }
                if (400..500).contains(&object.http_status) && !matches!(object.http_status, 401 | 403) =>
            {
                Failure::User(rewrite(object))
            }
            _ => Failure::Node(with_sources(&error)),
        }
    }
}

/// An error and its causes, `: `-separated (transport errors hide the useful part in sources).
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One node's usable answer for `shards`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered<T> {
    pub node: usize,
    pub shards: Vec<ShardId>,
    pub value: T,
}

/// Everything a fan-out gathered. `missing` is non-empty only when partial answers are allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered<T> {
    pub answers: Vec<Answered<T>>,
    pub missing: Vec<ShardId>,
}

impl<T> Gathered<T> {
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.answers.iter().map(|answered| &answered.value)
    }
}

//! The one error type of the read path, and how each variant reaches a client.

use crate::error::GatewayError;
use crate::search::MergeError;
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::topology::ShardId;

/// The `code` of the answer given when a shard has no reachable replica. Miroir's own code in
/// Meilisearch's error shape: SDKs surface unknown codes as they are.
pub const SHARD_UNAVAILABLE_CODE: &str = "shard_unavailable";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    /// An error Meilisearch answers (bad parameter, invalid filter, unknown index, missing
    /// document…), node index names already rewritten to the client's.
    #[error("{0}")]
    User(ResponseError),
    /// Every replica of these shards failed or is out of reach within the deadline.
    #[error("shards {shards:?} of `{index}` have no reachable replica")]
    ShardsUnavailable { index: String, shards: Vec<ShardId> },
    /// Merging the node answers failed on the client's parameters (e.g. inconsistent facet order).
    #[error("{0}")]
    Merge(MergeError),
    /// A bug or an unexpected state inside Miroir.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ReadError {
    /// The Meilisearch-shaped error object and status this error is answered with. Never holds
    /// a node address, key or node index name.
    pub fn response_error(&self) -> ResponseError {
        match self {
            ReadError::User(error) => error.clone(),
            ReadError::ShardsUnavailable { index, shards } => shard_unavailable(index, shards),
            ReadError::Merge(error) => error.response_error(),
            ReadError::Internal(reason) => ResponseError::new(Code::Internal, reason.clone()),
        }
    }

    pub fn user(code: Code, message: impl Into<String>) -> ReadError {
        ReadError::User(ResponseError::new(code, message))
    }
}

fn shard_unavailable(index: &str, shards: &[ShardId]) -> ResponseError {
    let names: Vec<String> = shards.iter().map(|shard| format!("`{shard}`")).collect();
    let (noun, verb) = if shards.len() == 1 { ("Shard", "has") } else { ("Shards", "have") };
    ResponseError {
        message: format!(
            "{noun} {} of index `{index}` {verb} no reachable replica, so the request could not be answered completely. Retry later.",
            names.join(", ")
        ),
        code: SHARD_UNAVAILABLE_CODE.to_owned(),
        error_type: "system".to_owned(),
        link: format!("https://docs.meilisearch.com/errors#{SHARD_UNAVAILABLE_CODE}"),
        http_status: 503,
    }
}

impl From<MergeError> for ReadError {
    fn from(error: MergeError) -> Self {
        ReadError::Merge(error)
    }
}

impl From<ReadError> for GatewayError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Internal(reason) => GatewayError::Internal(reason),
            other => GatewayError::Meili(other.response_error()),
        }
    }
}

impl axum::response::IntoResponse for ReadError {
    fn into_response(self) -> axum::response::Response {
        GatewayError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_shards_are_a_503_without_node_details() {
        let error = ReadError::ShardsUnavailable { index: "movies".into(), shards: vec![ShardId(1), ShardId(4)] };
        let object = error.response_error();
        assert_eq!(object.http_status, 503);
        assert_eq!(object.code, "shard_unavailable");
        assert_eq!(object.error_type, "system");
        assert_eq!(
            object.message,
            "Shards `shard-1`, `shard-4` of index `movies` have no reachable replica, so the request could not be answered completely. Retry later."
        );
        let body = serde_json::to_value(&object).unwrap();
        assert_eq!(body.as_object().unwrap().keys().collect::<Vec<_>>(), ["message", "code", "type", "link"]);
    }
}

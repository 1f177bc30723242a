//! Errors of the node client.

use miroir_schemas::error::ResponseError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node answered with a Meilisearch error object; kept intact (it becomes a task error
    /// verbatim). `error.http_status` is the status the node answered with.
    #[error("node `{node}` answered {}: {error}", error.http_status)]
    Meilisearch { node: String, error: ResponseError },
    /// The node answered with a status and body that is not a Meilisearch error object.
    #[error("node `{node}` answered {status} with an unexpected body: {body}")]
    UnexpectedResponse { node: String, status: u16, body: String },
    /// The request did not complete within the client's timeout.
    #[error("node `{node}` did not answer in time")]
    Timeout { node: String },
    /// Connection refused/reset, DNS, TLS, … The URL is stripped from the source so
    /// credentials in it never reach a log.
    #[error("node `{node}` is unreachable: {source}")]
    Transport {
        node: String,
        connect: bool,
        #[source]
        source: reqwest::Error,
    },
    /// `wait_for_task` gave up before the task reached a terminal status.
    #[error("node `{node}`: task {task_uid} did not finish within {waited:?}")]
    TaskWaitTimeout { node: String, task_uid: u64, waited: Duration },
    /// The node numbered a new task below one it numbered before: it lost its database (a disk
    /// replaced, a restart without its volume), and every replica it holds must be rebuilt.
    #[error("node `{node}` lost its data: it numbered a new task {task_uid}, below task {seen} seen before")]
    Reset { node: String, task_uid: u64, seen: u64 },
}

impl NodeError {
    /// True when the node could not be reached or did not answer: the node may be down, as
    /// opposed to having refused the request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, NodeError::Timeout { .. } | NodeError::Transport { .. })
    }

    /// True when the request surely never reached the node, so resending cannot apply it twice.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, NodeError::Transport { connect: true, .. })
    }

    pub(crate) fn from_reqwest(node: &str, err: reqwest::Error) -> NodeError {
        let node = node.to_owned();
        if err.is_timeout() {
            NodeError::Timeout { node }
        } else {
            NodeError::Transport { node, connect: err.is_connect(), source: err.without_url() }
        }
    }

    /// Turns a non-2xx answer into an error, keeping the node's error object when it sent one.
    pub(crate) fn from_body(node: &str, status: u16, body: &[u8]) -> NodeError {
        match serde_json::from_slice::<ResponseError>(body) {
            Ok(error) => NodeError::Meilisearch { node: node.to_owned(), error: error.with_http_status(status) },
            Err(_) => NodeError::UnexpectedResponse {
                node: node.to_owned(),
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_node_error_object_and_status() {
        let body = br#"{"message":"Index `x` not found.","code":"index_not_found","type":"invalid_request","link":"https://docs.meilisearch.com/errors#index_not_found"}"#;
        let err = NodeError::from_body("n1", 404, body);
        let NodeError::Meilisearch { error: obj, .. } = &err else { panic!("a Meilisearch error: {err:?}") };
        assert_eq!(obj.code, "index_not_found");
        assert_eq!(obj.message, "Index `x` not found.");
        assert_eq!(obj.http_status, 404);
        assert!(!err.is_unavailable());
        assert_eq!(serde_json::to_value(obj).unwrap(), serde_json::from_slice::<serde_json::Value>(body).unwrap());
    }

    #[test]
    fn other_bodies_are_unexpected() {
        let err = NodeError::from_body("n1", 502, b"<html>bad gateway</html>");
        assert!(matches!(err, NodeError::UnexpectedResponse { status: 502, .. }));
    }
}

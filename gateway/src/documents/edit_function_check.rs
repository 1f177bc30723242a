//! Whether a document edition function compiles, answered by a node: Meilisearch compiles it
//! with its Rhai engine before enqueuing (`400 bad_request` with Rhai's message otherwise), and
//! the gateway does not link Rhai (its `smartstring` dependency adds `Add` impls to `String`
//! that break type inference elsewhere in the crate). So the function is sent to a node with a
//! `context` that is not an object: a node refuses the context only after the function compiled,
//! and enqueues nothing either way.

use miroir_clients::node::{NodeClient, NodeClientConfig, NodeError};
use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::topology::Node;
use reqwest::Method;
use serde_json::json;

use crate::error::GatewayError;

/// Any valid index uid: the node compiles the function before looking at the index.
const PROBE_INDEX: &str = "miroir-edit-probe";

/// What a node's answer to the probe says about the function.
pub fn verdict(answer: Result<(), NodeError>) -> Option<Result<(), ResponseError>> {
    match answer {
        Err(NodeError::Meilisearch { error, .. }) if error.code == Code::InvalidDocumentEditionContext.name() => Some(Ok(())),
        Err(NodeError::Meilisearch { error, .. }) if error.code == Code::BadRequest.name() => Some(Err(error)),
        _ => None,
    }
}

async fn ask(node: &Node, function: &str) -> Result<(), NodeError> {
    let client = NodeClient::new(NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone()))?;
    let path = format!("/indexes/{PROBE_INDEX}/documents/edit");
    let body = json!({"function": function, "context": 0});
    let first = client.request_json(Method::POST, &path, &[], Some(&body)).await.map(|_| ());
    if let Err(NodeError::Meilisearch { error, .. }) = &first {
        if error.code == Code::FeatureNotEnabled.name() {
            client.request_json(Method::PATCH, "/experimental-features", &[], Some(&json!({"editDocumentsByFunction": true}))).await?;
            return client.request_json(Method::POST, &path, &[], Some(&body)).await.map(|_| ());
        }
    }
    first
}

/// `Ok` when the function compiles, the node's `400` when it does not; `503` when no node
/// could say.
pub async fn check_compiles(nodes: &[Node], function: &str) -> Result<(), GatewayError> {
    for node in nodes {
        match verdict(ask(node, function).await) {
            Some(Ok(())) => return Ok(()),
            Some(Err(error)) => return Err(error.into()),
            None => tracing::warn!(node = %node.id, "a node could not check a document edition function"),
        }
    }
    Err(GatewayError::meili(Code::Internal, "No Meilisearch node could check the function; try again."))
}

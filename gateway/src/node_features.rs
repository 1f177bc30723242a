//! Node preparation. A Meilisearch node adds `_federation.weightedScoreValues` to the hits of a
//! proxied federated search (which the merge needs) only when its `network` experimental
//! feature is on, and runs document editions only with `editDocumentsByFunction` on (the
//! cluster serves them), so the gateway turns both on on every node; doing it again is harmless.

use std::time::Duration;

use miroir_clients::node::{NodeClient, NodeClientConfig, NodeError};
use miroir_schemas::topology::{Node, Topology};
use reqwest::Method;
use serde_json::json;

const RETRY: Duration = Duration::from_secs(2);

async fn enable_network(node: &Node) -> Result<(), NodeError> {
    let client = NodeClient::new(NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone()))?;
    client
        .request_json(Method::PATCH, "/experimental-features", &[], Some(&json!({"network": true, "editDocumentsByFunction": true})))
        .await?;
    Ok(())
}

/// Enables the `network` feature on every node, retrying unreachable nodes until each has
/// accepted it (a node started later is covered when it comes up).
pub async fn enable_network_feature(topology: Topology) {
    futures::future::join_all(topology.nodes.into_iter().map(enable_network_feature_on)).await;
}

/// Enables the `network` feature on `node`, retrying until it has accepted it (a node added
/// by a topology change is covered once it answers).
pub async fn enable_network_feature_on(node: Node) {
    while let Err(error) = enable_network(&node).await {
        tracing::warn!(node = %node.id, %error, "cannot enable the network feature yet");
        tokio::time::sleep(RETRY).await;
    }
    tracing::info!(node = %node.id, "network feature enabled");
}

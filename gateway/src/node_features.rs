//! Node preparation. A Meilisearch node adds `_federation.weightedScoreValues` to the hits of a
//! proxied federated search (which the merge needs) only when its `network` experimental
//! feature is on, so the gateway turns it on on every node; doing it again is harmless.

use std::time::Duration;

use miroir_clients::node::{NodeClient, NodeClientConfig, NodeError};
use miroir_schemas::topology::{Node, Topology};
use reqwest::Method;
use serde_json::json;

const RETRY: Duration = Duration::from_secs(2);

async fn enable_network(node: &Node) -> Result<(), NodeError> {
    let client = NodeClient::new(NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone()))?;
    client.request_json(Method::PATCH, "/experimental-features", &[], Some(&json!({"network": true}))).await?;
    Ok(())
}

/// Enables the `network` feature on every node, retrying unreachable nodes until each has
/// accepted it (a node started later is covered when it comes up).
pub async fn enable_network_feature(topology: Topology) {
    let mut pending: Vec<Node> = topology.nodes;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for node in pending {
            match enable_network(&node).await {
                Ok(()) => tracing::info!(node = %node.id, "network feature enabled"),
                Err(error) => {
                    tracing::warn!(node = %node.id, %error, "cannot enable the network feature yet");
                    still.push(node);
                }
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(RETRY).await;
        }
    }
}

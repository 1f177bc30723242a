//! The read path's only I/O: one call to one node. Behind a trait so the fan-out, failover and
//! error mapping can be tested against in-process fake nodes.

use async_trait::async_trait;
use miroir_clients::node::{NodeClient, NodeClientConfig, NodeError};
use miroir_schemas::topology::{Node, Topology};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::Value;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// The header that makes a node answer a federated search as a proxy target
/// (`_federation.weightedScoreValues` on every hit).
pub const PROXY_SEARCH_HEADER: &str = "meili-proxy-search";

/// One request to one node, named by what it does.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeCall {
    /// `POST /multi-search` with `Meili-Proxy-Search: true`.
    ProxySearch { body: Value },
    /// `POST /indexes/{node_index}/facet-search`.
    FacetSearch { node_index: String, body: Value },
    /// `POST /indexes/{node_index}/documents/fetch`.
    FetchDocuments { node_index: String, body: Value },
    /// `GET /indexes/{node_index}/documents/{id}` with query parameters (`fields`, `retrieveVectors`).
    GetDocument { node_index: String, document_id: String, query: Vec<(String, String)> },
    /// `POST /indexes/{node_index}/search` (a plain search of one shard's index).
    Search { node_index: String, body: Value },
    /// `POST /indexes/{node_index}/similar`.
    Similar { node_index: String, body: Value },
    /// `GET /indexes/{node_index}/stats`.
    IndexStats { node_index: String },
    /// `POST /indexes/{node_index}/fields`.
    IndexFields { node_index: String, body: Value },
    /// `GET /stats`.
    Stats,
    /// `GET /indexes/{node_index}`.
    Index { node_index: String },
    /// `GET /indexes/{node_index}/settings`.
    Settings { node_index: String },
}

#[async_trait]
pub trait NodeTransport: Send + Sync + 'static {
    /// Number of nodes; nodes are addressed by their position in the topology.
    fn node_count(&self) -> usize;
    /// Sends `call` to node `node` and returns its 2xx JSON body.
    async fn call(&self, node: usize, call: &NodeCall) -> Result<Value, NodeError>;
    /// Makes `node` (added by a topology change) reachable at the next position, returned.
    /// A transport that cannot add nodes refuses, and reads pass the node over.
    fn add_node(&self, node: &Node) -> Result<usize, NodeError> {
        let reason = "this transport cannot reach nodes added after it started";
        Err(NodeError::UnexpectedResponse { node: node.id.clone(), status: 0, body: reason.into() })
    }
}

/// HTTP to real nodes, one pooled keep-alive client per node (`TCP_NODELAY` on, so small
/// requests are not held back on loopback).
#[derive(Debug)]
pub struct HttpTransport {
    clients: RwLock<Vec<Arc<NodeClient>>>,
    node_timeout: Duration,
}

fn node_client(node: &Node, node_timeout: Duration) -> Result<Arc<NodeClient>, NodeError> {
    let mut config = NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone());
    config.request_timeout = node_timeout;
    config.max_retries = 0;
    NodeClient::new(config).map(Arc::new)
}

impl HttpTransport {
    /// One client per node of `topology`, in topology order. `node_timeout` bounds one node
    /// exchange; the executor retries on other replicas itself, so the client does not retry.
    pub fn new(topology: &Topology, node_timeout: Duration) -> Result<HttpTransport, NodeError> {
        let clients = topology.nodes.iter().map(|node| node_client(node, node_timeout)).collect::<Result<_, _>>()?;
        Ok(HttpTransport { clients: RwLock::new(clients), node_timeout })
    }
}

/// `/indexes/{index}/<rest…>` with every segment percent-encoded.
fn index_path(node_index: &str, rest: &[&str]) -> String {
    let mut url = reqwest::Url::parse("http://node/").expect("static URL");
    url.path_segments_mut().expect("http URLs have paths").pop_if_empty().push("indexes").push(node_index).extend(rest);
    url.path().to_owned()
}

#[async_trait]
impl NodeTransport for HttpTransport {
    fn node_count(&self) -> usize {
        self.clients.read().expect("node clients lock").len()
    }

    fn add_node(&self, node: &Node) -> Result<usize, NodeError> {
        let client = node_client(node, self.node_timeout)?;
        let mut clients = self.clients.write().expect("node clients lock");
        clients.push(client);
        Ok(clients.len() - 1)
    }

    async fn call(&self, node: usize, call: &NodeCall) -> Result<Value, NodeError> {
        let client = self.clients.read().expect("node clients lock")[node].clone();
        let client = client.as_ref();
        match call {
            NodeCall::ProxySearch { body } => {
                let header = (HeaderName::from_static(PROXY_SEARCH_HEADER), HeaderValue::from_static("true"));
                client.multi_search(body, &[header]).await
            }
            NodeCall::FacetSearch { node_index, body } => post(client, &index_path(node_index, &["facet-search"]), body).await,
            NodeCall::FetchDocuments { node_index, body } => client.fetch_documents(node_index, body).await,
            NodeCall::GetDocument { node_index, document_id, query } => {
                let query: Vec<(&str, String)> = query.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                let path = index_path(node_index, &["documents", document_id]);
                Ok(client.request_json(Method::GET, &path, &query, None).await?.1)
            }
            NodeCall::Search { node_index, body } => post(client, &index_path(node_index, &["search"]), body).await,
            NodeCall::Similar { node_index, body } => post(client, &index_path(node_index, &["similar"]), body).await,
            NodeCall::IndexStats { node_index } => client.index_stats(node_index).await,
            NodeCall::IndexFields { node_index, body } => post(client, &index_path(node_index, &["fields"]), body).await,
            NodeCall::Stats => client.stats().await,
            NodeCall::Index { node_index } => Ok(client.request_json(Method::GET, &index_path(node_index, &[]), &[], None).await?.1),
            NodeCall::Settings { node_index } => client.get_settings(node_index).await,
        }
    }
}

async fn post(client: &NodeClient, path: &str, body: &Value) -> Result<Value, NodeError> {
    Ok(client.request_json(Method::POST, path, &[], Some(body)).await?.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_escape_ids() {
        assert_eq!(index_path("m__rank-1", &["documents", "a/b c"]), "/indexes/m__rank-1/documents/a%2Fb%20c");
        assert_eq!(index_path("m__rank-1", &[]), "/indexes/m__rank-1");
        assert_eq!(index_path("m", &["facet-search"]), "/indexes/m/facet-search");
    }
}

//! What the write-path end-to-end tests (NATS and Kafka) share: a whole Miroir cluster with 3
//! real Meilisearch nodes, an SDK-like gateway client, clients of every node and the placement
//! the processes compute, and the scenarios both files run.

pub mod contents;
pub mod corpus;
pub mod gateway;
pub mod scenarios;

use std::time::Duration;

use miroir_clients::node::NodeClient;
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_schemas::placement::Placement;

use gateway::Gateway;

/// The key clients give the gateway.
pub const MASTER_KEY: &str = "e2e-write-master-key";
pub const NODE_COUNT: usize = 3;
pub const SHARDS: u32 = 7;
/// Bound on waiting for one task: turns a hang into a failure, not a speed claim.
pub const TASK_BOUND: Duration = Duration::from_secs(300);

pub struct E2eCluster {
    pub cluster: Cluster,
    pub gateway: Gateway,
    pub node_clients: Vec<NodeClient>,
    pub placement: Placement,
}

impl E2eCluster {
    /// Starts a cluster of [`NODE_COUNT`] nodes in one replica group, [`SHARDS`] shards and
    /// replication factor `rf` on `log`, and waits for the gateway's `/health`.
    pub async fn start(log: LogKind, rf: u32) -> E2eCluster {
        let builder = Cluster::builder(log).nodes(NODE_COUNT).shards(SHARDS).replication_factor(rf).master_key(MASTER_KEY);
        let cluster = builder.topic_prefix("e2e").start().await.expect("starting the cluster");
        let gateway = Gateway::new(cluster.gateway_url(), MASTER_KEY);
        E2eCluster { gateway, node_clients: cluster.node_clients(), placement: cluster.placement(), cluster }
    }
}

//! Launch configuration: the same topology and log flags as every Miroir process.

use clap::Parser;
pub use miroir_clients::cluster_config::{ClusterConfig, LogBackend};
use std::time::Duration;

#[derive(Parser, Clone)]
#[command(name = "miroir-indexer", about = "Applies Miroir's `ops` log to Meilisearch nodes and reports `task-events`.")]
pub struct IndexerArgs {
    #[command(flatten)]
    pub cluster: ClusterConfig,
    /// Consumer group shared by the indexers that split the `ops` partitions.
    #[arg(long, env = "MIROIR_INDEXER_GROUP", default_value = miroir_clients::cluster_config::DEFAULT_INDEXER_GROUP)]
    pub group: String,
    /// This member's name in the group (default: a random one).
    #[arg(long, env = "MIROIR_INDEXER_MEMBER")]
    pub member: Option<String>,
    /// Group session / lease (ms): how long a crashed member keeps its partitions.
    #[arg(long, env = "MIROIR_GROUP_SESSION_MS", default_value_t = 10_000)]
    pub group_session_ms: u64,
    #[arg(long, env = "MIROIR_POLL_MAX", default_value_t = 1000)]
    pub poll_max: usize,

    /// After a topology change switched reads to the new placement, how long the replicas that
    /// moved away are kept (for gateways that have not seen the switch yet) before they are
    /// deleted (docs/topology.md).
    #[arg(long, env = "MIROIR_RELEASE_GRACE_MS", default_value_t = 10_000)]
    pub release_grace_ms: u64,
    /// Deadline of one HTTP exchange with a node (ms). A node that does not answer in time is
    /// marked lagging and caught up in the background, so this bounds how long one stuck node
    /// can hold up the others.
    #[arg(long, env = "MIROIR_NODE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub node_request_timeout_ms: u64,
    /// Node task wait timeout (s).
    #[arg(long, env = "MIROIR_NODE_TASK_TIMEOUT_S", default_value_t = 600)]
    pub node_task_timeout_s: u64,
    /// Where to serve Prometheus metrics (`GET /metrics`), e.g. `127.0.0.1:9101`; none when unset.
    #[arg(long, env = "MIROIR_INDEXER_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub logging: miroir_clients::logging::LoggingArgs,
}

// Hand-written: the cluster part hides its credentials.
impl std::fmt::Debug for IndexerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexerArgs")
            .field("cluster", &self.cluster)
            .field("group", &self.group)
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

impl IndexerArgs {
    pub fn group_session(&self) -> Duration {
        Duration::from_millis(self.group_session_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexer_flags_on_top_of_the_cluster_flags() {
        let args = IndexerArgs::parse_from([
            "miroir-indexer",
            "--node",
            "a=http://a:7700@g1,b=http://b:7700@g1",
            "--node",
            "c=http://c:7700@g2",
            "--shards",
            "4",
            "--log-url",
            "nats://x",
            "--node-key",
            "secretkey",
            "--group-session-ms",
            "2000",
        ]);
        let t = args.cluster.topology().unwrap();
        assert_eq!(t.nodes.len(), 3);
        assert_eq!(t.replica_groups(), vec!["g1", "g2"]);
        assert_eq!(args.group_session(), Duration::from_secs(2));
        assert!(!format!("{args:?}").contains("secretkey"));
    }
}

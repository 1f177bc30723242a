//! The gateway's launch configuration: command-line flags, each also readable from a `MIROIR_*`
//! environment variable. The cluster part (nodes, `S`, `RF`, log) must be identical for every
//! Miroir process of a cluster, which is why the launcher hands it to all of them as environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, Parser, ValueEnum};
use miroir_clients::log::{KafkaLog, LogConfig, MemoryLog, NatsLog, WriteLog};
use miroir_schemas::topology::{Node, Topology, TopologyError};

/// Meilisearch's default `--http-payload-size-limit`: 100 MB.
pub const DEFAULT_PAYLOAD_LIMIT: usize = 100_000_000;

#[derive(Debug, Clone, Parser)]
#[command(name = "miroir-gateway", version, about = "Miroir gateway: the Meilisearch HTTP API in front of a sharded, replicated fleet")]
pub struct GatewayConfig {
    /// Address the HTTP API listens on.
    #[arg(long, env = "MIROIR_LISTEN", default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,

    /// Master key clients authenticate with (as Meilisearch's `--master-key`). Without one,
    /// every route is open, as on a Meilisearch node started without a master key.
    #[arg(long, env = "MIROIR_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// Largest request body accepted, in bytes (Meilisearch's `--http-payload-size-limit`).
    #[arg(long, env = "MIROIR_PAYLOAD_LIMIT", default_value_t = DEFAULT_PAYLOAD_LIMIT)]
    pub payload_limit: usize,

    /// PEM certificate chain; with `--tls-key`, the API is served over HTTPS.
    #[arg(long, env = "MIROIR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key matching `--tls-cert`.
    #[arg(long, env = "MIROIR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    #[command(flatten)]
    pub cluster: ClusterConfig,
}

/// What every Miroir process of one cluster must agree on.
#[derive(Debug, Clone, Args)]
pub struct ClusterConfig {
    /// Meilisearch nodes as `id=url@replica-group` (group `default` when omitted); repeat the
    /// flag or comma-separate (e.g. `n0=http://127.0.0.1:7701@g0,n1=http://127.0.0.1:7702@g0`).
    #[arg(long = "node", env = "MIROIR_NODES", value_delimiter = ',', required = true)]
    pub nodes: Vec<NodeSpec>,

    /// API key Miroir sends to every node (the nodes' master key).
    #[arg(long, env = "MIROIR_NODE_KEY", hide_env_values = true)]
    pub node_key: Option<String>,

    /// `S`: the number of shards every index is split into.
    #[arg(long, env = "MIROIR_SHARDS", default_value_t = 1)]
    pub shards: u32,

    /// `RF`: how many nodes of each replica group hold a shard.
    #[arg(long, env = "MIROIR_REPLICATION_FACTOR", default_value_t = 1)]
    pub replication_factor: u32,

    /// Version of this topology; bump it whenever nodes, `S` or `RF` change.
    #[arg(long, env = "MIROIR_TOPOLOGY_VERSION", default_value_t = 1)]
    pub topology_version: u64,

    /// The log system holding tasks, operations and metadata.
    #[arg(long, env = "MIROIR_LOG_BACKEND", value_enum, default_value_t = LogBackend::Nats)]
    pub log_backend: LogBackend,

    /// Broker address: a NATS URL (`nats://127.0.0.1:4222`) or Kafka bootstrap servers.
    /// Not used by the in-memory log.
    #[arg(long, env = "MIROIR_LOG_URL", hide_env_values = true)]
    pub log_url: Option<String>,

    /// Prefix of every topic/stream name, so several clusters can share one broker.
    #[arg(long, env = "MIROIR_TOPIC_PREFIX", default_value = "miroir")]
    pub topic_prefix: String,

    /// Partitions of the `ops` topic (fixed for the life of a cluster).
    #[arg(long, env = "MIROIR_OPS_PARTITIONS", default_value_t = 8)]
    pub ops_partitions: u32,

    /// Partitions of the `task-events` topic (fixed for the life of a cluster).
    #[arg(long, env = "MIROIR_TASK_EVENTS_PARTITIONS", default_value_t = 4)]
    pub task_events_partitions: u32,
}

/// Which implementation of the write log to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogBackend {
    /// NATS JetStream.
    Nats,
    /// Kafka (or a Kafka-compatible broker such as Tansu).
    Kafka,
    /// In-process memory: a single gateway, for tests and demos; lost on exit.
    Memory,
}

/// One `--node` entry: `id=url[@replica-group]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub id: String,
    pub url: String,
    pub replica_group: String,
}

impl FromStr for NodeSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (id, rest) = text
            .split_once('=')
            .ok_or_else(|| format!("node `{text}` must look like `id=url@replica-group`"))?;
        let (url, replica_group) = split_replica_group(rest);
        let (id, url, replica_group) = (id.trim(), url.trim(), replica_group.trim());
        if id.is_empty() || url.is_empty() || replica_group.is_empty() {
            return Err(format!("node `{text}` needs a non-empty id, URL and replica group"));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("node `{id}` URL `{url}` must start with http:// or https://"));
        }
        Ok(NodeSpec { id: id.to_owned(), url: url.trim_end_matches('/').to_owned(), replica_group: replica_group.to_owned() })
    }
}

/// Group every node without `@group` belongs to.
pub const DEFAULT_REPLICA_GROUP: &str = "default";

/// Splits `url[@group]`. An `@` is the group separator only when what follows it is neither a
/// path nor a `host:port`, so `http://user:pw@host:7700` is a URL with credentials.
fn split_replica_group(rest: &str) -> (&str, &str) {
    let authority_start = rest.find("://").map_or(0, |i| i + 3);
    match rest[authority_start..].rfind('@').map(|at| authority_start + at) {
        Some(at) if !rest[at + 1..].contains(['/', ':']) => (&rest[..at], &rest[at + 1..]),
        _ => (rest, DEFAULT_REPLICA_GROUP),
    }
}

impl std::fmt::Display for NodeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}@{}", self.id, self.url, self.replica_group)
    }
}

impl ClusterConfig {
    /// The checked topology these flags describe.
    pub fn topology(&self) -> Result<Topology, TopologyError> {
        let nodes = self
            .nodes
            .iter()
            .map(|spec| Node {
                id: spec.id.clone(),
                url: spec.url.clone(),
                replica_group: spec.replica_group.clone(),
                api_key: self.node_key.clone(),
            })
            .collect();
        Topology::new(self.topology_version, self.shards, self.replication_factor, nodes)
    }

    /// Names and partition counts of the log, the same in every process of the cluster.
    pub fn log_config(&self) -> LogConfig {
        LogConfig {
            ops_partitions: self.ops_partitions,
            task_events_partitions: self.task_events_partitions,
            ..LogConfig::new(self.topic_prefix.clone())
        }
    }

    /// Connects to the configured log backend.
    pub async fn open_log(&self) -> anyhow::Result<Box<dyn WriteLog>> {
        let config = self.log_config();
        let url = || self.log_url.as_deref().context("--log-url (MIROIR_LOG_URL) is required for this log backend");
        Ok(match self.log_backend {
            LogBackend::Memory => Box::new(MemoryLog::new(config)?),
            LogBackend::Nats => Box::new(NatsLog::connect(url()?, config).await?),
            LogBackend::Kafka => Box::new(KafkaLog::connect(url()?, config).await?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn node_specs_parse() {
        let spec: NodeSpec = "n0=http://127.0.0.1:7701/@g0".parse().unwrap();
        assert_eq!(spec, NodeSpec { id: "n0".into(), url: "http://127.0.0.1:7701".into(), replica_group: "g0".into() });
        let with_user: NodeSpec = "n1=https://u:p@host:1@east".parse().unwrap();
        assert_eq!(with_user.url, "https://u:p@host:1");
        assert_eq!(with_user.replica_group, "east");
        let no_group: NodeSpec = "n2=http://u:p@host:1".parse().unwrap();
        assert_eq!((no_group.url.as_str(), no_group.replica_group.as_str()), ("http://u:p@host:1", "default"));
        for bad in ["n0", "=http://x@g", "n0=@g", "n0=http://x@", "n0=ftp://x@g"] {
            assert!(bad.parse::<NodeSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_and_environment_build_one_topology() {
        let config = GatewayConfig::try_parse_from([
            "miroir-gateway",
            "--node",
            "a=http://127.0.0.1:1@g0,b=http://127.0.0.1:2@g1",
            "--shards",
            "7",
            "--replication-factor",
            "1",
            "--log-backend",
            "memory",
        ])
        .unwrap();
        assert_eq!(config.payload_limit, DEFAULT_PAYLOAD_LIMIT);
        assert_eq!(config.cluster.log_backend, LogBackend::Memory);
        let topology = config.cluster.topology().unwrap();
        assert_eq!(topology.shard_count, 7);
        assert_eq!(topology.replica_groups(), ["g0", "g1"]);
        assert!(GatewayConfig::try_parse_from(["miroir-gateway", "--node", "a=http://x@g", "--tls-cert", "c.pem"]).is_err());
    }

    proptest! {
        #[test]
        fn node_specs_round_trip(id in "[a-z0-9_-]{1,12}", port in 1u16.., group in "[a-z0-9-]{1,8}") {
            let spec = NodeSpec { id, url: format!("http://127.0.0.1:{port}"), replica_group: group };
            prop_assert_eq!(spec.to_string().parse::<NodeSpec>(), Ok(spec));
        }
    }
}

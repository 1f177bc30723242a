//! The launch configuration every Miroir process of one cluster shares: the nodes, `S`, `RF` and
//! the log. Each flag is also read from a `MIROIR_*` environment variable, so the launcher (and
//! operators) hand the same environment to the gateway, the indexers and the reconcilers, and
//! one definition here keeps their flags from drifting apart.

/// The consumer group indexers share unless told otherwise (`MIROIR_INDEXER_GROUP`); the
/// gateway's status report reads its lag.
pub const DEFAULT_INDEXER_GROUP: &str = "miroir-indexer";

use std::str::FromStr;

use clap::{Args, ValueEnum};
use miroir_schemas::topology::{Node, Topology, TopologyError};

use crate::log::{retry_while_unavailable, KafkaLog, LogConfig, LogError, MemoryLog, MeteredLog, NatsLog, TopicRetention, WriteLog};

/// Which implementation of the write log to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogBackend {
    /// NATS JetStream.
    Nats,
    /// Kafka (or a Kafka-compatible broker such as Tansu).
    Kafka,
    /// In-process memory: one gateway on its own, for tests and demos; lost on exit, and
    /// invisible to any other process.
    Memory,
}

/// Where the log is and how its topics are laid out.
#[derive(Clone, Args)]
pub struct LogArgs {
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

    /// The broker drops `cdc` events older than this many seconds (set when the `cdc`
    /// streams/topic are created; docs/retention.md). Unlimited when unset.
    #[arg(long, env = "MIROIR_CDC_RETENTION_AGE_SECS")]
    pub cdc_retention_age_secs: Option<u64>,

    /// The broker keeps at most this many bytes of each `cdc` partition, dropping the oldest
    /// events first (set when the `cdc` streams/topic are created). Unlimited when unset.
    #[arg(long, env = "MIROIR_CDC_RETENTION_BYTES")]
    pub cdc_retention_bytes: Option<u64>,
}

// Hand-written: the log URL may hold credentials.
impl std::fmt::Debug for LogArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogArgs")
            .field("log_backend", &self.log_backend)
            .field("log_url", &self.log_url.as_deref().map(crate::node::redact_url))
            .field("topic_prefix", &self.topic_prefix)
            .field("ops_partitions", &self.ops_partitions)
            .field("task_events_partitions", &self.task_events_partitions)
            .field("cdc_retention_age_secs", &self.cdc_retention_age_secs)
            .field("cdc_retention_bytes", &self.cdc_retention_bytes)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenLogError {
    #[error("--log-url (MIROIR_LOG_URL) is required for the {0:?} log backend")]
    MissingUrl(LogBackend),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl LogArgs {
    /// Names and partition counts of the log, the same in every process of the cluster.
    pub fn log_config(&self) -> LogConfig {
        LogConfig {
            ops_partitions: self.ops_partitions,
            task_events_partitions: self.task_events_partitions,
            cdc_retention: TopicRetention {
                max_age: self.cdc_retention_age_secs.map(std::time::Duration::from_secs),
                max_bytes: self.cdc_retention_bytes,
            },
            ..LogConfig::new(self.topic_prefix.clone())
        }
    }

    /// Connects to the configured backend with `config` (normally [`Self::log_config`], with
    /// whatever the process tunes on top, such as its group session). While the broker is
    /// unreachable it waits (with backoff, saying so) rather than failing: a process started before its broker, or during an outage, comes
    /// up when the broker does. A missing URL fails at once.
    pub async fn open_log(&self, config: LogConfig) -> Result<Box<dyn WriteLog>, OpenLogError> {
        let url = match (self.log_backend, self.log_url.as_deref()) {
            (LogBackend::Memory, _) => return Ok(Box::new(MeteredLog(Box::new(MemoryLog::new(config)?)))),
            (_, None) => return Err(OpenLogError::MissingUrl(self.log_backend)),
            (_, Some(url)) => url,
        };
        let log = retry_while_unavailable("opening the log", || async {
            let log: Box<dyn WriteLog> = match self.log_backend {
                LogBackend::Kafka => Box::new(KafkaLog::connect(url, config.clone()).await?),
                LogBackend::Nats => Box::new(NatsLog::connect(url, config.clone()).await?),
                LogBackend::Memory => unreachable!("the in-memory log returned above"),
            };
            Ok(log)
        })
        .await?;
        Ok(Box::new(MeteredLog(log)))
    }
}

/// What every Miroir process that talks to the nodes must agree on.
#[derive(Clone, Args)]
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

    #[command(flatten)]
    pub log: LogArgs,
}

// Hand-written: the node key is a credential.
impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("nodes", &self.nodes)
            .field("node_key", &self.node_key.as_ref().map(|_| "***"))
            .field("shards", &self.shards)
            .field("replication_factor", &self.replication_factor)
            .field("topology_version", &self.topology_version)
            .field("log", &self.log)
            .finish()
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
}

/// One `--node` entry: `id=url[@replica-group]`.
#[derive(Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub id: String,
    pub url: String,
    pub replica_group: String,
}

// Hand-written: the URL may hold credentials.
/// Debug names the node and its group only: node addresses stay out of logs, where the
/// no-leak test (and operators' log shippers) would carry them beyond the cluster.
impl std::fmt::Debug for NodeSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.id, self.replica_group)
    }
}

impl FromStr for NodeSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shown = crate::node::redact_url(text);
        let (id, rest) = text.split_once('=').ok_or_else(|| format!("node `{shown}` must look like `id=url@replica-group`"))?;
        let (url, replica_group) = split_replica_group(rest);
        let (id, url, replica_group) = (id.trim(), url.trim(), replica_group.trim());
        if id.is_empty() || url.is_empty() || replica_group.is_empty() {
            return Err(format!("node `{shown}` needs a non-empty id, URL and replica group"));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("node `{id}` URL must start with http:// or https://"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use proptest::prelude::*;

    #[derive(Parser)]
    struct Process {
        #[command(flatten)]
        cluster: ClusterConfig,
    }

    #[test]
    fn node_specs_parse() {
        let spec: NodeSpec = "n0=http://127.0.0.1:7701/@g0".parse().unwrap();
        assert_eq!(spec, NodeSpec { id: "n0".into(), url: "http://127.0.0.1:7701".into(), replica_group: "g0".into() });
        let with_user: NodeSpec = "n1=https://u:p@host:1@east".parse().unwrap();
        assert_eq!(with_user.url, "https://u:p@host:1");
        assert_eq!(with_user.replica_group, "east");
        let no_group: NodeSpec = "n2=http://u:p@host:1".parse().unwrap();
        assert_eq!((no_group.url.as_str(), no_group.replica_group.as_str()), ("http://u:p@host:1", "default"));
        let path_then_group: NodeSpec = "n4=http://u:pw@h:7700/@g".parse().unwrap();
        assert_eq!((path_then_group.url.as_str(), path_then_group.replica_group.as_str()), ("http://u:pw@h:7700", "g"));
        for bad in ["n0", "=http://x@g", "n0=@g", "n0=http://x@", "n0=ftp://x@g"] {
            assert!(bad.parse::<NodeSpec>().is_err(), "{bad}");
        }
        let refused = "n0=ftp://user:secret@host".parse::<NodeSpec>().unwrap_err();
        assert!(!refused.contains("secret"), "{refused}");
        assert!(!format!("{with_user:?}").contains(":p@"), "{with_user:?}");
    }

    #[test]
    fn flags_build_one_topology_and_hide_credentials() {
        let process = Process::try_parse_from([
            "miroir",
            "--node",
            "a=http://127.0.0.1:1@g0,b=http://127.0.0.1:2@g1",
            "--shards",
            "7",
            "--replication-factor",
            "1",
            "--log-backend",
            "kafka",
            "--log-url",
            "kafka://user:secretpw@broker:9092",
            "--node-key",
            "secretkey",
        ])
        .unwrap();
        let topology = process.cluster.topology().unwrap();
        assert_eq!(topology.shard_count, 7);
        assert_eq!(topology.replica_groups(), ["g0", "g1"]);
        assert_eq!(process.cluster.log.log_backend, LogBackend::Kafka);
        let shown = format!("{:?}", process.cluster);
        assert!(!shown.contains("secretpw") && !shown.contains("secretkey"), "{shown}");
        assert!(!shown.contains("127.0.0.1") && shown.contains("a@g0"), "node addresses stay out of logs: {shown}");
        assert!(Process::try_parse_from(["miroir", "--shards", "2"]).is_err(), "--node is required");
    }

    proptest! {
        #[test]
        fn node_specs_round_trip(id in "[a-z0-9_-]{1,12}", port in 1u16.., group in "[a-z0-9-]{1,8}") {
            let spec = NodeSpec { id, url: format!("http://127.0.0.1:{port}"), replica_group: group };
            prop_assert_eq!(spec.to_string().parse::<NodeSpec>(), Ok(spec));
        }
    }
}

//! Launch configuration: the same topology and log flags as every Miroir process.

use clap::{Parser, ValueEnum};
use miroir_schemas::topology::{Node, Topology, TopologyError};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogBackend {
    Nats,
    Kafka,
}

#[derive(Parser, Clone)]
#[command(name = "miroir-indexer", about = "Applies Miroir's `ops` log to Meilisearch nodes and reports `task-events`.")]
pub struct IndexerArgs {
    /// A node as `id=url` or `id=url@replica-group` (group `default` when omitted). Repeat, or
    /// comma-separate in the env var.
    #[arg(long = "node", env = "MIROIR_NODES", value_delimiter = ',', required = true)]
    pub nodes: Vec<String>,
    /// API key Miroir uses on every node.
    #[arg(long, env = "MIROIR_NODE_KEY", hide_env_values = true)]
    pub node_key: Option<String>,
    /// `S`: shards per index.
    #[arg(long, env = "MIROIR_SHARDS", default_value_t = 1)]
    pub shards: u32,
    /// `RF`: nodes of each replica group holding a shard.
    #[arg(long, env = "MIROIR_REPLICATION_FACTOR", default_value_t = 1)]
    pub replication_factor: u32,
    #[arg(long, env = "MIROIR_TOPOLOGY_VERSION", default_value_t = 1)]
    pub topology_version: u64,
    #[arg(long, env = "MIROIR_LOG_BACKEND", value_enum, default_value_t = LogBackend::Nats)]
    pub log_backend: LogBackend,
    /// NATS URL or Kafka bootstrap servers.
    #[arg(long, env = "MIROIR_LOG_URL", hide_env_values = true)]
    pub log_url: String,
    #[arg(long, env = "MIROIR_TOPIC_PREFIX", default_value = "miroir")]
    pub topic_prefix: String,
    #[arg(long, env = "MIROIR_OPS_PARTITIONS", default_value_t = 8)]
    pub ops_partitions: u32,
    #[arg(long, env = "MIROIR_TASK_EVENTS_PARTITIONS", default_value_t = 4)]
    pub task_events_partitions: u32,
    /// Consumer group shared by the indexers that split the `ops` partitions.
    #[arg(long, env = "MIROIR_INDEXER_GROUP", default_value = "miroir-indexer")]
    pub group: String,
    /// This member's name in the group (default: a random one).
    #[arg(long, env = "MIROIR_INDEXER_MEMBER")]
    pub member: Option<String>,
    /// Group session / lease (ms): how long a crashed member keeps its partitions.
    #[arg(long, env = "MIROIR_GROUP_SESSION_MS", default_value_t = 10_000)]
    pub group_session_ms: u64,
    #[arg(long, env = "MIROIR_POLL_MAX", default_value_t = 1000)]
    pub poll_max: usize,
    /// Deadline of one HTTP exchange with a node (ms). A node that does not answer in time is
    /// marked lagging and caught up in the background, so this bounds how long one stuck node
    /// can hold up the others.
    #[arg(long, env = "MIROIR_NODE_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub node_request_timeout_ms: u64,
    /// Node task wait timeout (s).
    #[arg(long, env = "MIROIR_NODE_TASK_TIMEOUT_S", default_value_t = 600)]
    pub node_task_timeout_s: u64,
}

// Hand-written: the node key and the log URL may hold credentials.
impl std::fmt::Debug for IndexerArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexerArgs")
            .field("nodes", &self.nodes.iter().map(|n| miroir_clients::node::redact_url(n)).collect::<Vec<_>>())
            .field("shards", &self.shards)
            .field("replication_factor", &self.replication_factor)
            .field("log_backend", &self.log_backend)
            .field("log_url", &miroir_clients::node::redact_url(&self.log_url))
            .field("topic_prefix", &self.topic_prefix)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("node `{0}` must be written `id=url` or `id=url@group`")]
    BadNode(String),
    #[error(transparent)]
    Topology(#[from] TopologyError),
}

/// Parses `id=url[@group]`. The group is split at the last `@` after the URL's authority, so
/// `http://user:pw@host` still parses as a URL with credentials.
pub fn parse_node(spec: &str, api_key: Option<&str>) -> Result<Node, ConfigError> {
    let bad = || ConfigError::BadNode(miroir_clients::node::redact_url(spec));
    let (id, rest) = spec.split_once('=').ok_or_else(bad)?;
    let after_scheme = rest.find("://").map_or(0, |i| i + 3);
    let (url, group) = match rest[after_scheme..].rfind('@') {
        Some(at) if !rest[after_scheme + at..].contains('/') && rest[after_scheme + at + 1..].find(':').is_none() => {
            (&rest[..after_scheme + at], &rest[after_scheme + at + 1..])
        }
        _ => (rest, "default"),
    };
    if id.is_empty() || url.is_empty() || group.is_empty() {
        return Err(bad());
    }
    Ok(Node { id: id.into(), url: url.into(), replica_group: group.into(), api_key: api_key.map(str::to_owned) })
}

impl IndexerArgs {
    pub fn topology(&self) -> Result<Topology, ConfigError> {
        let nodes = self.nodes.iter().map(|s| parse_node(s, self.node_key.as_deref())).collect::<Result<_, _>>()?;
        Ok(Topology::new(self.topology_version, self.shards, self.replication_factor, nodes)?)
    }

    pub fn group_session(&self) -> Duration {
        Duration::from_millis(self.group_session_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_specs() {
        let n = parse_node("n1=http://127.0.0.1:7700@east", Some("k")).unwrap();
        assert_eq!((n.id.as_str(), n.url.as_str(), n.replica_group.as_str()), ("n1", "http://127.0.0.1:7700", "east"));
        let n = parse_node("n2=http://h:7700", None).unwrap();
        assert_eq!((n.url.as_str(), n.replica_group.as_str()), ("http://h:7700", "default"));
        let n = parse_node("n3=http://u:pw@h:7700", None).unwrap();
        assert_eq!((n.url.as_str(), n.replica_group.as_str()), ("http://u:pw@h:7700", "default"));
        let n = parse_node("n4=http://u:pw@h:7700/@g", None).unwrap();
        assert_eq!((n.url.as_str(), n.replica_group.as_str()), ("http://u:pw@h:7700/", "g"));
        let n = parse_node("n5=http://u:pw@h:7700@g2", None).unwrap();
        assert_eq!((n.url.as_str(), n.replica_group.as_str()), ("http://u:pw@h:7700", "g2"));
        assert!(parse_node("nourl", None).is_err());
        assert!(!format!("{}", parse_node("x", None).unwrap_err()).contains("pw"));
    }

    #[test]
    fn args_parse_into_a_topology() {
        let args = IndexerArgs::parse_from([
            "miroir-indexer",
            "--node",
            "a=http://a:7700@g1,b=http://b:7700@g1",
            "--node",
            "c=http://c:7700@g2",
            "--shards",
            "4",
            "--replication-factor",
            "1",
            "--log-url",
            "nats://x",
            "--node-key",
            "secretkey",
        ]);
        let t = args.topology().unwrap();
        assert_eq!(t.nodes.len(), 3);
        assert_eq!(t.replica_groups(), vec!["g1", "g2"]);
        assert!(!format!("{args:?}").contains("secretkey"));
    }
}

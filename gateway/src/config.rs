//! The gateway's launch configuration: command-line flags, each also readable from a `MIROIR_*`
//! environment variable. The cluster part (nodes, `S`, `RF`, log) must be identical for every
//! Miroir process of a cluster, which is why the launcher hands it to all of them as environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
pub use miroir_clients::cluster_config::{ClusterConfig, LogBackend, NodeSpec};
use miroir_clients::logging::LoggingArgs;

use crate::idempotency::IdempotencyArgs;
use crate::read::hedging::TailLatencyConfig;
use crate::read::ReadConfig;
use crate::watch::snapshots::SnapshotArgs;

/// Meilisearch's default `--http-payload-size-limit`: 100 MB.
pub const DEFAULT_PAYLOAD_LIMIT: usize = 100_000_000;

#[derive(Clone, Parser)]
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

    /// A search (or document read) answers `503` when some shard has not answered by then (ms).
    #[arg(long, env = "MIROIR_SEARCH_DEADLINE_MS", default_value_t = 10_000)]
    pub search_deadline_ms: u64,

    /// Bound of one exchange with a node on the read path (ms); a replica that exceeds it is
    /// retried on another replica of its shard within the deadline.
    #[arg(long, env = "MIROIR_NODE_READ_TIMEOUT_MS", default_value_t = 5_000)]
    pub node_read_timeout_ms: u64,

    /// Answer without the shards that have no reachable replica, naming them in the
    /// `Miroir-Partial-Shards` header, instead of a `503`.
    #[arg(long, env = "MIROIR_ALLOW_PARTIAL_RESULTS")]
    pub allow_partial_results: bool,

    /// Move a node index's shards to another replica while their node answers clearly slower
    /// (EWMA of its latency × its calls in flight). Off by default: at RF ≥ 2 another replica
    /// rank may order hits of equal score differently, so pages of one search could disagree.
    #[arg(long, env = "MIROIR_ADAPTIVE_REPLICAS", default_value_t = false, action = clap::ArgAction::Set)]
    pub adaptive_replicas: bool,

    /// Hedged reads (RF ≥ 2 or several replica groups): at most this percent of node calls are
    /// re-sent to another replica when late (5 is a good start); 0, the default, turns hedging
    /// off (same trade-off as `--adaptive-replicas`).
    #[arg(long, env = "MIROIR_HEDGE_BUDGET_PERCENT", default_value_t = 0.0)]
    pub hedge_budget_percent: f64,

    /// A node call is late (hedged) once older than this percentile of recent latencies (its
    /// node's or the other replicas', whichever is lower).
    #[arg(long, env = "MIROIR_HEDGE_PERCENTILE", default_value_t = 95.0)]
    pub hedge_percentile: f64,

    /// A node call is never hedged sooner than this (ms).
    #[arg(long, env = "MIROIR_HEDGE_MIN_DELAY_MS", default_value_t = 5)]
    pub hedge_min_delay_ms: u64,

    /// Most tasks kept (Meilisearch's `max_number_of_tasks`): when the task store holds this
    /// many, the oldest finished tasks are deleted, at most 100,000 at a time, as Meilisearch does.
    #[arg(long, env = "MIROIR_TASK_LIMIT", default_value_t = crate::catalog::DEFAULT_TASK_LIMIT)]
    pub task_limit: u64,

    /// Where to serve the gateway's Prometheus metrics (`GET /metrics`) and readiness
    /// (`GET /ready`), e.g. `127.0.0.1:9100`: an address of its own, never the API port (where
    /// `/metrics` answers as a Meilisearch node without the `metrics` feature). None when unset.
    #[arg(long, env = "MIROIR_GATEWAY_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Where `POST /dumps` writes the dump files this gateway creates (as Meilisearch's
    /// `--dump-dir`).
    #[arg(long, env = "MIROIR_DUMP_DIR", default_value = crate::dumps::DEFAULT_DUMP_DIR)]
    pub dump_dir: std::path::PathBuf,

    #[command(flatten)]
    pub snapshots: SnapshotArgs,

    #[command(flatten)]
    pub idempotency: IdempotencyArgs,

    #[command(flatten)]
    pub web: crate::web::WebArgs,

    #[command(flatten)]
    pub logging: LoggingArgs,

    #[command(flatten)]
    pub cluster: ClusterConfig,
}

impl GatewayConfig {
    /// The read path's deadlines and failure policy.
    pub fn read_config(&self) -> ReadConfig {
        ReadConfig {
            deadline: Duration::from_millis(self.search_deadline_ms),
            node_timeout: Duration::from_millis(self.node_read_timeout_ms),
            allow_partial: self.allow_partial_results,
            tail: TailLatencyConfig {
                adaptive_replicas: self.adaptive_replicas,
                hedge_budget_percent: self.hedge_budget_percent,
                hedge_percentile: self.hedge_percentile,
                hedge_min_delay: Duration::from_millis(self.hedge_min_delay_ms),
            },
            ..ReadConfig::default()
        }
    }
}

// Hand-written: the master key is a credential.
impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("master_key", &self.master_key.as_ref().map(|_| "***"))
            .field("payload_limit", &self.payload_limit)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("search_deadline_ms", &self.search_deadline_ms)
            .field("node_read_timeout_ms", &self.node_read_timeout_ms)
            .field("allow_partial_results", &self.allow_partial_results)
            .field("adaptive_replicas", &self.adaptive_replicas)
            .field("hedge_budget_percent", &self.hedge_budget_percent)
            .field("hedge_percentile", &self.hedge_percentile)
            .field("hedge_min_delay_ms", &self.hedge_min_delay_ms)
            .field("task_limit", &self.task_limit)
            .field("metrics_listen", &self.metrics_listen)
            .field("snapshots", &self.snapshots)
            .field("idempotency", &self.idempotency)
            .field("web", &self.web)
            .field("logging", &self.logging)
            .field("cluster", &self.cluster)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_flags_on_top_of_the_cluster_flags() {
        let config = GatewayConfig::try_parse_from([
            "miroir-gateway",
            "--node",
            "a=http://127.0.0.1:1@g0,b=http://127.0.0.1:2@g1",
            "--shards",
            "7",
            "--log-backend",
            "memory",
            "--master-key",
            "secretmaster",
        ])
        .unwrap();
        assert_eq!(config.payload_limit, DEFAULT_PAYLOAD_LIMIT);
        assert_eq!(config.task_limit, 1_000_000, "Meilisearch's default");
        assert_eq!(config.read_config().deadline, Duration::from_secs(10));
        assert!(!config.read_config().allow_partial);
        assert_eq!(config.read_config().tail, TailLatencyConfig::default());
        assert_eq!((config.snapshots.snapshot_every_tasks, config.snapshots.snapshots_kept), (100_000, 3));
        assert_eq!(config.cluster.log.log_backend, LogBackend::Memory);
        assert_eq!(config.cluster.topology().unwrap().shard_count, 7);
        assert!(!format!("{config:?}").contains("secretmaster"));
        assert!(GatewayConfig::try_parse_from(["miroir-gateway", "--node", "a=http://x@g", "--tls-cert", "c.pem"]).is_err());
    }
}

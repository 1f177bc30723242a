//! The gateway's launch configuration: command-line flags, each also readable from a `MIROIR_*`
//! environment variable. The cluster part (nodes, `S`, `RF`, log) must be identical for every
//! Miroir process of a cluster, which is why the launcher hands it to all of them as environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
pub use miroir_clients::cluster_config::{ClusterConfig, LogBackend, NodeSpec};

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

    #[command(flatten)]
    pub cluster: ClusterConfig,
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
        assert_eq!(config.cluster.log.log_backend, LogBackend::Memory);
        assert_eq!(config.cluster.topology().unwrap().shard_count, 7);
        assert!(!format!("{config:?}").contains("secretmaster"));
        assert!(GatewayConfig::try_parse_from(["miroir-gateway", "--node", "a=http://x@g", "--tls-cert", "c.pem"]).is_err());
    }
}

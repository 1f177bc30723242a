//! Launch configuration: the log part of the cluster configuration every Miroir process reads
//! from the same `MIROIR_*` environment.

use clap::Parser;
use miroir_clients::cluster_config::{LogArgs, LogBackend};
use miroir_clients::log::WriteLog;

#[derive(Debug, Clone, Parser)]
#[command(name = "miroir-reconciler", about = "Follows Miroir's logs: publishes change-data-capture events to the `cdc` topic.")]
pub struct ReconcilerArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Consumer group the reconcilers share on `ops`.
    #[arg(long, env = "MIROIR_RECONCILER_GROUP", default_value = "miroir-reconciler")]
    pub group: String,
    /// Where to serve Prometheus metrics (`GET /metrics`), e.g. `127.0.0.1:9102`; none when unset.
    #[arg(long, env = "MIROIR_RECONCILER_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl ReconcilerArgs {
    pub async fn open_log(&self) -> anyhow::Result<Box<dyn WriteLog>> {
        if self.log.log_backend == LogBackend::Memory {
            // An in-memory log lives inside one gateway process; a reconciler cannot see it.
            anyhow::bail!("the reconciler needs a shared log: --log-backend nats or kafka");
        }
        Ok(self.log.open_log(self.log.log_config()).await?)
    }
}

//! Launch configuration: the log part of the cluster configuration every Miroir process reads
//! from the same `MIROIR_*` environment.

use clap::Parser;
use miroir_clients::cluster_config::{LogArgs, LogBackend};
use miroir_clients::log::WriteLog;

use crate::cdc::CdcOptions;

#[derive(Debug, Clone, Parser)]
#[command(name = "miroir-reconciler", about = "Follows Miroir's logs: publishes change-data-capture events to the `cdc` topic.")]
pub struct ReconcilerArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Consumer group the reconcilers share on `ops`.
    #[arg(long, env = "MIROIR_RECONCILER_GROUP", default_value = "miroir-reconciler")]
    pub group: String,
    /// `ops` payload bytes CDC holds while waiting for task outcomes; past it, `ops` is not
    /// polled until outcomes release some (see docs/cdc.md).
    #[arg(long, env = "MIROIR_RECONCILER_CDC_MAX_HELD_BYTES", default_value_t = CdcOptions::default().max_held_bytes)]
    pub cdc_max_held_bytes: usize,
    /// Where to serve Prometheus metrics (`GET /metrics`), e.g. `127.0.0.1:9102`; none when unset.
    #[arg(long, env = "MIROIR_RECONCILER_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub logging: miroir_clients::logging::LoggingArgs,
}

impl ReconcilerArgs {
    pub async fn open_log(&self) -> anyhow::Result<Box<dyn WriteLog>> {
        if self.log.log_backend == LogBackend::Memory {
            // An in-memory log lives inside one gateway process; a reconciler cannot see it.
            anyhow::bail!("the reconciler needs a shared log: --log-backend nats or kafka");
        }
        Ok(self.log.open_log(self.log.log_config()).await?)
    }

    pub fn cdc_options(&self) -> CdcOptions {
        CdcOptions { max_held_bytes: self.cdc_max_held_bytes }
    }
}

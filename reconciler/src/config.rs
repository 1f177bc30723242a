//! Launch configuration: the log part of the cluster configuration every Miroir process reads
//! from the same `MIROIR_*` environment.

use anyhow::Context;
use clap::{Parser, ValueEnum};
use miroir_clients::log::{KafkaLog, LogConfig, NatsLog, WriteLog};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogBackend {
    Nats,
    Kafka,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "miroir-reconciler", about = "Follows Miroir's logs: publishes change-data-capture events to the `cdc` topic.")]
pub struct ReconcilerArgs {
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
    /// Consumer group the reconcilers share on `ops`.
    #[arg(long, env = "MIROIR_RECONCILER_GROUP", default_value = "miroir-reconciler")]
    pub group: String,
}

impl ReconcilerArgs {
    pub fn log_config(&self) -> LogConfig {
        LogConfig {
            ops_partitions: self.ops_partitions,
            task_events_partitions: self.task_events_partitions,
            ..LogConfig::new(self.topic_prefix.clone())
        }
    }

    pub async fn open_log(&self) -> anyhow::Result<Box<dyn WriteLog>> {
        let config = self.log_config();
        Ok(match self.log_backend {
            LogBackend::Nats => Box::new(NatsLog::connect(&self.log_url, config).await.context("connecting to NATS")?),
            LogBackend::Kafka => Box::new(KafkaLog::connect(&self.log_url, config).await.context("connecting to Kafka")?),
        })
    }
}

//! Launch configuration: the log part of the cluster configuration every Miroir process reads
//! from the same `MIROIR_*` environment.

use clap::Args;
use clap::Parser;
use miroir_clients::cluster_config::{ClusterConfig, LogArgs, LogBackend, NodeSpec};
use miroir_clients::drift::VerifyOptions;
use miroir_clients::log::WriteLog;
use miroir_schemas::placement::Placement;

use crate::cdc::CdcOptions;
use crate::retention::policy::RetentionWindow;
use crate::retention::task_log_policy::TaskLogWindow;
use crate::retention::task_logs::TaskLogRetentionOptions;
use crate::retention::RetentionOptions;
use crate::ttl_sweep::SweepOptions;

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
    #[command(flatten)]
    pub verify: VerifyArgs,
    #[command(flatten)]
    pub ttl_sweep: TtlSweepArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// `ops` retention (docs/retention.md): off unless a window is set.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Keep at least the newest this many records of each `ops` partition; trims below every
    /// consumer group's committed position otherwise. With `--ops-retention-age-secs`, both hold.
    #[arg(long, env = "MIROIR_OPS_RETENTION_RECORDS")]
    pub ops_retention_records: Option<u64>,
    /// Keep at least the `ops` records appended within this many seconds (measured from when
    /// this reconciler saw each partition's end, so nothing is trimmed in its first interval).
    #[arg(long, env = "MIROIR_OPS_RETENTION_AGE_SECS")]
    pub ops_retention_age_secs: Option<u64>,
    /// Seconds between retention passes.
    #[arg(long, env = "MIROIR_OPS_RETENTION_INTERVAL_SECS", default_value_t = 60)]
    pub ops_retention_interval_secs: u64,
    /// Trim `tasks` and `task-events`, keeping at least the newest this many `tasks` records,
    /// below what every kept catalog snapshot, the webhook caller and CDC have passed. Off when
    /// unset. Needs the gateways' snapshots (NATS or Kafka).
    #[arg(long, env = "MIROIR_TASK_LOG_RETENTION_RECORDS")]
    pub task_log_retention_records: Option<u64>,
    /// How long after its `tasks` record a task's operations may still reach `ops` (a gateway
    /// keeps appending them for about an hour after a log outage): `tasks` is trimmed only to a
    /// point CDC had released everything by this long after.
    #[arg(long, env = "MIROIR_TASK_LOG_RETENTION_GRACE_SECS", default_value_t = 7200)]
    pub task_log_retention_grace_secs: u64,
    /// Seconds between `tasks` / `task-events` retention passes.
    #[arg(long, env = "MIROIR_TASK_LOG_RETENTION_INTERVAL_SECS", default_value_t = 60)]
    pub task_log_retention_interval_secs: u64,
}

/// The TTL sweeper (docs/ttl.md): off unless `--ttl-sweep-interval-secs` is set, and then it
/// needs the cluster's nodes (`--node` / `MIROIR_NODES`, as the verify pass reads them).
#[derive(Debug, Clone, Args)]
pub struct TtlSweepArgs {
    /// Seconds between the end of one TTL sweep and the start of the next; no sweeps when unset.
    #[arg(long, env = "MIROIR_RECONCILER_TTL_SWEEP_INTERVAL_SECS")]
    pub ttl_sweep_interval_secs: Option<u64>,
    /// Most expired documents one sweep deletes per shard.
    #[arg(long, env = "MIROIR_RECONCILER_TTL_SWEEP_BATCH", default_value_t = SweepOptions::default().batch)]
    pub ttl_sweep_batch: u64,
}

/// The periodic verify pass (docs/repair.md): off unless `--verify-interval-secs` is set, and
/// then it needs the cluster's nodes, as every process that talks to them reads them.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Seconds between verify passes over every shard's replicas; none when unset.
    #[arg(long, env = "MIROIR_RECONCILER_VERIFY_INTERVAL_SECS")]
    pub verify_interval_secs: Option<u64>,
    /// Repair what a periodic pass finds (the majority's version is written to the replicas
    /// that differ), not only report it.
    #[arg(long, env = "MIROIR_RECONCILER_VERIFY_REPAIR")]
    pub verify_repair: bool,
    /// Pause after each page of documents a pass reads (throttle), in milliseconds.
    #[arg(long, env = "MIROIR_RECONCILER_VERIFY_PAGE_PAUSE_MS", default_value_t = 10)]
    pub verify_page_pause_ms: u64,
    /// The indexers' consumer group, whose committed position says whether writes are in flight.
    #[arg(long, env = "MIROIR_INDEXER_GROUP", default_value = miroir_clients::cluster_config::DEFAULT_INDEXER_GROUP)]
    pub indexer_group: String,
    /// The cluster's nodes, as `--node` of the other processes (`id=url@replica-group`).
    #[arg(long = "node", env = "MIROIR_NODES", value_delimiter = ',')]
    pub nodes: Vec<NodeSpec>,
    #[arg(long, env = "MIROIR_NODE_KEY", hide_env_values = true)]
    pub node_key: Option<String>,
    #[arg(long, env = "MIROIR_SHARDS", default_value_t = 1)]
    pub shards: u32,
    #[arg(long, env = "MIROIR_REPLICATION_FACTOR", default_value_t = 1)]
    pub replication_factor: u32,
    #[arg(long, env = "MIROIR_TOPOLOGY_VERSION", default_value_t = 1)]
    pub topology_version: u64,
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

    /// The periodic verify pass's interval, placement and options, when it is on.
    pub fn verify_plan(&self) -> anyhow::Result<Option<(std::time::Duration, Placement, VerifyOptions)>> {
        let verify = &self.verify;
        let Some(seconds) = verify.verify_interval_secs else { return Ok(None) };
        let placement = self.placement_for("--verify-interval-secs")?;
        let options = VerifyOptions {
            repair: verify.verify_repair,
            page_pause: std::time::Duration::from_millis(verify.verify_page_pause_ms),
            indexer_group: verify.indexer_group.clone(),
            ..VerifyOptions::default()
        };
        Ok(Some((std::time::Duration::from_secs(seconds.max(1)), placement, options)))
    }

    /// Where every shard lives, from the cluster's nodes; `flag` names the option that needs them.
    fn placement_for(&self, flag: &str) -> anyhow::Result<Placement> {
        let verify = &self.verify;
        if verify.nodes.is_empty() {
            anyhow::bail!("{flag} needs the cluster's nodes (--node / MIROIR_NODES)");
        }
        let cluster = ClusterConfig {
            nodes: verify.nodes.clone(),
            node_key: verify.node_key.clone(),
            shards: verify.shards,
            replication_factor: verify.replication_factor,
            topology_version: verify.topology_version,
            log: self.log.clone(),
        };
        Ok(Placement::new(cluster.topology()?))
    }

    /// `ops` retention's window, timer and the consumer groups bounding it, when it is on.
    pub fn retention_plan(&self) -> Option<RetentionOptions> {
        let args = &self.retention;
        let window =
            RetentionWindow { records: args.ops_retention_records, age: args.ops_retention_age_secs.map(std::time::Duration::from_secs) };
        window.is_on().then(|| RetentionOptions {
            window,
            interval: std::time::Duration::from_secs(args.ops_retention_interval_secs.max(1)),
            groups: vec![self.verify.indexer_group.clone(), self.group.clone()],
        })
    }

    /// `tasks` / `task-events` retention's window and timer, when it is on.
    pub fn task_log_retention_plan(&self) -> Option<TaskLogRetentionOptions> {
        let args = &self.retention;
        args.task_log_retention_records.map(|records| TaskLogRetentionOptions {
            window: TaskLogWindow { records, grace: std::time::Duration::from_secs(args.task_log_retention_grace_secs) },
            interval: std::time::Duration::from_secs(args.task_log_retention_interval_secs.max(1)),
            cdc_group: self.group.clone(),
        })
    }

    /// The TTL sweeper's placement and options, when it is on.
    pub fn ttl_sweep_plan(&self) -> anyhow::Result<Option<(Placement, SweepOptions)>> {
        let Some(seconds) = self.ttl_sweep.ttl_sweep_interval_secs else { return Ok(None) };
        let options =
            SweepOptions { interval: std::time::Duration::from_secs(seconds.max(1)), batch: self.ttl_sweep.ttl_sweep_batch.max(1) };
        Ok(Some((self.placement_for("--ttl-sweep-interval-secs")?, options)))
    }
}

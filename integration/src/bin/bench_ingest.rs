//! Ingest throughput: documents per second from the first POST to the last task succeeded,
//! through the gateway of a Miroir cluster (NATS JetStream, indexer, 3 nodes) at RF = 1 and
//! RF = 2, against posting the same NDJSON batches straight to one node, in the same run.
//!
//! Nodes run the real Meilisearch binary (`MEILISEARCH_BIN`, else `../shared/meilisearch/unpack`).
//! Prints a markdown section and, with `--write-docs`, replaces the "## Ingest" section
//! of docs/benchmarks.md.
//!
//!     cargo build --release --workspace --bins
//!     target/release/bench_ingest --write-docs docs/benchmarks.md

use std::time::Duration;

use anyhow::{ensure, Result};
use clap::Parser;
use miroir_integration::bench_support::{
    binaries, cluster_processes, corpus_batches, engine_name, gateway_target, load_average, start_cluster, write_section, BenchPaths,
    CpuMeter, Target, NODE_KEY,
};
use miroir_integration::nodes::{find_meilisearch, MeiliNodes};

#[derive(Parser)]
#[command(about = "Benchmark ingest through the gateway against a single node")]
struct Args {
    /// Documents of the Debian packages corpus to load (63,666 is all of it).
    #[arg(long, default_value_t = 63_666)]
    docs: usize,
    /// Documents per NDJSON request.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Meilisearch nodes of the cluster (one replica group).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// `S` of the cluster.
    #[arg(long, default_value_t = 7)]
    shards: u32,
    #[command(flatten)]
    paths: BenchPaths,
}

struct Run {
    target: String,
    took: Duration,
    /// CPU seconds per process, from the first POST to the last task succeeded.
    cpu: Vec<(String, f64)>,
}

impl Run {
    fn total_cpu(&self) -> f64 {
        self.cpu.iter().map(|(_, seconds)| seconds).sum()
    }

    /// CPU seconds of the processes whose name starts with `prefix`, or `–` when the run had none.
    fn cpu_of(&self, prefix: &str) -> String {
        let seconds: Vec<f64> = self.cpu.iter().filter(|(name, _)| name.starts_with(prefix)).map(|(_, seconds)| *seconds).collect();
        if seconds.is_empty() {
            "–".to_owned()
        } else {
            format!("{:.1}", seconds.iter().sum::<f64>())
        }
    }
}

/// Creates the index (not measured), then ingests every batch, metering `processes`.
async fn ingest_into(name: String, target: &Target, processes: &[(String, u32)], batches: &[String], docs: usize) -> Result<Run> {
    target.create_index().await?;
    let meter = CpuMeter::start(processes);
    let took = target.ingest(batches).await?;
    let cpu = meter.used();
    let count = target.document_count().await?;
    ensure!(count == docs as u64, "{} holds {count} documents, {docs} were sent", target.url);
    Ok(Run { target: name, took, cpu })
}

async fn bench(args: &Args) -> Result<(Vec<Run>, String)> {
    let meilisearch = find_meilisearch()?;
    let binaries = binaries(args.paths.bin_dir.as_deref())?;
    let batches = corpus_batches(&args.paths.corpus(), args.docs, args.batch)?;
    let mut runs = Vec::new();

    eprintln!("single node: ingesting {} documents", args.docs);
    {
        let node = MeiliNodes::start_temp(&meilisearch, 1, NODE_KEY).await?;
        let target = Target::new(&node.urls()[0], NODE_KEY, 4)?;
        let processes = vec![("node 0".to_owned(), node.pids()[0])];
        runs.push(ingest_into("one node, direct".into(), &target, &processes, &batches, args.docs).await?);
    }
    for rf in [1, 2] {
        eprintln!("cluster RF = {rf}: ingesting through the gateway");
        let cluster = start_cluster(&binaries, &meilisearch, args.nodes, args.shards, rf).await?;
        let target = gateway_target(&cluster, 4)?;
        let name = format!("gateway, {} nodes, S = {}, RF = {rf}", args.nodes, args.shards);
        runs.push(ingest_into(name, &target, &cluster_processes(&cluster), &batches, args.docs).await?);
    }
    Ok((runs, engine_name(&meilisearch)))
}

fn markdown(args: &Args, runs: &[Run], engine: &str, load_before: &str) -> String {
    let rate = |run: &Run| args.docs as f64 / run.took.as_secs_f64();
    let single = rate(&runs[0]);
    let mut out = String::from("## Ingest\n\n");
    out.push_str(&format!(
        "Nodes: **{engine}**. Machine: 2 cores, 24 GiB; client, gateway, indexer, NATS and every node share it over loopback \
         (1-min load average {load_before} before, {} after). Date: {}.\n\
         Command: `cargo build --release --workspace --bins && target/release/bench_ingest --docs {} --batch {} --write-docs docs/benchmarks.md`.\n\n",
        load_average(),
        time::OffsetDateTime::now_utc().date(),
        args.docs,
        args.batch,
    ));
    out.push_str(&format!(
        "{} documents of the Debian packages corpus in NDJSON batches of {}, all posted back to back, then every task waited for \
         (polled every 20 ms); the time runs from the first POST to the last task `succeeded`, index creation and settings excluded. \
         Every target is checked to hold exactly the documents sent.\n\n",
        args.docs, args.batch
    ));
    let single_cpu = runs[0].total_cpu();
    out.push_str(
        "| target | wall (s) | documents/s | speed × one node | CPU s, nodes | CPU s, nats-server | CPU s, gateway | CPU s, indexer | CPU s, reconciler | CPU s, total | CPU × one node |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in runs {
        out.push_str(&format!(
            "| {} | {:.2} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {:.1} | {:.2} |\n",
            run.target,
            run.took.as_secs_f64(),
            rate(run),
            rate(run) / single,
            run.cpu_of("node"),
            run.cpu_of("nats"),
            run.cpu_of("gateway"),
            run.cpu_of("indexer"),
            run.cpu_of("reconciler"),
            run.total_cpu(),
            run.total_cpu() / single_cpu,
        ));
    }
    let rf1 = &runs[1];
    out.push_str(&format!(
        "\nAt RF = 1 the cluster used {:.2}× the CPU of one node for the same documents (target ≤ 1.15×: N machines would then \
         index about N/1.15 times as fast), and ingested at {:.2}× one node's speed on this shared 2-core machine (target ≥ 0.9×). \
         CPU is user + system time of every thread of each process (`/proc/<pid>/stat`), read before the first POST and after \
         the last task succeeded. At RF = 2 every document is indexed twice, so about twice the node CPU is expected.\n",
        rf1.total_cpu() / single_cpu,
        rate(rf1) / single,
    ));
    out
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let load_before = load_average();
    let (runs, engine) = bench(&args).await?;
    let section = markdown(&args, &runs, &engine, &load_before);
    println!("{section}");
    if let Some(path) = &args.paths.write_docs {
        write_section(path, "## Ingest", &section)?;
        eprintln!("wrote the Ingest section of {}", path.display());
    }
    Ok(())
}

//! Ingest throughput: documents per second from the first POST to the last task succeeded,
//! through the gateway of a Miroir cluster (NATS JetStream, indexer, 3 nodes) at RF = 1 and
//! RF = 2, against posting the same NDJSON batches straight to one node, in the same run.
//!
//! Nodes are `MEILISEARCH_BIN` when set, else the stand-in (`meili-standin`) — the report says
//! which. Prints a markdown section and, with `--write-docs`, replaces the "## Ingest" section
//! of docs/benchmarks.md.
//!
//!     cargo build --release --workspace --bins
//!     target/release/bench_ingest --write-docs docs/benchmarks.md

use std::time::Duration;

use anyhow::{ensure, Result};
use clap::Parser;
use miroir_integration::bench_support::{binaries, corpus_batches, BenchPaths, engine_name, load_average, on_standin, write_section, BenchCluster, Target, NODE_KEY};
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
    #[arg(long, default_value_t = 3)]
    shards: u32,
    #[command(flatten)]
    paths: BenchPaths,
}

struct Run {
    target: String,
    took: Duration,
}

async fn ingest_into(target: &Target, batches: &[String], docs: usize) -> Result<Duration> {
    target.create_index().await?;
    let took = target.ingest(batches).await?;
    let count = target.document_count().await?;
    ensure!(count == docs as u64, "{} holds {count} documents, {docs} were sent", target.url);
    Ok(took)
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
        runs.push(Run { target: "one node, direct".into(), took: ingest_into(&target, &batches, args.docs).await? });
    }
    for rf in [1, 2] {
        eprintln!("cluster RF = {rf}: ingesting through the gateway");
        let cluster = BenchCluster::start(&binaries, &meilisearch, args.nodes, args.shards, rf).await?;
        let target = cluster.gateway(4)?;
        let took = ingest_into(&target, &batches, args.docs).await?;
        runs.push(Run { target: format!("gateway, {} nodes, S = {}, RF = {rf}", args.nodes, args.shards), took });
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
    out.push_str("| target | time (s) | documents/s | × one node |\n|---|---:|---:|---:|\n");
    for run in runs {
        out.push_str(&format!("| {} | {:.2} | {:.0} | {:.2} |\n", run.target, run.took.as_secs_f64(), rate(run), rate(run) / single));
    }
    if on_standin() {
        out.push_str(
            "\n**What this run can and cannot say.** The stand-in \"indexes\" a document by inserting it into a hash map, so \
             \"one node, direct\" measures little more than HTTP and JSON parsing; real Meilisearch spends most of an ingest \
             building its inverted indexes, which is the work sharding spreads over nodes. The ratio against one node is \
             therefore not a verdict on the ≥ 1.2× target (that needs `MEILISEARCH_BIN`); the gateway rows do measure Miroir's \
             own pipeline — parse, split per shard, durable append to JetStream, indexer batching, node requests, task \
             aggregation — on 2 shared cores.\n",
        );
    }
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

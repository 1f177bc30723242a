//! Indexers that operators scale: a steady ingest of the Debian corpus through the gateway of
//! a Miroir cluster (NATS JetStream, real Meilisearch nodes), while indexer processes join and
//! leave the consumer group: 1 indexer, a second joins, a third joins, the third stops
//! (SIGTERM), the second is killed (-9). Measured per phase: the documents reaching the nodes
//! per second, the consumer lag per `ops` partition (sampled from `/_miroir/status`) and CPU per
//! process; per join or leave: which partitions moved, when their new owner took them and the
//! longest gap between two operations reaching a node on them, against the group session.
//! Every node task's checkpoint marker is then checked: per replica and partition they only go
//! up, so no operation was applied twice to a replica.
//!
//! Prints a markdown section and, with `--write-docs`, replaces the "## Indexer scaling"
//! section of docs/benchmarks.md.
//!
//!     cargo build --release -p miroir-gateway -p miroir-indexer -p miroir-reconciler --bins
//!     cargo build --release -p miroir-integration --bin bench_indexers
//!     target/release/bench_indexers --write-docs docs/benchmarks.md

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use miroir_integration::bench_support::{
    binaries, cluster_processes, corpus_batches, engine_name, gateway_target, load_average, percentile, settings, write_section,
    BenchPaths, CpuMeter, Target, GATEWAY_KEY, NODE_KEY,
};
use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::nodes::find_meilisearch;
use miroir_integration::process::ManagedProcess;
use serde_json::{json, Value};

/// `MIROIR_OPS_PARTITIONS` and `MIROIR_GROUP_SESSION_MS` as every process of the run gets them
/// (the defaults an operator gets).
const OPS_PARTITIONS: u32 = 8;
const GROUP_SESSION_MS: u64 = 10_000;

#[derive(Parser)]
#[command(about = "Benchmark indexers joining and leaving under a steady ingest")]
struct Args {
    /// Documents per second offered to the gateway, spread over the indexes.
    #[arg(long, default_value_t = 120)]
    rate: usize,
    /// One POST per index every this many milliseconds.
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// Indexes written (each on its own `ops` partition while there are partitions left).
    #[arg(long, default_value_t = 8)]
    indexes: usize,
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    #[arg(long, default_value_t = 7)]
    shards: u32,
    #[arg(long, default_value_t = 2)]
    rf: u32,
    /// Seconds of each phase with 1, 2 and 3 indexers.
    #[arg(long, default_value_t = 40)]
    phase_secs: u64,
    /// Seconds after the graceful stop and after the kill.
    #[arg(long, default_value_t = 30)]
    leave_secs: u64,
    /// The `## ` heading of the section written (a saturating run goes under its own).
    #[arg(long, default_value = "Indexer scaling")]
    section: String,
    #[command(flatten)]
    paths: BenchPaths,
}

fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// `count` index names, each on an `ops` partition no earlier name is on while partitions last,
/// so the work can split over every indexer.
fn index_names(count: usize, partitions: u32) -> Vec<(String, u32)> {
    let partition_of = |uid: &str| miroir_clients::log::partition_for_key(&miroir_schemas::envelope::ops_key(uid), partitions);
    let mut chosen: Vec<(String, u32)> = Vec::new();
    for k in 0..10_000 {
        if chosen.len() == count {
            break;
        }
        let uid = format!("packages-{k}");
        let partition = partition_of(&uid);
        let fresh = !chosen.iter().any(|(_, p)| *p == partition);
        if fresh || chosen.len() >= partitions as usize {
            chosen.push((uid, partition));
        }
    }
    chosen
}

/// A checkpoint marker, `miroir:<partition>:<last>[:<first>]` (indexer/src/checkpoint.rs).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Marker {
    partition: u32,
    last: u64,
    first: Option<u64>,
}

fn parse_marker(metadata: &str) -> Option<Marker> {
    let mut parts = metadata.strip_prefix("miroir:")?.split(':');
    let partition = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    let first = match parts.next() {
        Some(first) => Some(first.parse().ok()?),
        None => None,
    };
    Some(Marker { partition, last, first })
}

/// One task of one node, as the analysis needs it.
#[derive(Debug, Clone)]
struct NodeTask {
    node: String,
    node_index: String,
    uid: u64,
    succeeded: bool,
    enqueued: f64,
    finished: Option<f64>,
    documents: u64,
    marker: Option<Marker>,
}

/// Checkpoints that did not go up: per (node, node index, partition), in node task order, a
/// succeeded task whose last position is not above the previous one's, or whose merged range
/// starts at or below it, would have applied some operation a second time to that replica.
fn repeated_checkpoints(tasks: &[NodeTask]) -> Vec<String> {
    let mut ordered: Vec<&NodeTask> = tasks.iter().filter(|t| t.succeeded && t.marker.is_some()).collect();
    ordered.sort_by_key(|t| (t.node.clone(), t.node_index.clone(), t.uid));
    let mut last: BTreeMap<(&str, &str, u32), u64> = BTreeMap::new();
    let mut repeated = Vec::new();
    for task in ordered {
        let marker = task.marker.expect("filtered");
        let key = (task.node.as_str(), task.node_index.as_str(), marker.partition);
        if let Some(&previous) = last.get(&key) {
            if marker.last <= previous || marker.first.is_some_and(|first| first <= previous) {
                repeated.push(format!("{} {} task {}: {marker:?} after position {previous}", task.node, task.node_index, task.uid));
            }
        }
        last.insert(key, marker.last);
    }
    repeated
}

/// The longest stretch of `[from, to]` with no time of `times` in it (the window edges count).
fn longest_gap(times: &[f64], from: f64, to: f64) -> f64 {
    let mut points: Vec<f64> = times.iter().copied().filter(|t| *t > from && *t < to).collect();
    points.sort_by(f64::total_cmp);
    let mut previous = from;
    let mut longest: f64 = 0.0;
    for point in points.into_iter().chain([to]) {
        longest = longest.max(point - previous);
        previous = point;
    }
    longest
}

/// One `/_miroir/status` sample: per partition its lag (records) and owner.
#[derive(Debug, Clone)]
struct Sample {
    at: f64,
    partitions: BTreeMap<u32, (u64, Option<String>)>,
}

impl Sample {
    fn from_status(at: f64, status: &Value) -> Option<Sample> {
        let partitions = status["indexers"]["partitions"]
            .as_array()?
            .iter()
            .map(|p| Some((p["partition"].as_u64()? as u32, (p["lag"].as_u64()?, p["owner"].as_str().map(str::to_owned)))))
            .collect::<Option<_>>()?;
        Some(Sample { at, partitions })
    }

    fn total_lag(&self) -> u64 {
        self.partitions.values().map(|(lag, _)| lag).sum()
    }

    fn owner(&self, partition: u32) -> Option<&str> {
        self.partitions.get(&partition).and_then(|(_, owner)| owner.as_deref())
    }
}

/// Partitions whose owner differs between `before` and `after`.
fn moved_partitions(before: &Sample, after: &Sample) -> Vec<u32> {
    after.partitions.keys().copied().filter(|p| before.owner(*p) != after.owner(*p)).collect()
}

/// Seconds from `at` until `partition` shows `owner` in the samples up to `until` (and keeps
/// it until then).
fn handover_secs(samples: &[Sample], partition: u32, owner: Option<&str>, at: f64, until: f64) -> Option<f64> {
    let later: Vec<&Sample> = samples.iter().filter(|s| s.at >= at && s.at < until).collect();
    let settled_from = later.iter().rposition(|s| s.owner(partition) != owner).map_or(0, |i| i + 1);
    later.get(settled_from).map(|s| s.at - at)
}

struct Phase {
    name: String,
    start: f64,
    end: f64,
    cpu: Vec<(String, f64)>,
}

struct Event {
    name: String,
    at: f64,
    /// The phase it starts (index into the phases).
    phase: usize,
}

/// One accepted POST: when it was sent, its documents, how long the 202 took.
struct Post {
    at: f64,
    documents: usize,
    latency: Duration,
}

/// Posts one batch per index every tick until `stop`; returns every accepted POST.
async fn steady_ingest(
    target: Arc<Target>,
    indexes: Vec<String>,
    batches: Vec<String>,
    tick: Duration,
    stop: Arc<AtomicBool>,
) -> Result<Vec<Post>> {
    let posts = Arc::new(Mutex::new(Vec::new()));
    let mut ticker = tokio::time::interval(tick);
    let mut handles = Vec::new();
    let mut next = 0usize;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        for index in &indexes {
            let body = batches[next % batches.len()].clone();
            next += 1;
            let documents = body.lines().count();
            let (target, posts, path) = (Arc::clone(&target), Arc::clone(&posts), format!("/indexes/{index}/documents"));
            handles.push(tokio::spawn(async move {
                let (at, started) = (now_s(), Instant::now());
                target.enqueue(reqwest::Method::POST, &path, "application/x-ndjson", body).await?;
                posts.lock().unwrap().push(Post { at, documents, latency: started.elapsed() });
                anyhow::Ok(())
            }));
        }
    }
    for handle in handles {
        handle.await??;
    }
    let posts = std::mem::take(&mut *posts.lock().unwrap());
    Ok(posts)
}

/// Samples `/_miroir/status` every 500 ms until `stop`.
async fn sample_status(target: Arc<Target>, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        if let Ok((200, status)) = target.get("/_miroir/status").await {
            samples.extend(Sample::from_status(now_s(), &status));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    samples
}

fn rfc3339_secs(value: &Value) -> Option<f64> {
    let at = time::OffsetDateTime::parse(value.as_str()?, &time::format_description::well_known::Rfc3339).ok()?;
    Some(at.unix_timestamp_nanos() as f64 / 1e9)
}

/// Every task of the node at `url` on a node index of the benchmark.
async fn node_tasks(node: &str, url: &str) -> Result<Vec<NodeTask>> {
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    let mut from: Option<u64> = None;
    loop {
        let page_url = match from {
            Some(from) => format!("{url}/tasks?limit=1000&from={from}"),
            None => format!("{url}/tasks?limit=1000"),
        };
        let page: Value = http.get(page_url).bearer_auth(NODE_KEY).send().await?.error_for_status()?.json().await?;
        for task in page["results"].as_array().context("node tasks")? {
            let Some(node_index) = task["indexUid"].as_str().filter(|uid| uid.starts_with("packages-")) else { continue };
            tasks.push(NodeTask {
                node: node.to_owned(),
                node_index: node_index.to_owned(),
                uid: task["uid"].as_u64().context("task uid")?,
                succeeded: task["status"] == "succeeded",
                enqueued: rfc3339_secs(&task["enqueuedAt"]).context("enqueuedAt")?,
                finished: rfc3339_secs(&task["finishedAt"]),
                documents: task["details"]["indexedDocuments"].as_u64().unwrap_or(0),
                marker: task["customMetadata"].as_str().and_then(parse_marker),
            });
        }
        match page["next"].as_u64() {
            Some(next) => from = Some(next),
            None => return Ok(tasks),
        }
    }
}

/// Waits until the indexers have nothing left to apply and no task is unfinished.
async fn wait_drained(target: &Target) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (_, status) = target.get("/_miroir/status").await?;
        let (_, open) = target.get("/tasks?statuses=enqueued,processing&limit=1").await?;
        if status["indexers"]["totalLag"] == 0 && open["total"] == 0 {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "not drained: lag {} open tasks {}", status["indexers"]["totalLag"], open["total"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn spawn_member(cluster: &Cluster, member: &str) -> Result<ManagedProcess> {
    cluster.spawn_indexer(member, &[("MIROIR_INDEXER_MEMBER", member.to_owned())])
}

struct Run {
    phases: Vec<Phase>,
    events: Vec<Event>,
    samples: Vec<Sample>,
    posts: Vec<Post>,
    tasks: Vec<NodeTask>,
    partitions_of_indexes: Vec<(String, u32)>,
    documents_checked: u64,
    engine: String,
}

async fn bench(args: &Args) -> Result<Run> {
    let meilisearch = find_meilisearch()?;
    let binaries = binaries(args.paths.bin_dir.as_deref())?;
    let indexes = index_names(args.indexes, OPS_PARTITIONS);
    let per_post = (args.rate * args.tick_ms as usize / 1000 / args.indexes).max(1);
    let batches = corpus_batches(&args.paths.corpus(), 63_666, per_post)?;
    eprintln!("cluster: {} nodes, S = {}, RF = {}; indexes {indexes:?}; {per_post} documents per POST", args.nodes, args.shards, args.rf);
    let mut cluster = Cluster::builder(LogKind::Nats)
        .nodes(args.nodes)
        .shards(args.shards)
        .replication_factor(args.rf)
        .node_key(NODE_KEY)
        .master_key(GATEWAY_KEY)
        .topic_prefix("bench")
        .env("MIROIR_OPS_PARTITIONS", OPS_PARTITIONS)
        .env("MIROIR_GROUP_SESSION_MS", GROUP_SESSION_MS)
        .env("MIROIR_INDEXER_MEMBER", "indexer-1")
        .binaries(binaries)
        .meilisearch(&meilisearch)
        .start()
        .await?;
    let target = Arc::new(gateway_target(&cluster, 32)?);
    for (index, _) in &indexes {
        let create = target
            .enqueue(reqwest::Method::POST, "/indexes", "application/json", json!({"uid": index, "primaryKey": "id"}).to_string())
            .await?;
        let configure = target
            .enqueue(reqwest::Method::PATCH, &format!("/indexes/{index}/settings"), "application/json", settings().to_string())
            .await?;
        target.wait_succeeded(create).await?;
        target.wait_succeeded(configure).await?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_status(Arc::clone(&target), Arc::clone(&stop)));
    let names: Vec<String> = indexes.iter().map(|(uid, _)| uid.clone()).collect();
    let ingest =
        tokio::spawn(steady_ingest(Arc::clone(&target), names, batches.clone(), Duration::from_millis(args.tick_ms), Arc::clone(&stop)));

    let mut processes = cluster_processes(&cluster);
    let mut phases: Vec<Phase> = Vec::new();
    let mut events: Vec<Event> = Vec::new();
    let mut members: BTreeMap<&str, ManagedProcess> = BTreeMap::new();
    let plan: [(&str, u64); 5] = [
        ("1 indexer", args.phase_secs),
        ("2 indexers (indexer-2 joined)", args.phase_secs),
        ("3 indexers (indexer-3 joined)", args.phase_secs),
        ("2 indexers (indexer-3 stopped, SIGTERM)", args.leave_secs),
        ("1 indexer (indexer-2 killed, -9)", args.leave_secs),
    ];
    for (i, (name, secs)) in plan.into_iter().enumerate() {
        let start = now_s();
        let event = match i {
            1 | 2 => {
                let member = if i == 1 { "indexer-2" } else { "indexer-3" };
                let process = spawn_member(&cluster, member)?;
                processes.push((member.to_owned(), process.pid()));
                members.insert(member, process);
                Some(format!("{member} joins"))
            }
            3 => {
                let leaving = members.get_mut("indexer-3").context("indexer-3")?;
                // `stop` waits for the exit: keep the ingest's runtime threads free meanwhile.
                tokio::task::block_in_place(|| leaving.stop());
                Some("indexer-3 stops (SIGTERM)".to_owned())
            }
            4 => {
                members.get_mut("indexer-2").context("indexer-2")?.kill9();
                Some("indexer-2 killed (-9)".to_owned())
            }
            _ => None,
        };
        if let Some(event) = event {
            eprintln!("{event}");
            events.push(Event { name: event, at: start, phase: i });
        }
        let meter = CpuMeter::start(&processes);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        cluster.miroir().check_alive()?;
        phases.push(Phase { name: name.to_owned(), start, end: now_s(), cpu: meter.used() });
    }
    stop.store(true, Ordering::Relaxed);
    let posts = ingest.await??;
    eprintln!("ingest stopped after {} POSTs; waiting for the indexer to apply everything", posts.len());
    wait_drained(&target).await?;
    let samples = sampler.await?;

    let (_, failed) = target.get("/tasks?statuses=failed,canceled&limit=1").await?;
    ensure!(failed["total"] == 0, "some tasks failed: {failed}");
    let documents_checked = check_documents(&target, &indexes, &batches, &posts, args.indexes).await?;

    let mut tasks = Vec::new();
    for (i, url) in cluster.nodes.urls().iter().enumerate() {
        tasks.extend(node_tasks(&format!("node-{i}"), url).await?);
    }
    drop(members);
    Ok(Run { phases, events, samples, posts, tasks, partitions_of_indexes: indexes, documents_checked, engine: engine_name(&meilisearch) })
}

/// Every index holds exactly the distinct documents posted to it (batches were dealt round
/// robin over the indexes, tick after tick); returns how many documents were checked.
async fn check_documents(target: &Target, indexes: &[(String, u32)], batches: &[String], posts: &[Post], count: usize) -> Result<u64> {
    let mut ids: Vec<BTreeSet<String>> = vec![BTreeSet::new(); count];
    for sent in 0..posts.len() {
        for line in batches[sent % batches.len()].lines() {
            let document: Value = serde_json::from_str(line)?;
            ids[sent % count].insert(document["id"].to_string());
        }
    }
    let mut checked = 0;
    for ((index, _), expected) in indexes.iter().zip(&ids) {
        let (_, stats) = target.get(&format!("/indexes/{index}/stats")).await?;
        let held = stats["numberOfDocuments"].as_u64().context("index stats")?;
        if held != expected.len() as u64 {
            bail!("{index} holds {held} documents, {} distinct were posted", expected.len());
        }
        checked += held;
    }
    Ok(checked)
}

fn markdown(args: &Args, run: &Run, load_before: &str) -> String {
    let mut out = format!("## {}\n\n", args.section);
    let per_post = (args.rate * args.tick_ms as usize / 1000 / args.indexes).max(1);
    out.push_str(&format!(
        "Nodes: **{}**. Machine: **2 shared cores**, 24 GiB; the client, gateway, reconciler, NATS, 3 nodes and up to 3 indexers \
         all contend for them over loopback (1-min load average {load_before} before, {} after), so more indexers cannot mean \
         more CPU for the nodes: this measures what moving partitions costs, not how far indexers scale on real machines. Date: {}.\n\
         Command: `cargo build --release -p miroir-gateway -p miroir-indexer -p miroir-reconciler --bins && cargo build --release -p \
         miroir-integration --bin bench_indexers && target/release/bench_indexers --rate {} --section '{}' --write-docs \
         docs/benchmarks.md`.\n\n",
        run.engine,
        load_average(),
        time::OffsetDateTime::now_utc().date(),
        args.rate,
        args.section,
    ));
    out.push_str(&format!(
        "{} nodes, S = {}, RF = {}, NATS JetStream, {OPS_PARTITIONS} `ops` partitions, group session {GROUP_SESSION_MS} ms (the \
         defaults; a member renews its leases every session / 4). A steady ingest posts {per_post} Debian packages to each of {} \
         indexes every {} ms ({} documents/s offered; every index on its own `ops` partition, since all of an index's operations \
         share one), while indexers join and leave the group. *Applied* counts the documents of node tasks that finished in the \
         phase, divided by RF; *lag* is the indexers' consumer lag in `ops` records (one per shard per POST), sampled every 500 ms \
         from `/_miroir/status`; *node task* is a node task's time from enqueued to finished (the indexer waits for it); CPU is user + system seconds per process over the phase, as a share of one core.\n\n",
        args.nodes, args.shards, args.rf, args.indexes, args.tick_ms, args.rate
    ));
    out.push_str(
        "| phase | s | offered docs/s | applied docs/s | 202 p50 / p99 (ms) | node task p50 / p99 (s) | lag mean / max (records) | \
         worst partition lag | CPU % nodes | nats | gateway | indexers | reconciler |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for phase in &run.phases {
        let within = |at: f64| at >= phase.start && at < phase.end;
        let secs = phase.end - phase.start;
        let posts: Vec<&Post> = run.posts.iter().filter(|p| within(p.at)).collect();
        let offered = posts.iter().map(|p| p.documents).sum::<usize>() as f64 / secs;
        let latencies: Vec<Duration> = posts.iter().map(|p| p.latency).collect();
        let applied = run.tasks.iter().filter(|t| t.succeeded && t.finished.is_some_and(within)).map(|t| t.documents).sum::<u64>() as f64
            / args.rf as f64
            / secs;
        let node_latencies: Vec<Duration> = run
            .tasks
            .iter()
            .filter_map(|t| t.finished.filter(|f| t.succeeded && within(*f)).map(|f| Duration::from_secs_f64((f - t.enqueued).max(0.0))))
            .collect();
        let samples: Vec<&Sample> = run.samples.iter().filter(|s| within(s.at)).collect();
        let lags: Vec<u64> = samples.iter().map(|s| s.total_lag()).collect();
        let mean = lags.iter().sum::<u64>() as f64 / lags.len().max(1) as f64;
        let worst = samples.iter().flat_map(|s| s.partitions.values().map(|(lag, _)| *lag)).max().unwrap_or(0);
        let cpu = |prefix: &str| {
            let seconds: f64 = phase.cpu.iter().filter(|(name, _)| name.starts_with(prefix)).map(|(_, s)| s).sum();
            format!("{:.0}", 100.0 * seconds / secs)
        };
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {} / {} | {:.1} / {:.1} | {:.0} / {} | {} | {} | {} | {} | {} | {} |\n",
            phase.name,
            secs,
            offered,
            applied,
            percentile(&latencies, 50.0).as_millis(),
            percentile(&latencies, 99.0).as_millis(),
            percentile(&node_latencies, 50.0).as_secs_f64(),
            percentile(&node_latencies, 99.0).as_secs_f64(),
            mean,
            lags.iter().max().unwrap_or(&0),
            worst,
            cpu("node"),
            cpu("nats"),
            cpu("gateway"),
            cpu("indexer"),
            cpu("reconciler"),
        ));
    }
    out.push_str(&pauses_table(run));
    let repeated = repeated_checkpoints(&run.tasks);
    let checkpointed = run.tasks.iter().filter(|t| t.succeeded && t.marker.is_some()).count();
    out.push_str(&format!(
        "\n**Applied once.** {checkpointed} succeeded node tasks carry a checkpoint; per replica (node index) and partition, in node \
         task order, {} of them repeat or go below the previous one's last position (a task applied twice would). After the \
         ingest stopped, every task succeeded and every index holds exactly the distinct documents posted to it ({} documents \
         checked).{}\n",
        repeated.len(),
        run.documents_checked,
        if repeated.is_empty() { String::new() } else { format!(" First: {}", repeated[0]) },
    ));
    out
}

/// Per join or leave: the partitions that changed owner, when the new owner showed in the
/// status, and the longest time without an operation reaching a node on them, next to the
/// same on partitions that stayed.
fn pauses_table(run: &Run) -> String {
    let mut out = String::from(
        "\n| event | partitions moved | new owner shown after (s) | longest gap, moved partitions (s) | longest gap, other partitions (s) |\n\
         |---|---|---:|---:|---:|\n",
    );
    for event in &run.events {
        let phase = &run.phases[event.phase];
        let before = run.samples.iter().rev().find(|s| s.at < event.at);
        let after = run.samples.iter().rev().find(|s| s.at < phase.end);
        let (Some(before), Some(after)) = (before, after) else { continue };
        let moved = moved_partitions(before, after);
        let handover =
            moved.iter().filter_map(|p| handover_secs(&run.samples, *p, after.owner(*p), event.at, phase.end)).fold(0.0, f64::max);
        let gap_on = |partitions: &[u32]| {
            partitions
                .iter()
                .map(|p| {
                    let times: Vec<f64> =
                        run.tasks.iter().filter(|t| t.marker.is_some_and(|m| m.partition == *p)).map(|t| t.enqueued).collect();
                    longest_gap(&times, event.at, phase.end)
                })
                .fold(0.0, f64::max)
        };
        let used: BTreeSet<u32> = run.partitions_of_indexes.iter().map(|(_, p)| *p).collect();
        let stayed: Vec<u32> = used.iter().copied().filter(|p| !moved.contains(p)).collect();
        let moved_used: Vec<u32> = moved.iter().copied().filter(|p| used.contains(p)).collect();
        let owners = |sample: &Sample, p: u32| sample.owner(p).unwrap_or("-").to_owned();
        let moves: Vec<String> = moved.iter().map(|p| format!("{p}: {} → {}", owners(before, *p), owners(after, *p))).collect();
        out.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {} |\n",
            event.name,
            if moves.is_empty() { "none".to_owned() } else { moves.join(", ") },
            handover,
            gap_on(&moved_used),
            if stayed.is_empty() { "–".to_owned() } else { format!("{:.1}", gap_on(&stayed)) },
        ));
    }
    out
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let load_before = load_average();
    let run = bench(&args).await?;
    let section = markdown(&args, &run, &load_before);
    println!("{section}");
    if let Some(path) = &args.paths.write_docs {
        write_section(path, &format!("## {}", args.section), &section)?;
        eprintln!("wrote the {} section of {}", args.section, path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(node_index: &str, uid: u64, metadata: &str) -> NodeTask {
        NodeTask {
            node: "node-0".into(),
            node_index: node_index.into(),
            uid,
            succeeded: true,
            enqueued: uid as f64,
            finished: None,
            documents: 0,
            marker: parse_marker(metadata),
        }
    }

    #[test]
    fn markers_parse_single_and_merged() {
        assert_eq!(parse_marker("miroir:3:17"), Some(Marker { partition: 3, last: 17, first: None }));
        assert_eq!(parse_marker("miroir:3:17:12"), Some(Marker { partition: 3, last: 17, first: Some(12) }));
        assert_eq!(parse_marker("user data"), None);
    }

    #[test]
    fn a_checkpoint_that_does_not_go_up_is_reported() {
        let clean = [task("a__rank-0", 1, "miroir:0:5"), task("a__rank-0", 2, "miroir:0:9:6"), task("a__rank-1", 3, "miroir:0:5")];
        assert!(repeated_checkpoints(&clean).is_empty());
        let repeated = [task("a__rank-0", 1, "miroir:0:5"), task("a__rank-0", 2, "miroir:0:5")];
        assert_eq!(repeated_checkpoints(&repeated).len(), 1);
        let overlapping = [task("a__rank-0", 1, "miroir:0:5"), task("a__rank-0", 2, "miroir:0:9:4")];
        assert_eq!(repeated_checkpoints(&overlapping).len(), 1);
        let mut failed = task("a__rank-0", 2, "miroir:0:5");
        failed.succeeded = false;
        assert!(repeated_checkpoints(&[task("a__rank-0", 1, "miroir:0:5"), failed]).is_empty(), "a failed task applied nothing");
    }

    #[test]
    fn the_longest_gap_counts_the_window_edges() {
        assert_eq!(longest_gap(&[11.0, 12.0, 18.0], 10.0, 20.0), 6.0);
        assert_eq!(longest_gap(&[15.0], 10.0, 17.0), 5.0);
        assert_eq!(longest_gap(&[], 10.0, 13.0), 3.0);
        assert_eq!(longest_gap(&[5.0, 25.0], 10.0, 13.0), 3.0, "times outside the window are ignored");
    }

    #[test]
    fn moves_and_handovers_follow_the_owners() {
        let sample = |at: f64, owners: [&str; 2]| Sample {
            at,
            partitions: owners.iter().enumerate().map(|(p, o)| (p as u32, (0, (!o.is_empty()).then(|| o.to_string())))).collect(),
        };
        let samples = [sample(0.0, ["a", "a"]), sample(1.0, ["a", ""]), sample(2.0, ["a", "b"]), sample(3.0, ["a", "b"])];
        assert_eq!(moved_partitions(&samples[0], &samples[3]), vec![1]);
        assert_eq!(handover_secs(&samples, 1, Some("b"), 0.5, 9.0), Some(1.5));
        assert_eq!(handover_secs(&samples, 0, Some("a"), 0.5, 9.0), Some(0.5), "kept: shown at the first sample after the event");
        assert_eq!(handover_secs(&samples, 1, Some("b"), 0.5, 1.5), None, "not within the window");
    }

    #[test]
    fn index_names_cover_distinct_partitions_first() {
        let names = index_names(8, 8);
        let partitions: BTreeSet<u32> = names.iter().map(|(_, p)| *p).collect();
        assert_eq!(partitions.len(), 8);
        assert_eq!(index_names(10, 8).len(), 10);
    }
}

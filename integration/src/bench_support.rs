//! What the cluster benchmarks share (`bench_ingest`, `bench_search`): the corpus as NDJSON
//! batches, an HTTP target (a node or the gateway) that loads and waits for tasks, a Miroir
//! cluster on loopback, and the markdown section writer for `docs/benchmarks.md`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::brokers::LogKind;
use crate::cluster::Cluster;
use crate::locate::MiroirBinaries;
use crate::wait::{wait_until, Deadline, Progress};

/// Where a cluster benchmark finds its inputs and writes its section.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchPaths {
    /// The corpus (`.ndjson.zst`); default: `../shared/datasets` beside the checkout.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Directory holding miroir-gateway, miroir-indexer, miroir-reconciler (default: beside this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Replace this benchmark's section of this markdown file with the results.
    #[arg(long)]
    pub write_docs: Option<PathBuf>,
}

impl BenchPaths {
    pub fn corpus(&self) -> PathBuf {
        self.corpus.clone().unwrap_or_else(default_corpus)
    }
}

/// The index every benchmark loads.
pub const INDEX: &str = "packages";
pub const GATEWAY_KEY: &str = "bench-master-key";
pub const NODE_KEY: &str = "bench-node-key";
/// Bound on one task: turns a stuck task into an error.
const TASK_BOUND: Duration = Duration::from_secs(3600);

/// The Debian packages corpus ([`crate::locate::corpus_path`]).
pub fn default_corpus() -> PathBuf {
    crate::locate::corpus_path()
}

/// The first `count` corpus documents, as NDJSON bodies of `batch` documents each.
pub fn corpus_batches(corpus: &Path, count: usize, batch: usize) -> Result<Vec<String>> {
    let lines = crate::corpus::corpus_lines(corpus, count)?;
    if lines.len() < count {
        bail!("the corpus has {} documents, {count} asked", lines.len());
    }
    Ok(lines.chunks(batch.max(1)).map(|chunk| chunk.join("\n") + "\n").collect())
}

/// The settings both targets get, so the same queries are valid on both.
pub fn settings() -> Value {
    json!({
        "filterableAttributes": ["section", "priority", "architecture", "installed_size_kb", "tags"],
        "sortableAttributes": ["installed_size_kb", "download_size", "name"],
    })
}

/// An HTTP API (a node or the gateway) and its key.
pub struct Target {
    pub url: String,
    /// Where the target serves Prometheus metrics (the gateway's operations listener).
    pub metrics_url: Option<String>,
    key: String,
    http: reqwest::Client,
}

impl Target {
    pub fn new(url: &str, key: &str, connections: usize) -> Result<Target> {
        // Nagle off: a pooled keep-alive connection otherwise waits on delayed ACKs on loopback.
        let http =
            reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(connections).timeout(Duration::from_secs(300)).build()?;
        Ok(Target { url: url.to_owned(), metrics_url: None, key: key.to_owned(), http })
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, content_type: &str, body: String) -> Result<(u16, Value)> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.key)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .with_context(|| path.to_owned())?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let response = self.http.get(format!("{}{path}", self.url)).bearer_auth(&self.key).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Sends a write and returns its task uid.
    pub async fn enqueue(&self, method: reqwest::Method, path: &str, content_type: &str, body: String) -> Result<u64> {
        let (status, answer) = self.send(method, path, content_type, body).await?;
        match answer["taskUid"].as_u64() {
            Some(uid) if status == 202 => Ok(uid),
            _ => bail!("{path}: {status} {answer}"),
        }
    }

    /// Waits until task `uid` succeeded (polling every 20 ms, as tight as an SDK's wait loop).
    pub async fn wait_succeeded(&self, uid: u64) -> Result<()> {
        let deadline = Deadline::after(TASK_BOUND).polling_every(Duration::from_millis(20));
        wait_until(deadline, format!("task {uid} did not finish"), async || {
            let (status, task) = self.get(&format!("/tasks/{uid}")).await?;
            match task["status"].as_str() {
                Some("succeeded") => Ok(Progress::Done(())),
                Some("failed" | "canceled") => bail!("task {uid} did not succeed: {task}"),
                _ if status != 200 && status != 404 => bail!("/tasks/{uid}: {status} {task}"),
                _ => Ok(Progress::Waiting(task.to_string())),
            }
        })
        .await
    }

    /// Creates [`INDEX`] with its settings and waits for both (not timed).
    pub async fn create_index(&self) -> Result<()> {
        let create = json!({"uid": INDEX, "primaryKey": "id"}).to_string();
        let created = self.enqueue(reqwest::Method::POST, "/indexes", "application/json", create).await?;
        let settings =
            self.enqueue(reqwest::Method::PATCH, &format!("/indexes/{INDEX}/settings"), "application/json", settings().to_string()).await?;
        self.wait_succeeded(created).await?;
        self.wait_succeeded(settings).await
    }

    /// Posts every batch back to back, then waits for every task: the time from the first POST
    /// to the last task succeeded.
    pub async fn ingest(&self, batches: &[String]) -> Result<Duration> {
        let start = Instant::now();
        let mut uids = Vec::with_capacity(batches.len());
        for batch in batches {
            uids.push(
                self.enqueue(reqwest::Method::POST, &format!("/indexes/{INDEX}/documents"), "application/x-ndjson", batch.clone()).await?,
            );
        }
        for uid in uids {
            self.wait_succeeded(uid).await?;
        }
        Ok(start.elapsed())
    }

    pub async fn search(&self, body: &Value) -> Result<(u16, Value)> {
        self.send(reqwest::Method::POST, &format!("/indexes/{INDEX}/search"), "application/json", body.to_string()).await
    }

    /// `numberOfDocuments` of [`INDEX`].
    pub async fn document_count(&self) -> Result<u64> {
        let (status, stats) = self.get(&format!("/indexes/{INDEX}/stats")).await?;
        stats["numberOfDocuments"].as_u64().with_context(|| format!("index stats: {status} {stats}"))
    }
}

/// A Miroir cluster on loopback: `nodes` nodes in one replica group, NATS JetStream, and the
/// gateway, indexer and reconciler processes. Dropping it stops everything.
pub async fn start_cluster(binaries: &MiroirBinaries, meilisearch: &Path, nodes: usize, shards: u32, rf: u32) -> Result<Cluster> {
    Cluster::builder(LogKind::Nats)
        .nodes(nodes)
        .shards(shards)
        .replication_factor(rf)
        .node_key(NODE_KEY)
        .master_key(GATEWAY_KEY)
        .topic_prefix("bench")
        .binaries(binaries.clone())
        .meilisearch(meilisearch)
        .start()
        .await
}

/// Every process of `cluster` by role, for [`CpuMeter`].
pub fn cluster_processes(cluster: &Cluster) -> Vec<(String, u32)> {
    let mut processes: Vec<(String, u32)> =
        cluster.nodes.pids().into_iter().enumerate().map(|(i, pid)| (format!("node {i}"), pid)).collect();
    processes.push(("nats-server".to_owned(), cluster.broker.pid()));
    let miroir = cluster.miroir.as_ref().expect("a benchmark cluster runs Miroir");
    processes.extend(miroir.all().map(|process| (process.name().to_owned(), process.pid())));
    processes
}

/// The gateway of `cluster` as a benchmark target.
pub fn gateway_target(cluster: &Cluster, connections: usize) -> Result<Target> {
    let mut target = Target::new(cluster.gateway_url(), GATEWAY_KEY, connections)?;
    target.metrics_url = Some(cluster.gateway_metrics_url().to_owned());
    Ok(target)
}

/// Which node binary the benchmark runs, as the report names it: the version it prints.
pub fn engine_name(meilisearch: &Path) -> String {
    let version = std::process::Command::new(meilisearch)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("real Meilisearch ({version})")
}

/// The Miroir binaries: from `dir`, else beside the running benchmark.
pub fn binaries(dir: Option<&Path>) -> Result<MiroirBinaries> {
    match dir {
        Some(dir) => MiroirBinaries::in_dir(dir),
        None => MiroirBinaries::beside_current_exe(),
    }
    .context("run cargo build --workspace --bins (with --release for target/release)")
}

/// CPU seconds (user + system, every thread) process `pid` has used so far, from
/// `/proc/<pid>/stat` (clock ticks of 1/100 s, Linux's `USER_HZ`).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name (field 2) may hold spaces; fields after its closing parenthesis are fixed
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |at: usize| fields.get(at)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// CPU seconds used by named processes between two points of a benchmark.
pub struct CpuMeter {
    start: Vec<(String, u32, f64)>,
}

impl CpuMeter {
    pub fn start(processes: &[(String, u32)]) -> CpuMeter {
        CpuMeter { start: processes.iter().map(|(name, pid)| (name.clone(), *pid, cpu_seconds(*pid).unwrap_or(0.0))).collect() }
    }

    /// Each process's CPU seconds since [`CpuMeter::start`].
    pub fn used(&self) -> Vec<(String, f64)> {
        self.start.iter().map(|(name, pid, before)| (name.clone(), cpu_seconds(*pid).unwrap_or(*before) - before)).collect()
    }
}

/// A counter's total over every label set, from the Prometheus text at `metrics_url`
/// (zero before it was first counted).
pub async fn counter_total(metrics_url: &str, name: &str) -> Result<f64> {
    let text = reqwest::get(format!("{metrics_url}/metrics")).await?.text().await?;
    Ok(text
        .lines()
        .filter(|line| line.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{')))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum())
}

/// The nearest-rank `p`-th percentile (0–100) of `latencies` (zero when there are none).
pub fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied().unwrap_or_default()
}

/// The 1-, 5- and 15-minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

/// Replaces the section that starts with `heading` (a `## ` line, up to the next `## `
/// heading) by `section`, or appends `section`.
pub fn replace_section(document: &str, heading: &str, section: &str) -> String {
    let heading = format!("{}\n", heading.trim_end());
    let Some(start) = document.find(&heading) else {
        return format!("{}\n\n{section}", document.trim_end());
    };
    let rest = &document[start + heading.len()..];
    let end = rest.find("\n## ").map_or(document.len(), |i| start + heading.len() + i + 1);
    format!("{}{section}{}{}", &document[..start], if end < document.len() { "\n" } else { "" }, &document[end..])
}

/// Writes `section` into the markdown file at `path` in place of its `heading` section.
pub fn write_section(path: &Path, heading: &str, section: &str) -> Result<()> {
    let document = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    std::fs::write(path, replace_section(&document, heading, section)).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_in_place_or_appended() {
        let doc = "# Benchmarks\n\n## Log\n\nlog table\n\n## Search\n\nold\n\n## Other\n\nkept\n";
        let replaced = replace_section(doc, "## Search", "## Search\n\nnew\n");
        assert_eq!(replaced, "# Benchmarks\n\n## Log\n\nlog table\n\n## Search\n\nnew\n\n## Other\n\nkept\n");
        let last = replace_section("# B\n\n## Search\n\nold\n", "## Search", "## Search\n\nnew\n");
        assert_eq!(last, "# B\n\n## Search\n\nnew\n");
        let appended = replace_section("# B\n\n## Log\n\nx\n", "## Search", "## Search\n\nnew\n");
        assert_eq!(appended, "# B\n\n## Log\n\nx\n\n## Search\n\nnew\n");
        let first = replace_section("# B\n\n## Log\n\nold\n\n## Search\n\ns\n", "## Log", "## Log\n\nnew\n");
        assert_eq!(first, "# B\n\n## Log\n\nnew\n\n## Search\n\ns\n");
    }
}

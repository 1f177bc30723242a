//! Verify passes (anti-entropy): the node I/O behind the pure rules of
//! [`miroir_schemas::drift`]. For every index, the settings of all its node indexes are
//! compared; for every shard, every replica (all replica groups) is read page by page through
//! `documents/fetch` narrowed to the shard, folded into per-bucket digests, the documents of the
//! buckets that differ are read again, and the majority decides (`docs/repair.md`). With
//! `repair`, each replica that differs gets the majority's documents and settings written to its
//! node index directly, and the documents the majority lacks deleted.
//!
//! A shard is compared only while nothing is being written to it (the indexers have committed
//! the index's `ops` partition to its end and no replica has node tasks in flight on the node
//! index), checked before and after reading: replicas that have applied the same log prefix must
//! hold the same documents, so what differs was altered behind the cluster's back. A shard that
//! is not settled is skipped and reported; the next pass takes it again.
//!
//! Cost: a pass reads every document of every replica once (twice for divergent buckets),
//! `page_size` at a time with `page_pause` between pages; memory holds one page, the bucket
//! digests and the documents of divergent buckets. Each shard is a unit: an interrupted pass is
//! restarted (from one index with `index`) at the cost of the shards already done.

mod settings;
mod shard;
mod strays;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use miroir_schemas::drift::digest::DEFAULT_BUCKETS;
use miroir_schemas::drift::report::{IndexReport, ShardStatus, VerifyReport};
use miroir_schemas::meta_log::topology_changes::TopologyBook;
use miroir_schemas::node_layout::parse_node_index_uid;
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::Topology;
use reqwest::Method;
use serde_json::Value;

use crate::log::{LogError, WriteLog};
use crate::node::{NodeClient, NodeClientConfig, NodeError};

/// What a pass does and how hard it presses on the nodes.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Only this index; every index found on the nodes when `None`.
    pub index: Option<String>,
    /// Write the majority's documents and settings to the replicas that differ.
    pub repair: bool,
    /// Buckets of the document-id hash space digested per shard.
    pub buckets: u32,
    /// Documents read per `documents/fetch` request.
    pub page_size: u32,
    /// Pause after each page read (throttle).
    pub page_pause: Duration,
    /// The indexers' consumer group on `ops`, whose committed position says whether writes to
    /// an index are still on their way to the nodes.
    pub indexer_group: String,
    /// How long a repair's node task may take.
    pub task_timeout: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            index: None,
            repair: false,
            buckets: DEFAULT_BUCKETS,
            page_size: 1000,
            page_pause: Duration::ZERO,
            indexer_group: crate::cluster_config::DEFAULT_INDEXER_GROUP.to_owned(),
            task_timeout: Duration::from_secs(120),
        }
    }
}

/// Why a shard or an index could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Log(#[from] LogError),
    /// Writes are on their way to the replicas: comparing now would report them as drift.
    #[error("writes in flight: {0}")]
    Unsettled(String),
    #[error("{0}")]
    Repair(String),
}

/// The nodes and the log a pass talks to.
pub struct Cluster<'a> {
    /// The placement of [`Cluster::layout`].
    pub placement: &'a Placement,
    /// The index layout node indexes are named by (docs/resharding.md); with a `book`, each
    /// index's own layout and its placement are taken from it instead.
    pub layout: Option<u32>,
    /// The topology book, for each index's layout and for skipping an index being resharded
    /// (both of its layouts exist then); `None`: every index in `layout`.
    pub book: Option<&'a TopologyBook>,
    /// A client per node, by node id.
    pub nodes: &'a BTreeMap<String, NodeClient>,
    /// The log, for the settled check; `None` skips that half of it (tests without indexers).
    pub log: Option<&'a dyn WriteLog>,
}

impl Cluster<'_> {
    /// The node index of `index` at `rank` in this pass's layout.
    pub fn node_index_uid(&self, index: &str, rank: miroir_schemas::node_layout::ReplicaRank) -> String {
        miroir_schemas::node_layout::layout_node_index_uid(index, self.layout, rank)
    }
}

/// A client per node of `topology`, by node id, for [`Cluster::nodes`].
pub fn node_clients(topology: &Topology) -> Result<BTreeMap<String, NodeClient>, NodeError> {
    topology
        .nodes
        .iter()
        .map(|node| Ok((node.id.clone(), NodeClient::new(NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone()))?)))
        .collect()
}

/// Runs one pass and reports what it found (and repaired), logging a summary and updating the
/// `miroir_drift_*` metrics.
pub async fn verify(cluster: &Cluster<'_>, options: &VerifyOptions) -> VerifyReport {
    let started = Instant::now();
    let mut report = VerifyReport { repair: options.repair, ..VerifyReport::default() };
    let indexes = match &options.index {
        Some(index) => Ok(vec![index.clone()]),
        None => indexes_on_nodes(cluster.nodes).await,
    };
    match indexes {
        Ok(indexes) => {
            for index in indexes {
                let Some(book) = cluster.book else {
                    report.indexes.push(verify_index(cluster, &index, options).await);
                    continue;
                };
                if book.layouts().reshard().is_some_and(|reshard| reshard.index == index) {
                    let error = Some("the index is being resharded: not verified in this pass".to_owned());
                    report.indexes.push(IndexReport { index, error, ..IndexReport::default() });
                    continue;
                }
                let layout = book.layouts().layout(&index);
                let placement = book.newest_placement(layout);
                let of_index = Cluster { placement, layout, book: None, nodes: cluster.nodes, log: cluster.log };
                report.indexes.push(verify_index(&of_index, &index, options).await);
            }
        }
        Err(error) => {
            report.indexes.push(IndexReport { error: Some(format!("listing the nodes' indexes: {error}")), ..IndexReport::default() })
        }
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.sum_totals();
    record_metrics(&report);
    let t = &report.totals;
    tracing::info!(
        repair = options.repair,
        indexes = report.indexes.len(),
        scanned = t.scanned_documents,
        mismatched = t.mismatched_documents,
        repaired = t.repaired_documents,
        unresolved = t.unresolved_documents,
        mismatched_settings = t.mismatched_settings,
        repaired_settings = t.repaired_settings,
        skipped_shards = t.skipped_shards,
        stray_documents = t.stray_documents,
        duration_ms = report.duration_ms,
        "verify pass done"
    );
    report
}

fn record_metrics(report: &VerifyReport) {
    let t = &report.totals;
    metrics::counter!("miroir_drift_passes_total").increment(1);
    metrics::counter!("miroir_drift_documents_scanned_total").increment(t.scanned_documents);
    metrics::counter!("miroir_drift_documents_mismatched_total").increment(t.mismatched_documents);
    metrics::counter!("miroir_drift_documents_repaired_total").increment(t.repaired_documents);
    metrics::counter!("miroir_drift_documents_unresolved_total").increment(t.unresolved_documents);
    metrics::counter!("miroir_drift_settings_mismatched_total").increment(t.mismatched_settings);
    metrics::counter!("miroir_drift_settings_repaired_total").increment(t.repaired_settings);
    metrics::counter!("miroir_drift_shards_skipped_total").increment(t.skipped_shards);
    metrics::counter!("miroir_drift_stray_documents_total").increment(t.stray_documents);
    metrics::counter!("miroir_drift_strays_deleted_total").increment(t.deleted_strays);
}

/// The user indexes some node holds a node index of, in order.
async fn indexes_on_nodes(nodes: &BTreeMap<String, NodeClient>) -> Result<Vec<String>, NodeError> {
    const PAGE: usize = 1000;
    let mut indexes = BTreeSet::new();
    for client in nodes.values() {
        let mut offset = 0;
        loop {
            let query = [("offset", offset.to_string()), ("limit", PAGE.to_string())];
            let (_, page) = client.request_json(Method::GET, "/indexes", &query, None).await?;
            let results = page["results"].as_array().cloned().unwrap_or_default();
            for uid in results.iter().filter_map(|index| index["uid"].as_str()) {
                if let Some((index, _)) = parse_node_index_uid(uid) {
                    indexes.insert(index.to_owned());
                }
            }
            offset += results.len();
            if results.len() < PAGE {
                break;
            }
        }
    }
    Ok(indexes.into_iter().collect())
}

async fn verify_index(cluster: &Cluster<'_>, index: &str, options: &VerifyOptions) -> IndexReport {
    let mut report = IndexReport { index: index.to_owned(), ..IndexReport::default() };
    report.settings = settings::verify_settings(cluster, index, options).await;
    let primary_key = match primary_key(cluster, index).await {
        Ok(key) => key,
        Err(error) => {
            report.error = Some(error.to_string());
            return report;
        }
    };
    if let Some(primary_key) = &primary_key {
        // Before the shards: a document of a held shard written without its shard field is
        // deleted here and then copied back from the majority as missing.
        match strays::verify_strays(cluster, index, primary_key, options).await {
            Ok((listed, found, deleted)) => (report.strays, report.stray_documents, report.deleted_strays) = (listed, found, deleted),
            Err(error) => report.error = Some(format!("looking for stray documents: {error}")),
        }
    }
    for shard in cluster.placement.shards() {
        let mut shard_report = shard::verify_shard(cluster, index, primary_key.as_deref(), shard, options).await;
        if shard_report.status == ShardStatus::Skipped {
            tracing::warn!(index, shard = shard.0, reason = shard_report.reason.as_deref().unwrap_or(""), "shard not verified");
        }
        shard_report.shard = shard.0;
        report.shards.push(shard_report);
    }
    report
}

/// The index's primary key, from the first node index that answers (`None`: not known yet, the
/// index holds no document).
async fn primary_key(cluster: &Cluster<'_>, index: &str) -> Result<Option<String>, DriftError> {
    let mut last_error = None;
    for (node, rank) in node_indexes(cluster.placement) {
        let client = &cluster.nodes[&node];
        let path = format!("/indexes/{}", cluster.node_index_uid(index, rank));
        match client.request_json(Method::GET, &path, &[], None).await {
            Ok((_, answer)) => return Ok(answer["primaryKey"].as_str().map(str::to_owned)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.map_or_else(|| DriftError::Repair("no node holds the index".into()), DriftError::Node))
}

/// Every (node, rank) that holds some shard at that rank, so a node index of every index.
fn node_indexes(placement: &Placement) -> Vec<(String, miroir_schemas::node_layout::ReplicaRank)> {
    let topology = placement.topology();
    let mut out = Vec::new();
    for node in &topology.nodes {
        for rank in 0..topology.replication_factor {
            let rank = miroir_schemas::node_layout::ReplicaRank(rank);
            if !placement.shards_of_node_at(&node.id, rank).is_empty() {
                out.push((node.id.clone(), rank));
            }
        }
    }
    out
}

/// Waits for a repair's node task; its failure is the node's error.
async fn wait_applied(client: &NodeClient, task_uid: u64, options: &VerifyOptions) -> Result<(), DriftError> {
    let task = client.wait_for_task(task_uid, Duration::from_millis(50), options.task_timeout).await?;
    match task.error {
        None if task.status == crate::node::TaskStatus::Succeeded => Ok(()),
        error => Err(DriftError::Repair(format!(
            "node {} task {task_uid} ended {:?}: {}",
            client.node_id(),
            task.status,
            error.map_or_else(String::new, |e| e.message)
        ))),
    }
}

/// The JSON object of a `documents/fetch` answer's results.
fn results(page: &Value) -> &[Value] {
    page["results"].as_array().map_or(&[], Vec::as_slice)
}

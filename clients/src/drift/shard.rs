//! One shard: every replica read and digested, the documents of divergent buckets compared,
//! and (with `repair`) the replicas that differ brought in line with the majority.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use miroir_schemas::document_id::document_id;
use miroir_schemas::drift::digest::{bucket_of, divergent_buckets, document_hash, BucketDigests};
use miroir_schemas::drift::plan::{plan_documents, DocumentFix, DocumentPlan};
use miroir_schemas::drift::report::{MismatchReport, ReplicaReport, ShardReport, ShardStatus, LISTED_MISMATCHES};
use miroir_schemas::envelope::ops_key;
use miroir_schemas::node_layout::narrowed_to_shards;
use miroir_schemas::topology::ShardId;
use serde_json::{json, Value};

use super::{results, wait_applied, Cluster, DriftError, VerifyOptions};
use crate::log::{partition_for_key, Topic};
use crate::node::{DocumentsMethod, NodeClient, TaskFilter, TaskStatus, WriteParams};

/// One replica of the shard: the node index holding it.
pub(super) struct Replica<'a> {
    pub node: String,
    pub client: &'a NodeClient,
    pub node_index: String,
}

/// A replica's documents of the divergent buckets: id → (content hash, document).
type Held = BTreeMap<String, (u64, Value)>;

pub(super) async fn verify_shard(
    cluster: &Cluster<'_>,
    index: &str,
    primary_key: Option<&str>,
    shard: ShardId,
    options: &VerifyOptions,
) -> ShardReport {
    let replicas: Vec<Replica> = cluster
        .placement
        .replicas(shard)
        .into_iter()
        .filter_map(|node| {
            let rank = cluster.placement.rank_of(shard, &node.id)?;
            Some(Replica { node: node.id.clone(), client: cluster.nodes.get(&node.id)?, node_index: cluster.node_index_uid(index, rank) })
        })
        .collect();
    match compare(cluster, index, primary_key, shard, &replicas, options).await {
        Ok(report) => report,
        Err(error) => ShardReport { status: ShardStatus::Skipped, reason: Some(error.to_string()), ..ShardReport::default() },
    }
}

async fn compare(
    cluster: &Cluster<'_>,
    index: &str,
    primary_key: Option<&str>,
    shard: ShardId,
    replicas: &[Replica<'_>],
    options: &VerifyOptions,
) -> Result<ShardReport, DriftError> {
    let before = settled(cluster, index, replicas, options).await?;
    let mut report = ShardReport::default();
    let Some(primary_key) = primary_key else {
        // No document ever reached the index: nothing to compare.
        report.replicas = replicas.iter().map(|r| replica_report(r, 0)).collect();
        return Ok(report);
    };
    let filter = narrowed_to_shards(&Value::Null, &[shard]);
    let mut digests = Vec::with_capacity(replicas.len());
    for replica in replicas {
        let mut digest = BucketDigests::new(options.buckets);
        for_each_document(replica, &filter, options, |id, hash, _| digest.add(id, hash), primary_key).await?;
        report.replicas.push(replica_report(replica, digest.documents()));
        digests.push(digest);
    }
    let divergent: BTreeSet<u32> = divergent_buckets(&digests).into_iter().collect();
    report.divergent_buckets = divergent.len() as u32;
    if divergent.is_empty() {
        return Ok(report);
    }
    let mut held: Vec<Held> = Vec::with_capacity(replicas.len());
    for replica in replicas {
        let mut documents = Held::new();
        let keep = |id: &str, hash: u64, document: &Value| {
            if divergent.contains(&bucket_of(id, options.buckets)) {
                documents.insert(id.to_owned(), (hash, document.clone()));
            }
        };
        for_each_document(replica, &filter, options, keep, primary_key).await?;
        held.push(documents);
    }
    if settled(cluster, index, replicas, options).await? != before {
        return Err(DriftError::Unsettled("the index's ops partition grew while the shard was read".into()));
    }
    let hashes: Vec<BTreeMap<String, u64>> =
        held.iter().map(|documents| documents.iter().map(|(id, (hash, _))| (id.clone(), *hash)).collect()).collect();
    let plan = plan_documents(&hashes);
    describe(&mut report, replicas, &plan);
    if report.mismatched == 0 && plan.unresolved.is_empty() {
        return Ok(report);
    }
    report.status = ShardStatus::Divergent;
    if options.repair && report.mismatched > 0 {
        // Checked again just before writing: the window a client write could fall into is the
        // time of the writes below (docs/repair.md).
        if settled(cluster, index, replicas, options).await? != before {
            return Err(DriftError::Unsettled("the index's ops partition grew before the repair".into()));
        }
        report.repaired = repair(replicas, &held, &plan, primary_key, options).await?;
        if report.repaired == report.mismatched && plan.unresolved.is_empty() {
            report.status = ShardStatus::Repaired;
        }
        if settled(cluster, index, replicas, options).await.ok().flatten() != before {
            report.reason = Some("writes arrived during the repair: the next pass verifies this shard again".into());
        }
    }
    Ok(report)
}

fn replica_report(replica: &Replica, documents: u64) -> ReplicaReport {
    ReplicaReport { node: replica.node.clone(), node_index: replica.node_index.clone(), documents }
}

/// The plan's mismatches and unresolved ids in the report.
fn describe(report: &mut ShardReport, replicas: &[Replica], plan: &DocumentPlan) {
    for (replica, fixes) in replicas.iter().zip(&plan.fixes) {
        report.mismatched += fixes.len() as u64;
        for (id, (kind, _)) in fixes {
            if report.mismatches.len() < LISTED_MISMATCHES {
                report.mismatches.push(MismatchReport { id: id.clone(), node: replica.node.clone(), kind: *kind });
            }
        }
    }
    report.unresolved = plan.unresolved.iter().cloned().collect();
}

/// Reads every document of the shard on `replica`, a page at a time, giving each one's id,
/// content hash and content to `visit`.
async fn for_each_document(
    replica: &Replica<'_>,
    filter: &Value,
    options: &VerifyOptions,
    mut visit: impl FnMut(&str, u64, &Value),
    primary_key: &str,
) -> Result<(), DriftError> {
    let mut offset = 0usize;
    loop {
        let query = json!({"filter": filter, "offset": offset, "limit": options.page_size});
        let page = replica.client.fetch_documents(&replica.node_index, &query).await?;
        let documents = results(&page);
        for document in documents {
            let object = document
                .as_object()
                .ok_or_else(|| DriftError::Repair(format!("{} answered a document that is not an object", replica.node)))?;
            let id = document_id(primary_key, object).map_err(|error| DriftError::Repair(error.message))?;
            visit(&id, document_hash(document), document);
        }
        offset += documents.len();
        if documents.len() < options.page_size as usize {
            return Ok(());
        }
        if !options.page_pause.is_zero() {
            tokio::time::sleep(options.page_pause).await;
        }
    }
}

/// Where the index's `ops` partition ends (`None` without a log), once the indexers have
/// committed it to its end and no replica has node tasks in flight on its node index.
pub(super) async fn settled(
    cluster: &Cluster<'_>,
    index: &str,
    replicas: &[Replica<'_>],
    options: &VerifyOptions,
) -> Result<Option<u64>, DriftError> {
    for replica in replicas {
        let filter = TaskFilter {
            index_uids: vec![replica.node_index.clone()],
            statuses: vec![TaskStatus::Enqueued, TaskStatus::Processing],
            limit: Some(1),
            ..TaskFilter::default()
        };
        if !replica.client.get_tasks(&filter).await?.results.is_empty() {
            return Err(DriftError::Unsettled(format!("node {} has tasks in flight on {}", replica.node, replica.node_index)));
        }
    }
    let Some(log) = cluster.log else { return Ok(None) };
    let partition = partition_for_key(&ops_key(index), log.config().partitions(Topic::Ops));
    let end = log.end_offset(Topic::Ops, partition).await?;
    let group = log.group_status(Topic::Ops, &options.indexer_group).await?;
    let committed = group.iter().find(|p| p.partition == partition).map_or(0, |p| p.next_offset);
    if committed < end {
        return Err(DriftError::Unsettled(format!(
            "the indexers have committed {committed} of {end} records of ops partition {partition}"
        )));
    }
    Ok(Some(end))
}

/// Writes the majority's versions to each replica that differs and deletes what the majority
/// lacks; returns how many (replica, document) fixes were applied.
async fn repair(
    replicas: &[Replica<'_>],
    held: &[Held],
    plan: &DocumentPlan,
    primary_key: &str,
    options: &VerifyOptions,
) -> Result<u64, DriftError> {
    let params = WriteParams { primary_key: Some(primary_key.to_owned()), custom_metadata: None };
    let mut repaired = 0;
    for (replica, fixes) in replicas.iter().zip(&plan.fixes) {
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for (id, (_, fix)) in fixes {
            match fix {
                DocumentFix::Upsert { from, .. } => {
                    serde_json::to_writer(&mut upserts, &held[*from][id].1).expect("a document serializes");
                    upserts.push(b'\n');
                }
                DocumentFix::Delete => deletes.push(Value::String(id.clone())),
            }
        }
        let upserted = fixes.len() - deletes.len();
        if upserted > 0 {
            let task =
                replica.client.add_documents_ndjson(&replica.node_index, DocumentsMethod::Replace, Bytes::from(upserts), &params).await?;
            wait_applied(replica.client, task.task_uid, options).await?;
            repaired += upserted as u64;
        }
        if !deletes.is_empty() {
            let task = replica.client.delete_documents_by_ids(&replica.node_index, &deletes, &params).await?;
            wait_applied(replica.client, task.task_uid, options).await?;
            repaired += deletes.len() as u64;
        }
        if !fixes.is_empty() {
            tracing::info!(node = %replica.node, node_index = %replica.node_index, upserted, deleted = deletes.len(), "replica repaired");
        }
    }
    Ok(repaired)
}

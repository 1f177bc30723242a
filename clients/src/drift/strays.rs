//! Stray documents: documents in a node index that belong to none of the shards its node holds
//! at that rank (no `_miroir_shard`, or another shard's), so no shard's comparison reads them.
//! Miroir never writes one, so each is an alteration made behind the cluster's back: reported,
//! and deleted by a repairing pass (a document of a shard the node index does hold, written
//! without its shard field, then counts as missing there and is copied back from the majority).

use miroir_schemas::document_id::document_id;
use miroir_schemas::drift::report::{StrayReport, LISTED_MISMATCHES};
use miroir_schemas::node_layout::SHARD_FIELD;
use serde_json::{json, Value};

use super::{node_indexes, results, wait_applied, Cluster, DriftError, VerifyOptions};
use crate::node::WriteParams;

/// The strays of every node index of `index` (deleted with `repair`): the report's list (the
/// first [`LISTED_MISMATCHES`]), how many were found and how many deleted.
pub(super) async fn verify_strays(
    cluster: &Cluster<'_>,
    index: &str,
    primary_key: &str,
    options: &VerifyOptions,
) -> Result<(Vec<StrayReport>, u64, u64), DriftError> {
    let (mut listed, mut found, mut deleted) = (Vec::new(), 0, 0);
    for (node, rank) in node_indexes(cluster.placement) {
        let client = &cluster.nodes[&node];
        let node_index = cluster.node_index_uid(index, rank);
        let held: Vec<String> =
            cluster.placement.shards_of_node_at(&node, rank).iter().map(|s| format!("\"{}\"", s.field_value())).collect();
        let filter = format!("NOT {SHARD_FIELD} IN [{}]", held.join(", "));
        let mut ids = Vec::new();
        loop {
            let query = json!({"filter": filter, "offset": ids.len(), "limit": options.page_size, "fields": [primary_key]});
            let page = client.fetch_documents(&node_index, &query).await?;
            for document in results(&page) {
                let object =
                    document.as_object().ok_or_else(|| DriftError::Repair(format!("{node} answered a document that is not an object")))?;
                ids.push(document_id(primary_key, object).map_err(|error| DriftError::Repair(error.message))?);
            }
            if results(&page).len() < options.page_size as usize {
                break;
            }
        }
        found += ids.len() as u64;
        for id in &ids {
            if listed.len() < LISTED_MISMATCHES {
                listed.push(StrayReport { id: id.clone(), node: node.clone(), node_index: node_index.clone() });
            }
        }
        if options.repair && !ids.is_empty() {
            let ids: Vec<Value> = ids.into_iter().map(Value::String).collect();
            let task = client.delete_documents_by_ids(&node_index, &ids, &WriteParams::default()).await?;
            wait_applied(client, task.task_uid, options).await?;
            deleted += ids.len() as u64;
            tracing::info!(%node, %node_index, deleted = ids.len(), "stray documents deleted");
        }
    }
    Ok((listed, found, deleted))
}

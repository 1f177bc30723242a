//! What an admin request to reshard an index asks, checked and planned without I/O, and how a
//! reshard in progress reads in the admin API (docs/resharding.md, "Commands and API"); also
//! the rule that a swap or rename joins only indexes of the same layout.

use miroir_schemas::error::{ErrorType, ResponseError};
use miroir_schemas::meta_log::topology_changes::{Reshard, ReshardError, ReshardPhase, TopologyBook};
use miroir_schemas::node_layout::{layout_node_index_uid, ReplicaRank};
use serde::Serialize;
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::miroir_error;
use crate::params::MAX_INDEX_UID_BYTES;

/// A reshard refused because the request or its shard count is invalid.
pub const INVALID_CODE: &str = "invalid_reshard";
/// A reshard refused because another one is still running (or was recorded first).
pub const IN_PROGRESS_CODE: &str = "reshard_in_progress";
/// A swap or rename joining indexes that have different shard counts.
pub const LAYOUTS_DIFFER_CODE: &str = "index_layouts_differ";

/// The barrier's dedup id: every gateway (and every retry) appending the barrier of one
/// proposal names it alike, so the broker keeps one.
pub fn barrier_dedup_id(index: &str, shards: u32, proposed_at: OffsetDateTime) -> String {
    format!("reshard:{index}:{shards}:{}", proposed_at.unix_timestamp_nanos())
}

/// An `invalid_reshard` error.
pub fn invalid(message: impl Into<String>) -> ResponseError {
    miroir_error(INVALID_CODE, ErrorType::InvalidRequest, 400, message)
}

/// A refused reshard in Meilisearch's shape (codes listed in docs/resharding.md).
pub fn refused(error: &ReshardError) -> ResponseError {
    let message = format!("{error}.");
    match error {
        ReshardError::BadShardCount(_) | ReshardError::Unchanged { .. } => invalid(message),
        ReshardError::InProgress { .. } => miroir_error(IN_PROGRESS_CODE, ErrorType::InvalidRequest, 409, message),
        ReshardError::MoveInProgress { .. } => miroir_error(super::plan::IN_PROGRESS_CODE, ErrorType::InvalidRequest, 409, message),
    }
}

/// The shard count a `POST /_miroir/indexes/{uid}/reshard` body asks: `{"shards": N}`.
pub fn requested_shards(body: &Value) -> Result<u32, ResponseError> {
    let shape = "the body must be a JSON object `{\"shards\": N}` with N a positive integer";
    let object = body.as_object().ok_or_else(|| invalid(format!("{shape}.")))?;
    if let Some(unknown) = object.keys().find(|key| *key != "shards") {
        return Err(invalid(format!("unknown field `{unknown}`: {shape}.")));
    }
    let shards = object.get("shards").ok_or_else(|| invalid(format!("missing field `shards`: {shape}.")))?;
    shards
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| invalid(format!("`shards` must be a positive integer, not `{shards}`.")))
}

/// What a reshard does, as the admin API answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReshardPlan {
    pub index: String,
    pub from_shards: u32,
    pub to_shards: u32,
    /// The index's documents (as its stats count them); `None` (`null`) when unreadable.
    pub documents_to_copy: Option<u64>,
    /// The new layout is a full copy until the old one is released: the index's current size
    /// on the nodes summed over every replica; `None` (`null`) when unreadable.
    pub extra_disk_bytes: Option<u64>,
    /// Node indexes holding each document: replica groups × replication factor.
    pub replicas_per_document: u32,
    pub dry_run: bool,
}

/// Checks a reshard of `index` to `shards` against `book` and plans it (sizes unknown yet:
/// [`ReshardPlan::with_sizes`]).
pub fn plan(book: &TopologyBook, index: &str, shards: u32, dry_run: bool) -> Result<ReshardPlan, ResponseError> {
    book.check_reshard(index, shards).map_err(|error| refused(&error))?;
    let layouts = book.layouts();
    let placement = book.newest_placement(layouts.layout(index));
    let replication_factor = placement.topology().replication_factor;
    // The index uid was checked with room for the launch layout's node index names only.
    let longest = layout_node_index_uid(index, Some(shards), ReplicaRank(replication_factor.saturating_sub(1)));
    if longest.len() > MAX_INDEX_UID_BYTES {
        return Err(invalid(format!(
            "index `{index}` cannot have {shards} shards: its node index `{longest}` would be longer than the {MAX_INDEX_UID_BYTES} bytes an index uid may have."
        )));
    }
    let replicas_per_document = placement.replica_groups().len() as u32 * replication_factor;
    Ok(ReshardPlan {
        index: index.to_owned(),
        from_shards: layouts.shard_count(layouts.layout(index)),
        to_shards: shards,
        documents_to_copy: None,
        extra_disk_bytes: None,
        replicas_per_document,
        dry_run,
    })
}

impl ReshardPlan {
    /// The plan with the sizes read from the index's stats (one replica per shard summed;
    /// `None` when they could not be read).
    pub fn with_sizes(mut self, index_stats: Option<&Value>) -> ReshardPlan {
        let number = |field: &str| index_stats.and_then(|stats| stats.get(field)).and_then(Value::as_u64);
        self.documents_to_copy = number("numberOfDocuments");
        self.extra_disk_bytes = number("rawDocumentDbSize").map(|bytes| bytes * u64::from(self.replicas_per_document));
        self
    }
}

/// How a reshard in progress reads in `GET /_miroir/status` and the reshard routes.
pub fn reshard_view(reshard: &Reshard, cluster_shards: u32) -> Value {
    let mut view = Map::new();
    view.insert("index".into(), reshard.index.clone().into());
    view.insert("fromShards".into(), reshard.from.unwrap_or(cluster_shards).into());
    view.insert("toShards".into(), reshard.to.into());
    let phase = match reshard.phase {
        ReshardPhase::Building => "building",
        ReshardPhase::Switched { position } => {
            // The `ops` position of the index's partition where the new layout took over.
            view.insert("switchedAt".into(), position.into());
            "switched"
        }
    };
    view.insert("phase".into(), phase.into());
    view.insert("proposedAt".into(), reshard.proposed_at.format(&Rfc3339).ok().into());
    Value::Object(view)
}

/// `GET /_miroir/status`'s `reshard` (or `null`) and `shardCounts` (every index whose layout
/// is not the launch one).
pub fn status_fields(book: &TopologyBook, indexes: impl IntoIterator<Item = String>) -> (Value, Value) {
    let layouts = book.layouts();
    let cluster_shards = layouts.shard_count(None);
    let reshard = layouts.reshard().map_or(Value::Null, |reshard| reshard_view(reshard, cluster_shards));
    let counts: Map<String, Value> = indexes
        .into_iter()
        .filter_map(|index| {
            let shards = layouts.layout(&index)?;
            Some((index, json!(shards)))
        })
        .collect();
    (reshard, Value::Object(counts))
}

/// The one layout every index of `indexes` (uid, layout) has, or `index_layouts_differ`
/// naming the first index and one that differs from it.
pub fn same_layouts<'a>(
    cluster_shards: u32,
    indexes: impl IntoIterator<Item = (&'a str, Option<u32>)>,
) -> Result<Option<u32>, ResponseError> {
    let mut indexes = indexes.into_iter();
    let Some((first, layout)) = indexes.next() else { return Ok(None) };
    if let Some((other, other_layout)) = indexes.find(|(_, other)| *other != layout) {
        let count = |layout: Option<u32>| layout.unwrap_or(cluster_shards);
        let message = format!(
            "Indexes `{first}` and `{other}` have different shard counts ({} and {}); reshard one of them first.",
            count(layout),
            count(other_layout)
        );
        return Err(miroir_error(LAYOUTS_DIFFER_CODE, ErrorType::InvalidRequest, 400, message));
    }
    Ok(layout)
}

#[cfg(test)]
mod tests;

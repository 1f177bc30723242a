//! What a verify pass found and did: the JSON `POST /_miroir/verify` answers and
//! `miroirctl verify` prints, and what the reconciler logs after each periodic pass.

use serde::{Deserialize, Serialize};

use super::plan::Mismatch;

/// Mismatches listed per shard; more are counted, not listed, so a report stays small.
pub const LISTED_MISMATCHES: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Whether the pass repaired what it found, or only reported it.
    pub repair: bool,
    pub duration_ms: u64,
    pub indexes: Vec<IndexReport>,
    pub totals: Totals,
}

/// Sums over every index and shard of a pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Documents read from replicas to compute digests (each replica counts).
    pub scanned_documents: u64,
    /// (replica, document) pairs that differ from the reference.
    pub mismatched_documents: u64,
    /// Of them, fixed by this pass.
    pub repaired_documents: u64,
    /// Documents whose versions have no majority: left alone.
    pub unresolved_documents: u64,
    /// (node index, setting) pairs that differ from the reference.
    pub mismatched_settings: u64,
    pub repaired_settings: u64,
    /// Shards not compared (a replica unreachable, writes in flight).
    pub skipped_shards: u64,
    /// Documents in a node index outside every shard it holds (see [`IndexReport::strays`]).
    pub stray_documents: u64,
    pub deleted_strays: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexReport {
    pub index: String,
    pub settings: SettingsReport,
    /// Documents in a node index that belong to none of the shards it holds (no shard field, or
    /// another shard's): the first [`LISTED_MISMATCHES`] listed, all counted.
    pub strays: Vec<StrayReport>,
    pub stray_documents: u64,
    pub deleted_strays: u64,
    pub shards: Vec<ShardReport>,
    /// The index could not be verified at all (e.g. no node holds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsReport {
    /// Node indexes whose settings differ from the reference, with the settings that differ.
    pub divergent: Vec<DivergentSettings>,
    /// Settings whose values have no majority.
    pub unresolved: Vec<String>,
    pub repaired: u64,
    /// The settings could not be compared (a node index did not answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StrayReport {
    pub id: String,
    pub node: String,
    pub node_index: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DivergentSettings {
    pub node: String,
    pub node_index: String,
    pub settings: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ShardStatus {
    /// Every replica holds the same documents.
    #[default]
    Consistent,
    /// Replicas differ (and the pass did not repair, or could not repair everything).
    Divergent,
    /// Replicas differed and now match.
    Repaired,
    /// Not compared this pass; `reason` says why.
    Skipped,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardReport {
    pub shard: u32,
    pub status: ShardStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub replicas: Vec<ReplicaReport>,
    pub divergent_buckets: u32,
    /// Every mismatch counted; the first [`LISTED_MISMATCHES`] are listed.
    pub mismatched: u64,
    pub mismatches: Vec<MismatchReport>,
    pub unresolved: Vec<String>,
    pub repaired: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaReport {
    pub node: String,
    pub node_index: String,
    /// Documents of the shard the replica holds.
    pub documents: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MismatchReport {
    pub id: String,
    pub node: String,
    pub kind: Mismatch,
}

impl VerifyReport {
    /// Recomputes [`VerifyReport::totals`] from the indexes and shards.
    pub fn sum_totals(&mut self) {
        let mut totals = Totals::default();
        for index in &self.indexes {
            totals.mismatched_settings += index.settings.divergent.iter().map(|d| d.settings.len() as u64).sum::<u64>();
            totals.repaired_settings += index.settings.repaired;
            totals.stray_documents += index.stray_documents;
            totals.deleted_strays += index.deleted_strays;
            for shard in &index.shards {
                totals.scanned_documents += shard.replicas.iter().map(|r| r.documents).sum::<u64>();
                totals.mismatched_documents += shard.mismatched;
                totals.repaired_documents += shard.repaired;
                totals.unresolved_documents += shard.unresolved.len() as u64;
                totals.skipped_shards += u64::from(shard.status == ShardStatus::Skipped);
            }
        }
        self.totals = totals;
    }
}

//! Which version of each document and setting the replicas of a shard agree on, and what each
//! replica needs to match it.
//!
//! The reference is the version a **strict majority** of the replicas hold, absence included:
//! replicas that applied the same log prefix hold the same documents, and a replica altered
//! behind the cluster's back is outvoted by the others. A document deleted through Miroir is
//! absent on the majority, so a copy left (or added) on one replica is deleted, never copied.
//! Without a strict majority (two replicas that disagree, or three different versions) no
//! replica is trusted more than another (rank 0 is not more right than rank 1): the document
//! is reported unresolved and left alone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// What one replica must do to one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentFix {
    /// Store the reference version, read from replica `from` (its content hash is `hash`).
    Upsert { from: usize, hash: u64 },
    /// Delete it: the majority does not hold it.
    Delete,
}

/// How a replica's document differs from the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mismatch {
    /// The majority holds it, this replica does not.
    Missing,
    /// This replica holds it, the majority does not.
    Extra,
    /// Both hold it, with different content.
    Changed,
}

/// The repairs of one shard's divergent documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentPlan {
    /// Per replica (same order as the input), document id → what it needs.
    pub fixes: Vec<BTreeMap<String, (Mismatch, DocumentFix)>>,
    /// Ids whose versions have no strict majority: left alone, reported.
    pub unresolved: BTreeSet<String>,
}

/// The version a strict majority of `versions` hold, if any (`None` in the result's inner
/// option: the majority does not hold the item).
fn majority<T: PartialEq + Clone>(versions: &[Option<T>]) -> Option<Option<T>> {
    versions.iter().find(|candidate| versions.iter().filter(|v| v == candidate).count() * 2 > versions.len()).cloned()
}

/// Plans the repairs of the documents `replicas` hold in the divergent buckets: each map is one
/// replica's document id → content hash ([`super::digest::document_hash`]).
pub fn plan_documents(replicas: &[BTreeMap<String, u64>]) -> DocumentPlan {
    let mut plan = DocumentPlan { fixes: vec![BTreeMap::new(); replicas.len()], unresolved: BTreeSet::new() };
    let ids: BTreeSet<&String> = replicas.iter().flat_map(|r| r.keys()).collect();
    for id in ids {
        let versions: Vec<Option<u64>> = replicas.iter().map(|r| r.get(id).copied()).collect();
        if versions.iter().all(|v| *v == versions[0]) {
            continue;
        }
        let Some(reference) = majority(&versions) else {
            plan.unresolved.insert(id.clone());
            continue;
        };
        for (replica, version) in versions.iter().enumerate() {
            let fix = match (reference, version) {
                (Some(hash), Some(held)) if *held != hash => {
                    Some((Mismatch::Changed, DocumentFix::Upsert { from: holder(&versions, hash), hash }))
                }
                (Some(hash), None) => Some((Mismatch::Missing, DocumentFix::Upsert { from: holder(&versions, hash), hash })),
                (None, Some(_)) => Some((Mismatch::Extra, DocumentFix::Delete)),
                _ => None,
            };
            if let Some(fix) = fix {
                plan.fixes[replica].insert(id.clone(), fix);
            }
        }
    }
    plan
}

/// The first replica holding version `hash`.
fn holder(versions: &[Option<u64>], hash: u64) -> usize {
    versions.iter().position(|v| *v == Some(hash)).expect("the majority version is held by some replica")
}

/// The settings repairs of one index: its node indexes' settings compared setting by setting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsPlan {
    /// Per node index (same order as the input): the settings to send it (the majority's
    /// values of the settings where it differs); empty when it matches.
    pub patches: Vec<Map<String, Value>>,
    /// Settings whose values have no strict majority: left alone, reported.
    pub unresolved: BTreeSet<String>,
}

/// Plans the settings repairs of the node indexes of one index (`GET /settings` of each). A
/// setting a node index does not list (another Meilisearch version) is not compared.
pub fn plan_settings(node_indexes: &[Map<String, Value>]) -> SettingsPlan {
    let mut plan = SettingsPlan { patches: vec![Map::new(); node_indexes.len()], unresolved: BTreeSet::new() };
    let names: BTreeSet<&String> = node_indexes.iter().flat_map(|s| s.keys()).collect();
    for name in names {
        let values: Vec<Option<&Value>> = node_indexes.iter().map(|s| s.get(name)).collect();
        if values.iter().any(Option::is_none) || values.iter().all(|v| *v == values[0]) {
            continue;
        }
        match majority(&values) {
            Some(Some(reference)) => {
                for (patch, value) in plan.patches.iter_mut().zip(&values) {
                    if *value != Some(reference) {
                        patch.insert(name.clone(), reference.clone());
                    }
                }
            }
            _ => {
                plan.unresolved.insert(name.clone());
            }
        }
    }
    plan
}

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::digest::{bucket_of, divergent_buckets, document_hash, BucketDigests};
use super::plan::{plan_documents, plan_settings, DocumentFix, Mismatch};

/// A shard's documents: id → content hash.
type Documents = BTreeMap<String, u64>;

fn digests(documents: &Documents, buckets: u32) -> BucketDigests {
    let mut digests = BucketDigests::new(buckets);
    for (id, hash) in documents {
        digests.add(id, *hash);
    }
    digests
}

/// What a replica holds once `fixes` are applied with the other replicas' contents.
fn apply(replicas: &[Documents], plan: &super::plan::DocumentPlan) -> Vec<Documents> {
    replicas
        .iter()
        .zip(&plan.fixes)
        .map(|(held, fixes)| {
            let mut held = held.clone();
            for (id, (_, fix)) in fixes {
                match fix {
                    DocumentFix::Upsert { from, hash } => {
                        assert_eq!(replicas[*from].get(id), Some(hash), "the source replica holds the reference version");
                        held.insert(id.clone(), *hash);
                    }
                    DocumentFix::Delete => {
                        held.remove(id);
                    }
                }
            }
            held
        })
        .collect()
}

/// An alteration made behind the cluster's back to one replica.
#[derive(Debug, Clone)]
enum Alteration {
    Change(usize, u64),
    Delete(usize),
    Add(String, u64),
}

fn alter(documents: &mut Documents, alteration: &Alteration) {
    match alteration {
        Alteration::Change(i, hash) => {
            if let Some(id) = documents.keys().nth(*i % documents.len().max(1)).cloned() {
                documents.insert(id, *hash);
            }
        }
        Alteration::Delete(i) => {
            if let Some(id) = documents.keys().nth(*i % documents.len().max(1)).cloned() {
                documents.remove(&id);
            }
        }
        Alteration::Add(id, hash) => {
            documents.insert(format!("added-{id}"), *hash);
        }
    }
}

fn alteration() -> impl Strategy<Value = Alteration> {
    prop_oneof![
        (any::<usize>(), any::<u64>()).prop_map(|(i, h)| Alteration::Change(i, h)),
        any::<usize>().prop_map(Alteration::Delete),
        ("[a-z0-9]{1,6}", any::<u64>()).prop_map(|(id, h)| Alteration::Add(id, h)),
    ]
}

fn documents() -> impl Strategy<Value = Documents> {
    prop::collection::btree_map("[a-z0-9_-]{1,8}", any::<u64>(), 0..40)
}

proptest! {
    #[test]
    fn digests_ignore_the_order_documents_and_fields_come_in(
        fields in prop::collection::vec(("[a-z]{1,5}", any::<i32>()), 0..8),
        seed in any::<u64>(),
    ) {
        let forward: Map<String, Value> = fields.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let backward: Map<String, Value> = forward.iter().rev().map(|(k, v)| (k.clone(), v.clone())).collect();
        let (forward, backward) = (json!({"nested": forward, "n": 1}), json!({"n": 1, "nested": backward}));
        prop_assert_eq!(document_hash(&forward), document_hash(&backward));

        let documents: Vec<(String, u64)> = (0..20).map(|i| (format!("d{i}"), seed.wrapping_mul(i + 1))).collect();
        let mut one = BucketDigests::new(16);
        let mut other = BucketDigests::new(16);
        documents.iter().for_each(|(id, hash)| one.add(id, *hash));
        documents.iter().rev().for_each(|(id, hash)| other.add(id, *hash));
        prop_assert_eq!(one, other);
    }

    /// The buckets found divergent are exactly those of the documents that differ.
    #[test]
    fn divergent_buckets_are_those_of_the_altered_documents(
        base in documents(),
        alterations in prop::collection::vec(alteration(), 0..5),
        buckets in 1u32..64,
    ) {
        let mut altered = base.clone();
        alterations.iter().for_each(|a| alter(&mut altered, a));
        let differing: std::collections::BTreeSet<u32> = base
            .keys()
            .chain(altered.keys())
            .filter(|id| base.get(*id) != altered.get(*id))
            .map(|id| bucket_of(id, buckets))
            .collect();
        let found = divergent_buckets(&[digests(&base, buckets), digests(&altered, buckets), digests(&base, buckets)]);
        prop_assert_eq!(found, differing.into_iter().collect::<Vec<_>>());
    }

    /// Any minority of replicas altered in any way is brought back to what the majority holds;
    /// what the majority deleted is deleted everywhere, never copied back.
    #[test]
    fn a_minority_of_altered_replicas_is_repaired_to_the_majority(
        base in documents(),
        replicas in 1usize..6,
        altered in prop::collection::vec(prop::collection::vec(alteration(), 1..4), 0..3),
    ) {
        let minority = (replicas - 1) / 2;
        let mut held = vec![base.clone(); replicas];
        for (replica, alterations) in altered.iter().take(minority).enumerate() {
            // Altered replicas sit anywhere, rank 0 included.
            let at = (replica * 2 + 1) % replicas;
            alterations.iter().for_each(|a| alter(&mut held[at], a));
        }
        let plan = plan_documents(&held);
        prop_assert!(plan.unresolved.is_empty());
        for repaired in apply(&held, &plan) {
            prop_assert_eq!(&repaired, &base);
        }
        for (replica, fixes) in plan.fixes.iter().enumerate() {
            for (id, (mismatch, fix)) in fixes {
                let expected = match (base.get(id), held[replica].get(id)) {
                    (Some(_), None) => Mismatch::Missing,
                    (None, Some(_)) => Mismatch::Extra,
                    _ => Mismatch::Changed,
                };
                prop_assert_eq!(*mismatch, expected);
                prop_assert_eq!(matches!(fix, DocumentFix::Delete), expected == Mismatch::Extra);
            }
        }
    }

    /// Without a strict majority nothing is touched: no replica is trusted over another.
    #[test]
    fn a_tie_is_left_alone_and_reported(base in documents(), alteration in alteration()) {
        let mut other = base.clone();
        alter(&mut other, &alteration);
        let plan = plan_documents(&[base.clone(), other.clone()]);
        prop_assert!(plan.fixes.iter().all(BTreeMap::is_empty));
        let differing: Vec<&String> = base.keys().chain(other.keys()).filter(|id| base.get(*id) != other.get(*id)).collect();
        prop_assert_eq!(plan.unresolved.len(), differing.iter().collect::<std::collections::BTreeSet<_>>().len());
    }

    #[test]
    fn settings_follow_the_majority_setting_by_setting(
        values in prop::collection::vec(any::<u8>(), 1..6),
        replicas in 3usize..6,
        altered_setting in 0usize..6,
        altered_value in any::<u8>(),
    ) {
        let base: Map<String, Value> = values.iter().enumerate().map(|(i, v)| (format!("s{i}"), json!(v))).collect();
        let mut held = vec![base.clone(); replicas];
        let name = format!("s{}", altered_setting % values.len());
        held[replicas - 1].insert(name.clone(), json!(altered_value));
        let plan = plan_settings(&held);
        prop_assert!(plan.unresolved.is_empty());
        for (replica, patch) in plan.patches.iter().enumerate() {
            let expected: Map<String, Value> = if replica == replicas - 1 && base[&name] != json!(altered_value) {
                [(name.clone(), base[&name].clone())].into_iter().collect()
            } else {
                Map::new()
            };
            prop_assert_eq!(patch, &expected);
        }
    }
}

#[test]
fn three_versions_of_a_setting_have_no_majority() {
    let settings: Vec<Map<String, Value>> =
        [1, 2, 3].iter().map(|v| json!({"distinctAttribute": v, "stopWords": []}).as_object().unwrap().clone()).collect();
    let plan = plan_settings(&settings);
    assert_eq!(plan.unresolved.iter().collect::<Vec<_>>(), ["distinctAttribute"]);
    assert!(plan.patches.iter().all(Map::is_empty));
}

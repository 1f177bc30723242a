//! The key set's section of a catalog snapshot: the folded key records, how many key changes
//! were folded and the `meta` position folded up to, so a gateway starting from a snapshot
//! folds only the `meta` records after it for keys too.
//!
//! It holds what the `meta` log holds of a key (its `ApiKeyRecord`) and nothing more: a key's
//! secret value is never stored (every gateway derives it from the master key and the uid), and
//! the value index is rebuilt at load.

use miroir_schemas::meta_log::ApiKeyRecord;
use serde::{Deserialize, Serialize};

use super::key::ApiKey;
use super::key_ring::KeyRing;
use super::store::KeyStore;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeysSnapshot {
    /// Next `meta` position the key set has not folded.
    pub meta: u64,
    /// Key changes folded so far (a log that ever held one is not seeded again).
    pub changes: u64,
    /// The keys, in uid order.
    pub keys: Vec<ApiKeyRecord>,
}

impl KeysSnapshot {
    /// The key set `ring` has folded, at the position it has folded up to.
    pub fn of(ring: &KeyRing) -> KeysSnapshot {
        let (meta, changes, keys) = ring.read_folded(|store, next, changes| (next, changes, store.records()));
        KeysSnapshot { meta, changes, keys }
    }

    /// The key set this section holds, for a gateway with `master_key`.
    pub fn into_store(self, master_key: Option<String>) -> KeyStore {
        let mut store = KeyStore::new(master_key);
        for record in self.keys {
            store.insert(ApiKey::from_record(record));
        }
        store
    }
}

#[cfg(test)]
mod tests {
    use miroir_schemas::meta_log::KeyChange;
    use proptest::prelude::*;
    use time::OffsetDateTime;

    use super::*;
    use crate::auth::default_keys;
    use crate::auth::key::key_value;

    const MASTER: &str = "a-master-key-of-sixteen-bytes-or-more";

    proptest! {
        /// A key set restored from its section finds, lists and values keys as the fold that
        /// wrote it, and the section carries no key value.
        #[test]
        fn a_key_set_reads_back(deleted in proptest::collection::vec(any::<bool>(), 4), renamed in proptest::option::of("[a-z]{1,8}")) {
            let ring = KeyRing::new(KeyStore::new(Some(MASTER.into())));
            let keys = default_keys(MASTER, OffsetDateTime::UNIX_EPOCH);
            let mut changes: Vec<(u64, Option<KeyChange>)> = vec![(0, None)];
            changes.extend(keys.iter().map(|key| (0, Some(KeyChange::Create { key: key.clone() }))));
            changes.extend(keys.iter().zip(&deleted).filter(|(_, gone)| **gone).map(|(key, _)| (0, Some(KeyChange::Delete { uid: key.uid }))));
            changes.push((0, Some(KeyChange::Update { uid: keys[0].uid, name: Some(renamed.clone()), description: None, updated_at: OffsetDateTime::UNIX_EPOCH })));
            ring.fold(changes.into_iter().enumerate().map(|(offset, (_, change))| (offset as u64, change)));
            let section = KeysSnapshot::of(&ring);
            prop_assert_eq!(section.meta, ring.next_offset());
            prop_assert_eq!(section.changes, ring.changes_folded());
            let text = serde_json::to_string(&section).unwrap();
            prop_assert!(keys.iter().all(|key| !text.contains(&key_value(MASTER, key.uid))));
            prop_assert!(!text.contains(MASTER));
            let restored = serde_json::from_str::<KeysSnapshot>(&text).unwrap().into_store(Some(MASTER.into()));
            ring.read(|folded| {
                prop_assert_eq!(restored.records(), folded.records());
                for key in &keys {
                    let value = key_value(MASTER, key.uid);
                    prop_assert_eq!(restored.find_by_value(&value).map(ApiKey::uid), folded.find_by_value(&value).map(ApiKey::uid));
                }
                Ok(())
            })?;
        }
    }
}

//! The key set every gateway rebuilds by folding the `meta` log in order.
//!
//! `apply` is a pure, deterministic fold: the same records in the same order give every
//! gateway the same keys. Conflicts between gateways are settled by log order: of two creates
//! with one uid the first wins and the second is a no-op; an update or delete of a key that
//! is not (or no longer) there is a no-op. `apply` reports which case happened so the gateway
//! that appended a record answers its client with what the log decided.

use std::collections::{BTreeMap, HashMap};

use miroir_schemas::meta_log::KeyChange;
use uuid::Uuid;

use super::key::{key_value, ApiKey};

/// What folding one record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Created(Uuid),
    /// A create whose uid already existed: nothing changed.
    AlreadyExists(Uuid),
    Updated(Uuid),
    Deleted(Uuid),
    /// An update or delete of an unknown key: nothing changed.
    NotFound(Uuid),
}

#[derive(Debug, Clone)]
pub struct KeyStore {
    master_key: Option<String>,
    keys: BTreeMap<Uuid, ApiKey>,
    /// Derived key value → uid, so a presented key is found without one HMAC per stored key.
    by_value: HashMap<String, Uuid>,
}

impl KeyStore {
    /// An empty store. Without a master key no key value exists, so only the master-key-less
    /// rules apply (Meilisearch without `--master-key`).
    pub fn new(master_key: Option<String>) -> KeyStore {
        KeyStore { master_key, keys: BTreeMap::new(), by_value: HashMap::new() }
    }

    pub fn master_key(&self) -> Option<&str> {
        self.master_key.as_deref()
    }

    /// Folds one `meta` record.
    pub fn apply(&mut self, change: &KeyChange) -> Applied {
        match change {
            KeyChange::Create { key } => {
                if self.keys.contains_key(&key.uid) {
                    return Applied::AlreadyExists(key.uid);
                }
                if let Some(master_key) = &self.master_key {
                    self.by_value.insert(key_value(master_key, key.uid), key.uid);
                }
                self.keys.insert(key.uid, ApiKey::from_record(key.clone()));
                Applied::Created(key.uid)
            }
            KeyChange::Update { uid, name, description, updated_at } => {
                let Some(existing) = self.keys.get_mut(uid) else {
                    return Applied::NotFound(*uid);
                };
                let mut record = existing.record.clone();
                if let Some(name) = name {
                    record.name = name.clone();
                }
                if let Some(description) = description {
                    record.description = description.clone();
                }
                record.updated_at = *updated_at;
                *existing = ApiKey::from_record(record);
                Applied::Updated(*uid)
            }
            KeyChange::Delete { uid } => match self.keys.remove(uid) {
                Some(_) => {
                    self.by_value.retain(|_, v| v != uid);
                    Applied::Deleted(*uid)
                }
                None => Applied::NotFound(*uid),
            },
        }
    }

    /// Adds a key folded earlier (from a snapshot); a key with its uid is replaced.
    pub(crate) fn insert(&mut self, key: ApiKey) {
        let uid = key.uid();
        if let Some(master_key) = &self.master_key {
            self.by_value.insert(key_value(master_key, uid), uid);
        }
        self.keys.insert(uid, key);
    }

    /// The records of every key, in uid order (what a snapshot keeps).
    pub fn records(&self) -> Vec<miroir_schemas::meta_log::ApiKeyRecord> {
        self.keys.values().map(|key| key.record.clone()).collect()
    }

    pub fn get(&self, uid: Uuid) -> Option<&ApiKey> {
        self.keys.get(&uid)
    }

    /// The key whose derived value is `value`. Like Meilisearch, which compares the decoded
    /// bytes, any hex spelling (upper or lower case) of the value is accepted.
    pub fn find_by_value(&self, value: &str) -> Option<&ApiKey> {
        let canonical = hex::encode(hex::decode(value).ok()?);
        self.by_value.get(&canonical).and_then(|uid| self.keys.get(uid))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys newest first, as `GET /keys` lists them (ties by uid, so every gateway agrees).
    pub fn list(&self) -> Vec<&ApiKey> {
        let mut keys: Vec<&ApiKey> = self.keys.values().collect();
        keys.sort_by(|a, b| b.record.created_at.cmp(&a.record.created_at).then(a.uid().cmp(&b.uid())));
        keys
    }

    /// The secret value of key `uid`, when a master key is set.
    pub fn value_of(&self, uid: Uuid) -> Option<String> {
        self.master_key.as_deref().map(|master_key| key_value(master_key, uid))
    }
}

#[cfg(test)]
pub(crate) mod tests;

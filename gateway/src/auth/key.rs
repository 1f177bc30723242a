//! An API key as the authorizer sees it: the `meta` log record with its actions parsed and
//! expanded, its secret value derived from the master key, and Meilisearch's default keys.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use miroir_schemas::meta_log::ApiKeyRecord;
use sha2::Sha256;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::action::{expand, Action};
use super::pattern::IndexPattern;

/// `hex(HMAC-SHA256(masterKey, hyphenated lowercase uid))`: the secret of key `uid`. Any node
/// or gateway sharing the master key derives the same value, which is why key values are never
/// written to the log.
pub fn key_value(master_key: &str, uid: Uuid) -> String {
    hex::encode(key_mac(master_key, uid).finalize().into_bytes())
}

/// Whether `presented` is the value of key `uid`, compared in constant time.
pub fn value_matches(master_key: &str, uid: Uuid, presented: &str) -> bool {
    match hex::decode(presented) {
        Ok(bytes) => key_mac(master_key, uid).verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

fn key_mac(master_key: &str, uid: Uuid) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(master_key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(uid.hyphenated().to_string().as_bytes());
    mac
}

/// A stored key, ready to answer authorization questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub record: ApiKeyRecord,
    /// The key's actions in its own order; names this version does not know are dropped
    /// (they can only come from a newer writer and grant nothing here).
    pub actions: Vec<Action>,
    pub indexes: Vec<IndexPattern>,
    /// Every concrete action the key holds, wildcards expanded.
    pub granted: BTreeSet<Action>,
}

impl ApiKey {
    pub fn from_record(record: ApiKeyRecord) -> ApiKey {
        let actions: Vec<Action> = record.actions.iter().filter_map(|a| Action::from_name(a)).collect();
        let indexes = record.indexes.iter().map(IndexPattern::new_unchecked).collect();
        let granted = expand(&actions);
        ApiKey { record, actions, indexes, granted }
    }

    pub fn uid(&self) -> Uuid {
        self.record.uid
    }

    /// A key is usable strictly before its `expiresAt`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.record.expires_at.is_some_and(|expires_at| now >= expires_at)
    }

    /// `*` among the key's indexes.
    pub fn has_all_indexes(&self) -> bool {
        self.indexes.iter().any(IndexPattern::matches_all)
    }

    /// Whether the key's index patterns cover `index_uid`.
    pub fn covers_index(&self, index_uid: &str) -> bool {
        self.indexes.iter().any(|p| p.matches(index_uid))
    }

    /// Meilisearch's `is_key_authorized`: the key holds `action`, for `index` when the route
    /// names one; on an index-less route an index-restricted key passes only for actions whose
    /// handler filters indexes itself; and the key has not expired.
    pub fn grants(&self, action: Action, index: Option<&str>, now: OffsetDateTime) -> bool {
        if !self.granted.contains(&action) {
            return false;
        }
        let index_ok = self.has_all_indexes()
            || match index {
                Some(index) => self.covers_index(index),
                None => action.index_scope() == super::action::IndexScope::RouteHandlerChecksIndex && !self.indexes.is_empty(),
            };
        index_ok && !self.is_expired(now)
    }

    /// The key's patterns, deduplicated and sorted, as error messages list them.
    pub fn sorted_patterns(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.indexes.iter().map(IndexPattern::as_str).collect();
        set.into_iter().map(str::to_owned).collect()
    }
}

/// The keys Meilisearch creates on first start, in its creation order.
const DEFAULT_KEYS: &[(&str, &str, &[&str])] = &[
    ("Default Chat API Key", "Use it to chat and search from the frontend", &["chatCompletions", "search"]),
    (
        "Default Read-Only Admin API Key",
        "Use it to read information across the whole database. Caution! Do not expose this key on a public frontend",
        &["*.get", "keys.get"],
    ),
    ("Default Admin API Key", "Use it for anything that is not a search operation. Caution! Do not expose it on a public frontend", &["*"]),
    ("Default Search API Key", "Use it to search from the frontend", &["search"]),
];

/// Meilisearch's four default keys, to be appended to an empty `meta` log.
///
/// Meilisearch gives them random uids; Miroir derives each uid from the master key and the
/// key's name (UUID v4 layout over `HMAC-SHA256(masterKey, "miroir:default-key:" ‖ name)`), so
/// gateways that race to seed an empty log append the same keys and the fold keeps one copy.
/// Creation times are `now` plus one microsecond per key in creation order, so the list (newest
/// first) shows them in Meilisearch's order: search, admin, read-only admin, chat.
pub fn default_keys(master_key: &str, now: OffsetDateTime) -> Vec<ApiKeyRecord> {
    DEFAULT_KEYS
        .iter()
        .enumerate()
        .map(|(position, (name, description, actions))| {
            let created_at = now + Duration::microseconds(position as i64);
            ApiKeyRecord {
                uid: default_key_uid(master_key, name),
                name: Some((*name).to_owned()),
                description: Some((*description).to_owned()),
                actions: actions.iter().map(|a| (*a).to_owned()).collect(),
                indexes: vec!["*".to_owned()],
                expires_at: None,
                created_at,
                updated_at: created_at,
            }
        })
        .collect()
}

fn default_key_uid(master_key: &str, name: &str) -> Uuid {
    let mut mac = Hmac::<Sha256>::new_from_slice(master_key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(b"miroir:default-key:");
    mac.update(name.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests;

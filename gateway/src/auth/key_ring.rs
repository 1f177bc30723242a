//! One gateway's copy of the key set: the [`KeyStore`] folded from the `meta` log, how many
//! records it has folded, and what folding each recent record did.
//!
//! The `meta` watcher is the only writer. Request handlers read the store; a handler that
//! appended a record waits here until the watcher has folded it, then answers its client with
//! what the fold decided ([`KeyRing::outcome`]), so every gateway agrees on the outcome.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use miroir_schemas::meta_log::KeyChange;
use tokio::sync::watch;

use super::store::{Applied, KeyStore};

/// How many recent outcomes are kept for handlers waiting on their own record. A handler
/// looks its outcome up right after the fold, so only a burst of this many other records
/// folded in between could push it out.
const KEPT_OUTCOMES: usize = 4096;

struct Folded {
    store: KeyStore,
    /// Offset of the next `meta` record to fold (= records folded so far).
    next: u64,
    /// How many of them were key changes.
    key_changes: u64,
    /// Offset → what folding it did; `None` for an unreadable record.
    outcomes: BTreeMap<u64, Option<Applied>>,
}

pub struct KeyRing {
    folded: RwLock<Folded>,
    progress: watch::Sender<u64>,
}

impl KeyRing {
    pub fn new(master_key: Option<String>) -> KeyRing {
        KeyRing {
            folded: RwLock::new(Folded { store: KeyStore::new(master_key), next: 0, key_changes: 0, outcomes: BTreeMap::new() }),
            progress: watch::channel(0).0,
        }
    }

    /// Runs `read` on the current key set.
    pub fn read<R>(&self, read: impl FnOnce(&KeyStore) -> R) -> R {
        read(&self.folded.read().expect("key ring lock poisoned").store)
    }

    /// Offset of the next record to fold.
    pub fn next_offset(&self) -> u64 {
        self.folded.read().expect("key ring lock poisoned").next
    }

    /// How many key changes have been folded (the default keys are seeded only into none).
    pub fn key_changes_folded(&self) -> u64 {
        self.folded.read().expect("key ring lock poisoned").key_changes
    }

    /// Folds consecutive records `(offset, change)`; `None` marks a record that carries no key
    /// change or could not be decoded (skipped, so one bad record cannot stall every gateway). Offsets already folded
    /// are ignored, so a reader that restarts earlier than needed does no harm.
    pub fn fold(&self, records: impl IntoIterator<Item = (u64, Option<KeyChange>)>) {
        let mut folded = self.folded.write().expect("key ring lock poisoned");
        for (offset, change) in records {
            if offset < folded.next {
                continue;
            }
            folded.key_changes += u64::from(change.is_some());
            let applied = change.map(|change| folded.store.apply(&change));
            folded.outcomes.insert(offset, applied);
            folded.next = offset + 1;
        }
        while folded.outcomes.len() > KEPT_OUTCOMES {
            folded.outcomes.pop_first();
        }
        let next = folded.next;
        drop(folded);
        self.progress.send_replace(next);
    }

    /// What folding the record at `offset` did: `None` if it is not folded yet, was unreadable,
    /// or is too old to be remembered.
    pub fn outcome(&self, offset: u64) -> Option<Applied> {
        self.folded.read().expect("key ring lock poisoned").outcomes.get(&offset).cloned().flatten()
    }

    /// Waits until the first `count` records are folded; `false` after `timeout`.
    pub async fn wait_folded(&self, count: u64, timeout: Duration) -> bool {
        let mut progress = self.progress.subscribe();
        tokio::time::timeout(timeout, progress.wait_for(|&next| next >= count)).await.is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests;

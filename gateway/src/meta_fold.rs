//! One gateway's copy of a piece of cluster-wide state kept in the `meta` log (API keys,
//! webhooks), and the way a request changes it so that every gateway agrees.
//!
//! * A [`MetaState`] is a pure, deterministic fold of its own records of `meta`: the same
//!   records in the same order give every gateway the same state. Conflicts between gateways
//!   are settled by log order, and [`MetaState::apply`] says what each record did.
//! * A [`MetaRing`] holds the state folded so far, how far it is folded and what each recent
//!   record did. The watcher is its only writer; handlers read it.
//! * A [`MetaFollower`] runs the watcher (tailing `meta` from offset 0, so a restarted gateway
//!   rebuilds the same state) and lets a request append one change, wait until this gateway's
//!   own watcher has folded it, and answer its client with what the fold decided.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use miroir_clients::log::{tail_partition, Record, Topic, WriteLog};
use miroir_schemas::envelope::{decode, encode};
use miroir_schemas::meta_log::{MetaChange, MetaEnvelope};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::error::GatewayError;

/// Cluster-wide state folded from its records of `meta`.
pub trait MetaState: Send + Sync + 'static {
    type Change: Send;
    /// What folding one change did (the verdict its request is answered with).
    type Outcome: Clone + Send + Sync;

    /// The change of this state a `meta` record carries, if it carries one.
    fn change_of(envelope: MetaEnvelope) -> Option<Self::Change>;

    /// Folds one change.
    fn apply(&mut self, change: &Self::Change) -> Self::Outcome;
}

/// How many recent outcomes are kept for handlers waiting on their own record. A handler
/// looks its outcome up right after the fold, so only a burst of this many other records
/// folded in between could push it out.
const KEPT_OUTCOMES: usize = 4096;

struct Folded<S: MetaState> {
    state: S,
    /// Offset of the next `meta` record to fold (= records folded so far).
    next: u64,
    /// How many of them were changes of this state.
    changes: u64,
    /// Offset → what folding it did; `None` for a record that is not this state's.
    outcomes: BTreeMap<u64, Option<S::Outcome>>,
}

/// The state folded so far. See the module documentation.
pub struct MetaRing<S: MetaState> {
    folded: RwLock<Folded<S>>,
    progress: watch::Sender<u64>,
}

impl<S: MetaState> MetaRing<S> {
    /// A ring that has folded nothing yet, starting from `state`.
    pub fn new(state: S) -> MetaRing<S> {
        MetaRing::folded_up_to(state, 0, 0)
    }

    /// A ring whose `state` already folded the first `next` records, `changes` of them its own
    /// (a start from a snapshot).
    pub fn folded_up_to(state: S, next: u64, changes: u64) -> MetaRing<S> {
        MetaRing { folded: RwLock::new(Folded { state, next, changes, outcomes: BTreeMap::new() }), progress: watch::channel(next).0 }
    }

    /// Runs `read` on the current state, the next offset to fold and the changes folded, all
    /// taken at one moment.
    pub fn read_folded<R>(&self, read: impl FnOnce(&S, u64, u64) -> R) -> R {
        let folded = self.folded.read().expect("meta ring lock poisoned");
        read(&folded.state, folded.next, folded.changes)
    }

    /// Runs `read` on the current state.
    pub fn read<R>(&self, read: impl FnOnce(&S) -> R) -> R {
        read(&self.folded.read().expect("meta ring lock poisoned").state)
    }

    /// Offset of the next record to fold.
    pub fn next_offset(&self) -> u64 {
        self.folded.read().expect("meta ring lock poisoned").next
    }

    /// How many changes of this state have been folded.
    pub fn changes_folded(&self) -> u64 {
        self.folded.read().expect("meta ring lock poisoned").changes
    }

    /// Folds consecutive records `(offset, change)`; `None` marks a record that carries no
    /// change of this state or could not be decoded (skipped, so one bad record cannot stall
    /// every gateway). Offsets already folded are ignored, so a reader that restarts earlier
    /// than needed does no harm.
    pub fn fold(&self, records: impl IntoIterator<Item = (u64, Option<S::Change>)>) {
        let mut folded = self.folded.write().expect("meta ring lock poisoned");
        for (offset, change) in records {
            if offset < folded.next {
                continue;
            }
            folded.changes += u64::from(change.is_some());
            let applied = change.map(|change| folded.state.apply(&change));
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

    /// What folding the record at `offset` did: `None` if it is not folded yet, was not this
    /// state's, or is too old to be remembered.
    pub fn outcome(&self, offset: u64) -> Option<S::Outcome> {
        self.folded.read().expect("meta ring lock poisoned").outcomes.get(&offset).cloned().flatten()
    }

    /// Waits until the first `count` records are folded; `false` after `timeout`.
    pub async fn wait_folded(&self, count: u64, timeout: Duration) -> bool {
        let mut progress = self.progress.subscribe();
        tokio::time::timeout(timeout, progress.wait_for(|&next| next >= count)).await.is_ok_and(|r| r.is_ok())
    }
}

/// A [`MetaRing`] kept current by a watcher of `meta`, and the way requests change it.
pub struct MetaFollower<S: MetaState> {
    log: Arc<dyn WriteLog>,
    ring: Arc<MetaRing<S>>,
    /// How long a write or a catch-up waits for the watcher before answering `503`.
    fold_timeout: Duration,
    watcher: JoinHandle<()>,
}

impl<S: MetaState> Drop for MetaFollower<S> {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

impl<S: MetaState> MetaFollower<S> {
    /// Starts the watcher folding `meta` into `state` (call inside a Tokio runtime). It has
    /// folded nothing yet: call [`MetaFollower::catch_up`] before the first read.
    pub fn start(log: Arc<dyn WriteLog>, state: S, fold_timeout: Duration) -> MetaFollower<S> {
        MetaFollower::start_from(log, MetaRing::new(state), fold_timeout)
    }

    /// Starts the watcher at the first record `ring` has not folded.
    pub fn start_from(log: Arc<dyn WriteLog>, ring: MetaRing<S>, fold_timeout: Duration) -> MetaFollower<S> {
        let ring = Arc::new(ring);
        let (folding, from) = (ring.clone(), ring.next_offset());
        let watcher = tokio::spawn(tail_partition(log.clone(), Topic::Meta, 0, from, move |records| fold_records(&folding, records)));
        MetaFollower { log, ring, fold_timeout, watcher }
    }

    pub fn ring(&self) -> &MetaRing<S> {
        &self.ring
    }

    pub fn log(&self) -> &dyn WriteLog {
        self.log.as_ref()
    }

    /// Waits until every record appended to `meta` before this call is folded.
    pub async fn catch_up(&self) -> Result<(), GatewayError> {
        let end = self.log.end_offset(Topic::Meta, 0).await?;
        self.wait_folded(end).await
    }

    async fn wait_folded(&self, count: u64) -> Result<(), GatewayError> {
        match self.ring.wait_folded(count, self.fold_timeout).await {
            true => Ok(()),
            false => Err(GatewayError::LogUnavailable(format!("the meta log was not folded up to {count} within {:?}", self.fold_timeout))),
        }
    }

    /// Appends `change` to `meta` (routing key `key`; the topic has one partition) and returns
    /// what this gateway's fold of that record did.
    pub async fn append_and_fold(&self, key: &str, change: impl Into<MetaChange>) -> Result<S::Outcome, GatewayError> {
        let payload = encode(&MetaEnvelope::new(change));
        let dedup_id = format!("request:{}", Uuid::new_v4());
        let position = self.log.append(Topic::Meta, key, &dedup_id, payload.into()).await?;
        self.wait_folded(position.offset + 1).await?;
        self.ring
            .outcome(position.offset)
            .ok_or_else(|| GatewayError::Internal(format!("the outcome of meta record {} is not known", position.offset)))
    }
}

/// Folds `meta` records into `ring`: each decoded, and kept when it is a change of `S`.
fn fold_records<S: MetaState>(ring: &MetaRing<S>, records: Vec<Record>) {
    ring.fold(records.into_iter().map(|record| {
        let change = match decode::<MetaEnvelope>(&record.payload) {
            Ok(envelope) => S::change_of(envelope),
            Err(error) => {
                tracing::error!(offset = record.position.offset, %error, "unreadable meta record skipped");
                None
            }
        };
        (record.position.offset, change)
    }));
}

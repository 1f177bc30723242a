//! Which replicas lag behind the log, as the indexers announce them in `meta`
//! (`schemas::meta_log::replica_lag`): a read asks the replicas of a shard that have every
//! write before one being caught up (its node was down, or came back empty), and asks a lagging
//! one only when no other can answer. Best effort, from this gateway's fold as it stands: an
//! announcement reaches reads a moment after it is stored.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use miroir_clients::log::{partition_for_key, Topic, WriteLog};
use miroir_schemas::envelope::ops_key;
use miroir_schemas::meta_log::replica_lag::{ReplicaLagBook, ReplicaLagChange};
use miroir_schemas::meta_log::MetaEnvelope;
use time::OffsetDateTime;

use crate::meta_fold::{MetaFollower, MetaState};

/// Never waited for by reads; only bounds the follower's own appends (it makes none).
const FOLD_TIMEOUT: Duration = Duration::from_secs(10);

impl MetaState for ReplicaLagBook {
    type Change = ReplicaLagChange;
    type Outcome = ();

    fn change_of(envelope: MetaEnvelope) -> Option<ReplicaLagChange> {
        envelope.replica_lag_change()
    }

    fn apply(&mut self, change: &ReplicaLagChange) {
        ReplicaLagBook::apply(self, change);
    }
}

pub struct ReplicaLagService {
    meta: MetaFollower<ReplicaLagBook>,
    ops_partitions: u32,
}

impl ReplicaLagService {
    /// Starts folding `meta` (call inside a Tokio runtime).
    pub fn start(log: Arc<dyn WriteLog>) -> ReplicaLagService {
        let ops_partitions = log.config().partitions(Topic::Ops);
        ReplicaLagService { meta: MetaFollower::start(log, ReplicaLagBook::default(), FOLD_TIMEOUT), ops_partitions }
    }

    /// The nodes whose node indexes of `index_uid` lag right now.
    pub fn lagging_nodes(&self, index_uid: &str) -> BTreeSet<String> {
        let partition = partition_for_key(&ops_key(index_uid), self.ops_partitions);
        let now = OffsetDateTime::now_utc();
        self.meta
            .ring()
            .read(|book| book.lagging(now).into_iter().filter(|(_, p)| *p == partition).map(|(node, _)| node.to_owned()).collect())
    }

    /// The `ops` partitions on which `node`'s replicas lag right now.
    pub fn lagging_partitions(&self, node: &str) -> Vec<u32> {
        let now = OffsetDateTime::now_utc();
        self.meta.ring().read(|book| book.lagging(now).into_iter().filter(|(n, _)| *n == node).map(|(_, p)| p).collect())
    }
}

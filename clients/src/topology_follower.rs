//! The cluster's topology as the `meta` log has it (online topology changes, docs/topology.md):
//! a [`TopologyBook`] kept current by tailing `meta`, for processes that only need to know the
//! newest placement and whether a move is in progress (the reconciler's verify and TTL passes).

use std::sync::{Arc, RwLock};

use miroir_schemas::envelope::decode;
use miroir_schemas::meta_log::topology_changes::TopologyBook;
use miroir_schemas::meta_log::{MetaChange, MetaEnvelope};
use miroir_schemas::placement::Placement;
use tokio::task::JoinHandle;

use crate::log::{tail_partition, Record, Topic, WriteLog};

/// Follows `meta` from its start; dropping it stops following.
pub struct TopologyFollower {
    book: Arc<RwLock<TopologyBook>>,
    tailer: JoinHandle<()>,
}

impl Drop for TopologyFollower {
    fn drop(&mut self) {
        self.tailer.abort();
    }
}

impl TopologyFollower {
    /// Starts following, from the cluster's launch placement. Call inside a Tokio runtime.
    pub fn start(log: Arc<dyn WriteLog>, launch: Placement) -> TopologyFollower {
        let book = Arc::new(RwLock::new(TopologyBook::new(launch, log.config().ops_partitions)));
        let folding = book.clone();
        let tailer = tokio::spawn(tail_partition(log, Topic::Meta, 0, 0, move |records| fold(&folding, &records)));
        TopologyFollower { book, tailer }
    }

    /// The book as folded so far, or `None` while a topology change is moving replicas. (An
    /// index being resharded is for the caller to pass over: `book.layouts().reshard()`.)
    pub fn settled_book(&self) -> Option<TopologyBook> {
        let book = self.book.read().expect("topology book lock");
        book.moving().is_none().then(|| book.clone())
    }
}

fn fold(book: &RwLock<TopologyBook>, records: &[Record]) {
    let mut book = book.write().expect("topology book lock");
    for record in records {
        if let Ok(MetaEnvelope { change: MetaChange::Topology(change), .. }) = decode::<MetaEnvelope>(&record.payload) {
            book.apply(&change);
        }
    }
}

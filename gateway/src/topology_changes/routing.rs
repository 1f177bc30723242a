//! How the writes of one index are routed: by the index's current layout (docs/resharding.md).
//! A write takes one [`Routing`] and keeps it, so its shards, its envelopes' `layout` and its
//! task targets all name the same layout even if a reshard switches meanwhile (the indexer
//! routes an operation of the old layout again).

use std::sync::Arc;

use miroir_schemas::envelope::Op;
use miroir_schemas::meta_log::topology_changes::TopologyBook;
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::ShardId;

/// An index's current layout and that layout's newest placement (only its shard count matters
/// for routing: `shard_of` hashes over `S`).
#[derive(Debug, Clone)]
pub struct Routing {
    /// `None`: the launch layout.
    pub layout: Option<u32>,
    pub placement: Arc<Placement>,
}

impl Routing {
    /// The routing of `index_uid` in `book`.
    pub fn of(book: &TopologyBook, index_uid: &str) -> Routing {
        let layout = book.layouts().layout(index_uid);
        Routing { layout, placement: book.newest_placement(layout).clone() }
    }

    /// The shard a document id goes to.
    pub fn shard_of(&self, id: &str) -> ShardId {
        self.placement.shard_of(id)
    }

    /// Every shard of the layout with the same operation.
    pub fn on_every_shard(&self, op: Op) -> Vec<(ShardId, Op)> {
        self.placement.shards().map(|shard| (shard, op.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::meta_log::topology_changes::TopologyChange;
    use miroir_schemas::topology::{Node, Topology};
    use time::OffsetDateTime;

    fn book() -> TopologyBook {
        let nodes = (0..3).map(|i| Node { id: format!("n{i}"), url: format!("http://n{i}"), replica_group: "g".into(), api_key: None });
        TopologyBook::new(Placement::new(Topology::new(1, 4, 1, nodes.collect()).unwrap()), 2)
    }

    #[test]
    fn an_index_is_routed_by_its_layout_once_the_reshard_switched() {
        let mut book = book();
        let launch = Routing::of(&book, "movies");
        assert_eq!((launch.layout, launch.on_every_shard(Op::ClearDocuments).len()), (None, 4));
        book.apply(&TopologyChange::ReshardProposed { index: "movies".into(), shards: 12, at: OffsetDateTime::UNIX_EPOCH });
        assert_eq!(Routing::of(&book, "movies").layout, None, "building: writes keep the old layout");
        book.apply(&TopologyChange::ReshardSwitched { index: "movies".into(), shards: 12, position: 7 });
        let resharded = Routing::of(&book, "movies");
        assert_eq!(resharded.layout, Some(12));
        let shards: Vec<ShardId> = resharded.on_every_shard(Op::ClearDocuments).into_iter().map(|(shard, _)| shard).collect();
        assert_eq!(shards, (0..12).map(ShardId).collect::<Vec<_>>());
        assert!((0..200).map(|i| resharded.shard_of(&i.to_string())).any(|shard| shard.0 >= 4), "ids spread over 12 shards");
        assert_eq!(Routing::of(&book, "books").layout, None, "other indexes keep theirs");
    }
}

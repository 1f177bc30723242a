//! The shape one read runs against: the index layout it reads (docs/resharding.md), the
//! placement reads of that layout use (the topology book's read view),
//! whether a move in progress makes every node query narrowed to the shards asked of it, and
//! each shard's replicas as node positions. A read takes one view at its start and keeps it,
//! so a switch during the read cannot mix two placements.
//!
//! Node positions address the transport, the bench and the latency stats. They are given in
//! the order nodes first appear (launch topology first, then nodes added by changes) and never
//! reused, so a position stays valid across views.

use miroir_schemas::node_layout::{layout_node_index_uid, ReplicaRank};
use miroir_schemas::placement::{NodeIndexPart, Placement};
use miroir_schemas::topology::{Node, ShardId};
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) struct ReadView {
    /// The index layout read (`None`: the launch layout): it names the node indexes.
    pub layout: Option<u32>,
    pub placement: Arc<Placement>,
    /// Node indexes may hold shards this placement does not give them (a move is in progress):
    /// every node query is narrowed to the shards asked.
    pub narrowed: bool,
    /// Position → node, every node known when the view was built.
    nodes: Vec<Node>,
    /// `replicas[k][g]`: node positions holding shard `k` in replica group `g`, by rank.
    replicas: Vec<Vec<Vec<usize>>>,
}

impl ReadView {
    /// The view of `placement` (of index layout `layout`) over the nodes at positions `nodes`
    /// (a node of the placement that has no position, because no transport could be made for
    /// it, holds nothing here).
    pub fn new(layout: Option<u32>, placement: Arc<Placement>, narrowed: bool, nodes: Vec<Node>) -> ReadView {
        let position: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, node)| (node.id.as_str(), i)).collect();
        let replicas = placement
            .shards()
            .map(|shard| {
                let in_group = |group: &String| {
                    placement.replicas_in_group(shard, group).iter().filter_map(|n| position.get(n.id.as_str()).copied()).collect()
                };
                placement.replica_groups().iter().map(in_group).collect()
            })
            .collect();
        ReadView { layout, placement, narrowed, nodes, replicas }
    }

    /// The node index of `index_uid` at replica rank `rank` in this view's layout.
    pub fn node_index(&self, index_uid: &str, rank: ReplicaRank) -> String {
        layout_node_index_uid(index_uid, self.layout, rank)
    }

    pub fn node_id(&self, position: usize) -> &str {
        &self.nodes[position].id
    }

    /// Every known node, by position.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The position of node `id`.
    pub fn position_of(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|node| node.id == id)
    }

    /// The rank at which node `position` holds `shard`.
    pub fn rank_of(&self, shard: ShardId, position: usize) -> Option<ReplicaRank> {
        self.placement.rank_of(shard, self.node_id(position))
    }

    /// The node index parts answering for `shards` on node `position`; during a move none is
    /// whole, so every query is narrowed to its shards.
    pub fn node_index_parts(&self, position: usize, shards: &[ShardId]) -> Vec<NodeIndexPart> {
        let mut parts = self.placement.node_index_parts(self.node_id(position), shards);
        if self.narrowed {
            parts.iter_mut().for_each(|part| part.whole = false);
        }
        parts
    }

    /// The replicas of `shard` in the order a read tries them: group `turn % groups` first, then
    /// the next groups, each by replica rank.
    pub fn preference(&self, shard: ShardId, turn: usize) -> Vec<usize> {
        let Some(groups) = self.replicas.get(shard.0 as usize) else { return Vec::new() };
        let first = turn % groups.len().max(1);
        groups[first..].iter().chain(&groups[..first]).flatten().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miroir_schemas::topology::Topology;

    fn node(id: &str) -> Node {
        Node { id: id.into(), url: format!("http://{id}"), replica_group: "g".into(), api_key: None }
    }

    #[test]
    fn a_move_narrows_every_part_and_positions_outlive_the_topology() {
        let launch = Placement::new(Topology::new(1, 4, 1, vec![node("a"), node("b")]).unwrap());
        let after = Arc::new(Placement::after(&launch, Topology::new(2, 4, 1, vec![node("b"), node("c")]).unwrap()));
        // `a` keeps position 0 though the newer placement no longer names it.
        let known = vec![node("a"), node("b"), node("c")];
        let moving = ReadView::new(None, after.clone(), true, known.clone());
        for shard in after.shards() {
            let holders = moving.preference(shard, 0);
            assert_eq!(holders.len(), 1);
            assert_ne!(holders[0], 0, "a holds nothing after the change");
            let parts = moving.node_index_parts(holders[0], &[shard]);
            assert!(parts.iter().all(|part| !part.whole), "{parts:?}");
        }
        let settled = ReadView::new(None, after.clone(), false, known);
        let c = settled.position_of("c").unwrap();
        let held = after.shards_of_node("c");
        assert!(settled.node_index_parts(c, &held).iter().all(|part| part.whole));
        assert_eq!(settled.node_id(c), "c");
    }
}

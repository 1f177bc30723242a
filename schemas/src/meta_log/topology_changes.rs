//! Online topology changes (docs/topology.md): the `meta` records that move shard replicas
//! between nodes while writes and searches go on, and the pure fold every process applies to
//! them. The launch configuration is the cluster's first topology (epoch 0); each accepted
//! proposal is the next epoch, whose placement is [`Placement::after`] the previous one, so
//! only the replicas a joining or leaving node forces to move do.
//!
//! A move runs per `ops` partition, in that partition's log order, so every replica of every
//! shard sees each operation exactly once in the same order whatever the topology:
//! 1. `topologyProposed` (gateway, admin API), then a copy barrier in every `ops` partition.
//! 2. At its copy barrier (position `H`) the indexer owning the partition copies each moving
//!    replica of the partition's indexes from a replica that has every operation up to `H`,
//!    then records `shardsCopied`. Operations after `H` reach old and new holders.
//! 3. Once every partition is copied the move is *switched*: reads use the new placement.
//! 4. After a grace period the owner appends a release barrier (position `K`); there it deletes
//!    the copies that moved away and records `shardsReleased`. Operations after `K` reach the
//!    new holders only. When every partition is released the epoch is complete.
//!
//! While a move is in progress a node index may hold shards the read placement does not give
//! it, so every read is narrowed to the shards asked of it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::node_layout::ReplicaRank;
use crate::placement::Placement;
use crate::topology::{Node, ShardId, Topology};
pub use reshards::ReshardError;

/// One record of a topology change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TopologyChange {
    /// An operator asked for `topology` (its version is the current one plus one).
    TopologyProposed {
        topology: Topology,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// The moving replicas of `partition`'s indexes were copied at its copy barrier `position`.
    ShardsCopied { version: u64, partition: u32, position: u64 },
    /// The replicas that moved away were deleted at `partition`'s release barrier `position`.
    ShardsReleased { version: u64, partition: u32, position: u64 },
    /// An operator asked for `index` to be resharded to `shards` shards (docs/resharding.md).
    ReshardProposed {
        index: String,
        shards: u32,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// The reshard's new layout was built and verified at its barrier `position`: operations
    /// after it go to the new layout, and reads use it.
    ReshardSwitched { index: String, shards: u32, position: u64 },
    /// The reshard was given up at its barrier `position` (its new layout did not verify); the
    /// index keeps its layout.
    ReshardAborted { index: String, shards: u32, position: u64, reason: String },
    /// The old layout's node indexes were deleted (at the barrier `position`): the reshard is
    /// complete.
    ReshardReleased { index: String, shards: u32, position: u64 },
}

/// A replica of a shard: a node and the rank (so the node index) holding it.
pub type Holder = (String, ReplicaRank);

/// One topology the cluster has had, and where each `ops` partition moved to it.
#[derive(Debug, Clone)]
pub struct Epoch {
    pub placement: Arc<Placement>,
    pub proposed_at: Option<OffsetDateTime>,
    /// Partition → position of its copy barrier.
    pub copied: BTreeMap<u32, u64>,
    /// Partition → position of its release barrier.
    pub released: BTreeMap<u32, u64>,
}

impl Epoch {
    pub fn version(&self) -> u64 {
        self.placement.topology().version
    }
}

/// Where a topology change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MovePhase {
    /// Partitions are being copied; reads use the previous placement.
    Copying,
    /// Every partition is copied; reads use the new placement; old copies are being released.
    Switched,
}

/// Which replicas an operation reaches and which it is reported for without being applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyTargets {
    pub holders: Vec<Holder>,
    /// Nodes of the previous topology that held the shard and no longer do: a gateway that had
    /// not yet seen the release may have listed them in the task, so their part is reported with
    /// the outcome of a holder.
    pub proxied: Vec<String>,
}

/// A replica to fill at a copy barrier, and the replicas it may be copied from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCopy {
    pub shard: ShardId,
    pub to: Holder,
    /// Holders of the previous placement, rank 0 first.
    pub from: Vec<Holder>,
}

/// Every accepted topology and how far each partition moved: the fold of
/// [`TopologyChange`] records.
#[derive(Debug, Clone)]
pub struct TopologyBook {
    partitions: u32,
    epochs: Vec<Epoch>,
    /// Index layouts and the reshard in progress ([`reshards`]).
    layouts: reshards::Layouts,
}

/// Why a proposal is not accepted (the fold ignores it; the admin API says why first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    #[error("topology version {current} is still being moved to; wait until it completes")]
    MoveInProgress { current: u64 },
    #[error("the proposed version is {proposed}, but the next version is {next}")]
    WrongVersion { proposed: u64, next: u64 },
    #[error("the shard count and replication factor cannot change in a topology change (resharding is a separate operation)")]
    ShapeChanged,
    #[error("index `{index}` is being resharded; wait until it completes")]
    ReshardInProgress { index: String },
}

fn holders(placement: &Placement, shard: ShardId) -> Vec<Holder> {
    placement.replicas(shard).into_iter().filter_map(|node| Some((node.id.clone(), placement.rank_of(shard, &node.id)?))).collect()
}

impl TopologyBook {
    /// The book of a cluster launched with `launch`, whose `ops` log has `partitions` partitions.
    pub fn new(launch: Placement, partitions: u32) -> TopologyBook {
        let epoch = Epoch { placement: Arc::new(launch), proposed_at: None, copied: BTreeMap::new(), released: BTreeMap::new() };
        let layouts = reshards::Layouts::new(&epoch.placement);
        TopologyBook { partitions, epochs: vec![epoch], layouts }
    }

    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    fn last(&self) -> &Epoch {
        self.epochs.last().expect("the launch epoch is always there")
    }

    /// Whether epoch `i` has moved on every partition (the launch epoch always has).
    fn complete(&self, i: usize) -> bool {
        i == 0 || self.epochs[i].released.len() as u32 >= self.partitions
    }

    fn switched(&self, i: usize) -> bool {
        i == 0 || self.epochs[i].copied.len() as u32 >= self.partitions
    }

    /// Index layouts and the reshard in progress.
    pub fn layouts(&self) -> &reshards::Layouts {
        &self.layouts
    }

    /// The placement of `layout` in epoch `i`.
    fn placement_at(&self, i: usize, layout: Option<u32>) -> &Arc<Placement> {
        self.layouts.placement(&self.epochs[i].placement, i, layout)
    }

    /// The newest topology's placement of `layout`.
    pub fn newest_placement(&self, layout: Option<u32>) -> &Arc<Placement> {
        self.placement_at(self.epochs.len() - 1, layout)
    }

    /// Whether `index` may be resharded to `shards` shards now.
    pub fn check_reshard(&self, index: &str, shards: u32) -> Result<(), ReshardError> {
        if !self.complete(self.epochs.len() - 1) {
            return Err(ReshardError::MoveInProgress { current: self.last().version() });
        }
        self.layouts.check(index, shards)
    }

    /// Whether `topology` may be proposed now.
    pub fn check_proposal(&self, topology: &Topology) -> Result<(), ProposalError> {
        let current = self.last().placement.topology();
        if !self.complete(self.epochs.len() - 1) {
            return Err(ProposalError::MoveInProgress { current: current.version });
        }
        if topology.version != current.version + 1 {
            return Err(ProposalError::WrongVersion { proposed: topology.version, next: current.version + 1 });
        }
        if topology.shard_count != current.shard_count || topology.replication_factor != current.replication_factor {
            return Err(ProposalError::ShapeChanged);
        }
        if let Some(reshard) = self.layouts.reshard() {
            return Err(ProposalError::ReshardInProgress { index: reshard.index.clone() });
        }
        Ok(())
    }

    /// Folds one record. Records that do not fit (a proposal while a move runs, a barrier of
    /// another version, a second report of a partition) change nothing, so every process
    /// folding the same log reaches the same book.
    pub fn apply(&mut self, change: &TopologyChange) {
        match change {
            TopologyChange::TopologyProposed { topology, at } => {
                if self.check_proposal(topology).is_ok() {
                    let placement = Placement::after(&self.last().placement, topology.clone());
                    self.layouts.extend_chains(topology);
                    let epoch = Epoch {
                        placement: Arc::new(placement),
                        proposed_at: Some(*at),
                        copied: BTreeMap::new(),
                        released: BTreeMap::new(),
                    };
                    self.epochs.push(epoch);
                }
            }
            TopologyChange::ShardsCopied { version, partition, position } => {
                let last = self.epochs.len() - 1;
                if last > 0 && self.epochs[last].version() == *version && *partition < self.partitions {
                    self.epochs[last].copied.entry(*partition).or_insert(*position);
                }
            }
            TopologyChange::ShardsReleased { version, partition, position } => {
                let last = self.epochs.len() - 1;
                let copied = self.epochs[last].copied.get(partition).is_some_and(|h| h < position);
                if last > 0 && self.epochs[last].version() == *version && self.switched(last) && copied {
                    self.epochs[last].released.entry(*partition).or_insert(*position);
                }
            }
            TopologyChange::ReshardProposed { index, shards, at } => {
                if self.check_reshard(index, *shards).is_ok() {
                    let topologies: Vec<&Topology> = self.epochs.iter().map(|e| e.placement.topology()).collect();
                    self.layouts.propose(index, *shards, *at, &topologies);
                }
            }
            TopologyChange::ReshardSwitched { index, shards, position } => self.layouts.switch(index, *shards, *position),
            TopologyChange::ReshardAborted { index, shards, .. } => self.layouts.abort(index, *shards),
            TopologyChange::ReshardReleased { index, shards, .. } => self.layouts.release(index, *shards),
        }
    }

    /// The epoch of topology `version`, if the cluster has had it.
    pub fn epoch(&self, version: u64) -> Option<&Epoch> {
        self.epochs.iter().find(|e| e.version() == version)
    }

    /// The topology `version` replaced (its previous epoch's placement).
    pub fn previous(&self, version: u64) -> Option<&Arc<Placement>> {
        self.change_to(version, None).map(|(old, _)| old)
    }

    /// The placements of `layout` before and after the change to `version` (none for the
    /// launch topology).
    fn change_to(&self, version: u64, layout: Option<u32>) -> Option<(&Arc<Placement>, &Arc<Placement>)> {
        let i = self.epochs.iter().position(|e| e.version() == version).filter(|&i| i > 0)?;
        Some((self.placement_at(i - 1, layout), self.placement_at(i, layout)))
    }

    /// The newest topology (the one being moved to, during a move).
    pub fn newest(&self) -> &Epoch {
        self.last()
    }

    /// The move in progress, if any.
    pub fn moving(&self) -> Option<(&Epoch, MovePhase)> {
        let last = self.epochs.len() - 1;
        if self.complete(last) {
            return None;
        }
        let phase = if self.switched(last) { MovePhase::Switched } else { MovePhase::Copying };
        Some((self.last(), phase))
    }

    /// The placement reads of an index in `layout` use, and whether node indexes may hold
    /// shards it does not give them (a move in progress), so that every read must be narrowed
    /// to the shards asked.
    pub fn read_view(&self, layout: Option<u32>) -> (Arc<Placement>, bool) {
        let last = self.epochs.len() - 1;
        match self.moving() {
            None => (self.placement_at(last, layout).clone(), false),
            Some((_, MovePhase::Switched)) => (self.placement_at(last, layout).clone(), true),
            Some((_, MovePhase::Copying)) => (self.placement_at(last - 1, layout).clone(), true),
        }
    }

    /// The replicas a gateway lists in a task for `shard` (of `layout`) of an index on
    /// `partition`: those the operation it appends now will reach, as far as this book knows.
    pub fn write_targets(&self, partition: u32, shard: ShardId, layout: Option<u32>) -> Vec<String> {
        let targets = self.apply_targets(partition, u64::MAX, shard, layout);
        let mut nodes: Vec<String> = Vec::new();
        for (node, _) in targets.holders {
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
        nodes
    }

    /// The replicas an operation at `position` of `partition` reaches for `shard` of `layout`
    /// (indexers and their replays): decided by where the position lies against the
    /// partition's barriers.
    pub fn apply_targets(&self, partition: u32, position: u64, shard: ShardId, layout: Option<u32>) -> ApplyTargets {
        for i in (1..self.epochs.len()).rev() {
            let epoch = &self.epochs[i];
            let new = holders(self.placement_at(i, layout), shard);
            if let Some(&released) = epoch.released.get(&partition) {
                if position > released {
                    let old = holders(self.placement_at(i - 1, layout), shard);
                    let mut proxied: Vec<String> = Vec::new();
                    for (node, _) in old {
                        if !new.iter().any(|(n, _)| *n == node) && !proxied.contains(&node) {
                            proxied.push(node);
                        }
                    }
                    return ApplyTargets { holders: new, proxied };
                }
            }
            if let Some(&copied) = epoch.copied.get(&partition) {
                if position > copied {
                    let mut union = new;
                    for holder in holders(self.placement_at(i - 1, layout), shard) {
                        if !union.contains(&holder) {
                            union.push(holder);
                        }
                    }
                    return ApplyTargets { holders: union, proxied: Vec::new() };
                }
            }
        }
        ApplyTargets { holders: holders(self.placement_at(0, layout), shard), proxied: Vec::new() }
    }

    /// What the copy barrier of `version` fills for an index in `layout`: every replica (node,
    /// rank) of the new placement that the previous one did not have.
    pub fn copies(&self, version: u64, layout: Option<u32>) -> Vec<ShardCopy> {
        let Some((old, new)) = self.change_to(version, layout) else { return Vec::new() };
        let mut copies = Vec::new();
        for shard in new.shards() {
            let before = holders(old, shard);
            for holder in holders(new, shard) {
                if !before.contains(&holder) {
                    copies.push(ShardCopy { shard, to: holder, from: before.clone() });
                }
            }
        }
        copies
    }

    /// What the release barrier of `version` deletes for an index in `layout`: every replica
    /// (node, rank) of the previous placement the new one does not have, on nodes still in the
    /// topology (a removed node is left as it is: the operator stops it).
    pub fn releases(&self, version: u64, layout: Option<u32>) -> Vec<(ShardId, Holder)> {
        let Some((old, new)) = self.change_to(version, layout) else { return Vec::new() };
        let mut releases = Vec::new();
        for shard in old.shards() {
            let after = holders(new, shard);
            for holder in holders(old, shard) {
                if !after.contains(&holder) && new.topology().node(&holder.0).is_some() {
                    releases.push((shard, holder));
                }
            }
        }
        releases
    }

    /// A node of any topology the cluster has had, newest first (so a node's current address).
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.epochs.iter().rev().find_map(|e| e.placement.topology().node(id))
    }

    /// Every node id any epoch names.
    pub fn all_nodes(&self) -> BTreeSet<String> {
        self.epochs.iter().flat_map(|e| e.placement.topology().nodes.iter().map(|n| n.id.clone())).collect()
    }
}

pub mod reshards;
pub use reshards::{Reshard, ReshardPhase};

#[cfg(test)]
mod tests;

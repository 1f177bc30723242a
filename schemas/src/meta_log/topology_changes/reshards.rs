//! Resharding (docs/resharding.md): the part of the [`super::TopologyBook`] that says how many
//! shards each index has, which layout an operation at a given `ops` position reaches, and the
//! reshard in progress.
//!
//! An index starts in the *launch layout* (the cluster's `S`, node indexes `movies__rank-r`).
//! A reshard to `n` shards builds the layout `Some(n)` (node indexes `movies__sn-rank-r`) from
//! the current one at a barrier in the index's `ops` partition, and records the barrier's
//! position when it switches: operations up to it belong to the old layout, operations after
//! it to the new one. Every index lives on one `ops` partition, so one barrier orders a reshard
//! against every write of its index. A layout's placement is the cluster's chain of topology
//! versions with that shard count (`Placement::new` of the launch topology, then
//! `Placement::after` each change), so every process derives the same one.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;

use crate::placement::Placement;
use crate::topology::Topology;

/// The most shards an index may be resharded to.
pub const MAX_SHARDS: u32 = 1024;

/// Where a reshard stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReshardPhase {
    /// Recorded; the indexer owning the index's partition builds the new layout at the barrier
    /// (writes are accepted and wait behind it). Reads use the old layout.
    Building,
    /// The new layout took over at `position`; the old one is kept until its release.
    Switched { position: u64 },
}

/// A reshard in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshard {
    pub index: String,
    /// The layout being replaced (`None`: the launch layout).
    pub from: Option<u32>,
    pub to: u32,
    pub proposed_at: OffsetDateTime,
    pub phase: ReshardPhase,
}

/// Why a reshard is not accepted (the fold ignores it; the admin API says why first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReshardError {
    #[error("the shard count must be between 1 and {MAX_SHARDS}, got {0}")]
    BadShardCount(u32),
    #[error("index `{index}` already has {shards} shards")]
    Unchanged { index: String, shards: u32 },
    #[error("index `{index}` is being resharded to {shards} shards; wait until it completes")]
    InProgress { index: String, shards: u32 },
    #[error("topology version {current} is still being moved to; wait until it completes")]
    MoveInProgress { current: u64 },
}

/// Every index's layout history, the reshard in progress, and the placement chain of every
/// shard count a layout uses.
#[derive(Debug, Clone)]
pub struct Layouts {
    cluster_shards: u32,
    /// Per index, its switches in log order: after `position` the index has layout `Some(n)`.
    switches: BTreeMap<String, Vec<(u64, u32)>>,
    reshard: Option<Reshard>,
    /// Per shard count other than the cluster's, its placement in every topology epoch.
    chains: BTreeMap<u32, Vec<Arc<Placement>>>,
}

impl Layouts {
    pub(super) fn new(launch: &Placement) -> Layouts {
        Layouts { cluster_shards: launch.topology().shard_count, switches: BTreeMap::new(), reshard: None, chains: BTreeMap::new() }
    }

    pub fn reshard(&self) -> Option<&Reshard> {
        self.reshard.as_ref()
    }

    /// The index's current layout: what writes are routed by and reads use.
    pub fn layout(&self, index: &str) -> Option<u32> {
        self.switches.get(index).and_then(|s| s.last()).map(|&(_, n)| n)
    }

    /// The layout of `index` for an operation at `position` of its partition.
    pub fn layout_at(&self, index: &str, position: u64) -> Option<u32> {
        self.switches.get(index)?.iter().rev().find(|(at, _)| position > *at).map(|&(_, n)| n)
    }

    /// How many shards `layout` has.
    pub fn shard_count(&self, layout: Option<u32>) -> u32 {
        layout.unwrap_or(self.cluster_shards)
    }

    /// The placement of `layout` in epoch `epoch` (`launch_chain` is the cluster's own).
    pub(super) fn placement<'a>(&'a self, launch_chain: &'a Arc<Placement>, epoch: usize, layout: Option<u32>) -> &'a Arc<Placement> {
        match layout.filter(|&n| n != self.cluster_shards) {
            None => launch_chain,
            Some(n) => &self.chains.get(&n).expect("a chain is kept for every layout the book names")[epoch],
        }
    }

    pub(super) fn check(&self, index: &str, shards: u32) -> Result<(), ReshardError> {
        if shards == 0 || shards > MAX_SHARDS {
            return Err(ReshardError::BadShardCount(shards));
        }
        if let Some(reshard) = &self.reshard {
            return Err(ReshardError::InProgress { index: reshard.index.clone(), shards: reshard.to });
        }
        if self.shard_count(self.layout(index)) == shards {
            return Err(ReshardError::Unchanged { index: index.to_owned(), shards });
        }
        Ok(())
    }

    pub(super) fn propose(&mut self, index: &str, shards: u32, at: OffsetDateTime, topologies: &[&Topology]) {
        self.ensure_chain(shards, topologies);
        let from = self.layout(index);
        self.reshard = Some(Reshard { index: index.to_owned(), from, to: shards, proposed_at: at, phase: ReshardPhase::Building });
    }

    fn building(&self, index: &str, shards: u32) -> bool {
        self.reshard.as_ref().is_some_and(|r| r.index == index && r.to == shards && r.phase == ReshardPhase::Building)
    }

    pub(super) fn switch(&mut self, index: &str, shards: u32, position: u64) {
        if !self.building(index, shards) {
            return;
        }
        self.switches.entry(index.to_owned()).or_default().push((position, shards));
        if let Some(reshard) = &mut self.reshard {
            reshard.phase = ReshardPhase::Switched { position };
        }
    }

    pub(super) fn abort(&mut self, index: &str, shards: u32) {
        if self.building(index, shards) {
            self.reshard = None;
        }
    }

    pub(super) fn release(&mut self, index: &str, shards: u32) {
        let switched = self.reshard.as_ref().is_some_and(|r| r.index == index && r.to == shards && r.phase != ReshardPhase::Building);
        if switched {
            self.reshard = None;
        }
    }

    /// Keeps a placement chain for `shards` over every epoch so far.
    fn ensure_chain(&mut self, shards: u32, topologies: &[&Topology]) {
        if shards == self.cluster_shards || self.chains.contains_key(&shards) {
            return;
        }
        let mut chain: Vec<Arc<Placement>> = Vec::with_capacity(topologies.len());
        for topology in topologies {
            let topology = Topology { shard_count: shards, ..(*topology).clone() };
            let placement = match chain.last() {
                None => Placement::new(topology),
                Some(previous) => Placement::after(previous, topology),
            };
            chain.push(Arc::new(placement));
        }
        self.chains.insert(shards, chain);
    }

    /// A new topology epoch: every kept chain takes its next placement.
    pub(super) fn extend_chains(&mut self, topology: &Topology) {
        for (&shards, chain) in &mut self.chains {
            let previous = chain.last().expect("a chain starts at the launch epoch").clone();
            chain.push(Arc::new(Placement::after(&previous, Topology { shard_count: shards, ..topology.clone() })));
        }
    }
}

#[cfg(test)]
mod tests;

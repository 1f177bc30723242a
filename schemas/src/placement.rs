//! Where data lives: which shard a document belongs to and which nodes hold a shard.
//!
//! Both answers use rendezvous (highest-random-weight) hashing with
//! `H(a, b) = XXH3-64(seed 0)(a ‖ 0xFF ‖ b ‖ 0xFF)`:
//! * document → shard: the shard whose name scores highest with the document id. This is bit
//!   for bit Meilisearch Enterprise's rule (it hashes the tuple `(shard, id)`, and Rust's
//!   `Hash for str` writes the bytes then `0xFF`), so data can move between Miroir and an EE
//!   cluster. A tie goes to the lexicographically greatest shard name, as EE's `max_by_key`
//!   over name-sorted shards keeps the last maximum.
//! * shard → nodes: inside each replica group, a balanced placement (every node holds
//!   `⌊S·RF/N⌋` or `⌈S·RF/N⌉` shard replicas) with the highest total `H(nodeId, shardName)`;
//!   see [`balance`].
//!
//! Document ids are hashed as Meilisearch sees them externally: the string itself, or the
//! decimal rendering of an integer id.

use crate::node_layout::ReplicaRank;
use crate::topology::{Node, ShardId, Topology};
use std::collections::BTreeMap;
use xxhash_rust::xxh3::xxh3_64;

/// Separator Rust's `Hash for str` appends after a string; EE's hash depends on it.
const SEPARATOR: u8 = 0xFF;

/// `XXH3-64(seed 0)(a ‖ 0xFF ‖ b ‖ 0xFF)`.
pub fn hrw_hash(a: &str, b: &str) -> u64 {
    let mut buf = Vec::with_capacity(a.len() + b.len() + 2);
    buf.extend_from_slice(a.as_bytes());
    buf.push(SEPARATOR);
    hash_suffixed(&mut buf, b)
}

/// Hashes `prefix ‖ b ‖ 0xFF` where `buf` already holds `prefix`, leaving `buf` as it found it
/// so one buffer serves every candidate.
fn hash_suffixed(buf: &mut Vec<u8>, b: &str) -> u64 {
    let prefix_len = buf.len();
    buf.extend_from_slice(b.as_bytes());
    buf.push(SEPARATOR);
    let hash = xxh3_64(buf);
    buf.truncate(prefix_len);
    hash
}

/// Index of the candidate that wins `key` under HRW (highest `H(candidate, key)`, ties to the
/// greatest name). `None` when there are no candidates.
pub fn hrw_winner<S: AsRef<str>>(candidates: &[S], key: &str) -> Option<usize> {
    let mut buf = Vec::new();
    best_scored(candidates.iter().enumerate().map(|(i, candidate)| {
        let name = candidate.as_ref();
        buf.clear();
        buf.extend_from_slice(name.as_bytes());
        buf.push(SEPARATOR);
        (hash_suffixed(&mut buf, key), name, i)
    }))
}

/// The index carried by the best `(score, name, index)`: highest score, ties to the greatest name.
fn best_scored<'a>(scored: impl Iterator<Item = (u64, &'a str, usize)>) -> Option<usize> {
    scored.max_by(|(ha, na, _), (hb, nb, _)| ha.cmp(hb).then_with(|| na.cmp(nb))).map(|(_, _, i)| i)
}

/// What one node index of a node answers for in a read: see [`Placement::node_index_parts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIndexPart {
    pub rank: ReplicaRank,
    /// The shards asked of it, ascending.
    pub shards: Vec<ShardId>,
    /// Whether it holds no other shard (no shard filter needed).
    pub whole: bool,
}

/// The placement of every shard of a topology, computed once.
#[derive(Debug, Clone)]
pub struct Placement {
    topology: Topology,
    /// `shard-k`, indexed by `k`.
    shard_names: Vec<String>,
    /// Replica group names, sorted.
    groups: Vec<String>,
    /// `replicas[k][g]`: indexes into `topology.nodes` of shard `k`'s holders in group `g`, by replica rank
    /// (`[0]` holds the rank-0 copy).
    replicas: Vec<Vec<Vec<usize>>>,
}

impl Placement {
    pub fn new(topology: Topology) -> Placement {
        Placement::build(topology, None)
    }

    /// The placement of `topology` derived from `previous` (the placement of the topology it
    /// replaces): among balanced placements, the one that keeps the most replicas where they
    /// were, and then the most replica ranks, HRW deciding only what has to move. A joining
    /// node takes exactly its share and nothing else moves (or one replica more, rarely, when the
    /// counts and the rank spread need it); a leaving node's replicas move and
    /// nothing else (up to the ⌊⌋/⌈⌉ counts of the new node count). Unlike [`Placement::new`]
    /// it depends on history: the cluster must keep each topology version's placement, or
    /// derive it along the same chain of versions.
    pub fn after(previous: &Placement, topology: Topology) -> Placement {
        Placement::build(topology, Some(previous))
    }

    fn build(topology: Topology, previous: Option<&Placement>) -> Placement {
        let shard_names: Vec<String> = topology.shards().map(ShardId::name).collect();
        let groups: Vec<String> = topology.replica_groups().into_iter().map(str::to_owned).collect();
        let members: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| {
                (0..topology.nodes.len())
                    .filter(|&i| topology.nodes[i].replica_group == *g && topology.holds_replicas(&topology.nodes[i].id))
                    .collect()
            })
            .collect();
        let rf = topology.replication_factor as usize;
        // Per group, per shard: the holders as indexes into that group's members.
        let by_group: Vec<Vec<Vec<usize>>> = members
            .iter()
            .map(|member_idx| {
                let ids: Vec<&str> = member_idx.iter().map(|&i| topology.nodes[i].id.as_str()).collect();
                let hrw = |k: usize, n: usize| u128::from(hrw_hash(ids[n], &shard_names[k]));
                // Where each replica was: the rank node `n` held shard `k` at, in the same group.
                let previous_rank = |k: usize, n: usize| -> Option<usize> {
                    let previous = previous?;
                    let node = &topology.nodes[member_idx[n]];
                    let before = previous.topology.nodes.iter().find(|p| p.id == node.id && p.replica_group == node.replica_group)?;
                    previous.rank_of(ShardId(k as u32), &before.id).map(|rank| rank.0 as usize)
                };
                let kept = |held: bool| if held { balance::KEEP_BONUS } else { 0 };
                let holders =
                    balance::balanced_holders(&ids, shard_names.len(), rf, |k, n| hrw(k, n) + kept(previous_rank(k, n).is_some()));
                balance::ranked_holders(&holders, ids.len(), |rank, k, n| hrw(k, n) + kept(previous_rank(k, n) == Some(rank)))
            })
            .collect();
        let replicas = (0..shard_names.len())
            .map(|k| {
                by_group.iter().zip(&members).map(|(holders, member_idx)| holders[k].iter().map(|&j| member_idx[j]).collect()).collect()
            })
            .collect();
        Placement { topology, shard_names, groups, replicas }
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn shards(&self) -> impl Iterator<Item = ShardId> + Clone {
        self.topology.shards()
    }

    /// Replica group names, sorted.
    pub fn replica_groups(&self) -> &[String] {
        &self.groups
    }

    /// The shard document `doc_id` belongs to: the HRW winner among the shard names, Meilisearch
    /// Enterprise's rule.
    pub fn shard_of(&self, doc_id: &str) -> ShardId {
        ShardId(hrw_winner(&self.shard_names, doc_id).expect("a topology has at least one shard") as u32)
    }

    /// Splits items by the shard of their document id, keeping their order within a shard.
    pub fn partition_by_shard<T>(&self, items: impl IntoIterator<Item = T>, doc_id: impl Fn(&T) -> &str) -> BTreeMap<ShardId, Vec<T>> {
        let mut by_shard: BTreeMap<ShardId, Vec<T>> = BTreeMap::new();
        for item in items {
            by_shard.entry(self.shard_of(doc_id(&item))).or_default().push(item);
        }
        by_shard
    }

    /// Every node holding `shard`, group by group (groups sorted by name), by replica rank in a group.
    pub fn replicas(&self, shard: ShardId) -> Vec<&Node> {
        self.replica_indexes(shard).flat_map(|g| g.iter()).map(|&i| &self.topology.nodes[i]).collect()
    }

    /// The nodes of `group` holding `shard`, by replica rank; empty for an unknown group or shard.
    pub fn replicas_in_group(&self, shard: ShardId, group: &str) -> Vec<&Node> {
        let Some(g) = self.groups.iter().position(|name| name == group) else {
            return Vec::new();
        };
        self.replica_indexes(shard).nth(g).map(|holders| holders.iter().map(|&i| &self.topology.nodes[i]).collect()).unwrap_or_default()
    }

    /// The shards `node_id` holds, ascending; empty for an unknown node.
    pub fn shards_of_node(&self, node_id: &str) -> Vec<ShardId> {
        let Some(n) = self.topology.nodes.iter().position(|node| node.id == node_id) else {
            return Vec::new();
        };
        self.shards().filter(|&shard| self.replica_indexes(shard).any(|g| g.contains(&n))).collect()
    }

    /// The rank of `node_id`'s copy of `shard` in its replica group; `None` when it holds none.
    pub fn rank_of(&self, shard: ShardId, node_id: &str) -> Option<ReplicaRank> {
        let n = self.topology.nodes.iter().position(|node| node.id == node_id)?;
        self.replica_indexes(shard).find_map(|holders| holders.iter().position(|&i| i == n)).map(|r| ReplicaRank(r as u32))
    }

    /// The shards `node_id` holds at `rank` (what its node index for that rank holds), ascending.
    pub fn shards_of_node_at(&self, node_id: &str, rank: ReplicaRank) -> Vec<ShardId> {
        self.shards().filter(|&shard| self.rank_of(shard, node_id) == Some(rank)).collect()
    }

    /// How `node_id` answers for `shards` (shards it holds): one part per replica rank among
    /// them, each one node index. A part is `whole` when the node index holds exactly those
    /// shards, so no filter is needed; otherwise the request must be narrowed to them.
    pub fn node_index_parts(&self, node_id: &str, shards: &[ShardId]) -> Vec<NodeIndexPart> {
        let mut by_rank: BTreeMap<ReplicaRank, Vec<ShardId>> = BTreeMap::new();
        for &shard in shards {
            if let Some(rank) = self.rank_of(shard, node_id) {
                by_rank.entry(rank).or_default().push(shard);
            }
        }
        by_rank
            .into_iter()
            .map(|(rank, mut asked)| {
                asked.sort_unstable();
                asked.dedup();
                let whole = asked == self.shards_of_node_at(node_id, rank);
                NodeIndexPart { rank, shards: asked, whole }
            })
            .collect()
    }

    fn replica_indexes(&self, shard: ShardId) -> impl Iterator<Item = &Vec<usize>> {
        self.replicas.get(shard.0 as usize).into_iter().flatten()
    }
}

mod balance;

#[cfg(test)]
mod tests;

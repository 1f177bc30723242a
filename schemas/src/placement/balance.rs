//! Which nodes of one replica group hold each shard: a balanced placement.
//!
//! Plain HRW (each shard takes its `RF` best-scoring nodes) moves the fewest shards when nodes come
//! and go, but with few shards per node the load is a dice roll: 7 shards over 3 nodes leave some
//! node empty about one time in six. Miroir instead takes, **among all balanced placements, the one
//! with the highest total HRW score** `Σ H(nodeId, shardName)` over the replicas it places:
//! * every node holds `⌊S·RF/N⌋` or `⌈S·RF/N⌉` shard replicas, and a shard's replicas are on
//!   distinct nodes (`RF` is capped at `N`);
//! * it depends on the topology alone (no history), so every process computes the same answer;
//! * adding or removing a node moves few replicas besides the ones the newcomer takes or the
//!   leaver gives up, because every other pair keeps its score. The extra is measured by
//!   `tests/movement.rs` (table in `docs/benchmarks.md`, "Placement movement"): from 1.45× the
//!   ideal at RF 1 with S < 16 down to 1.08× at RF 2 with S ≥ 64, joins and leaves alike. A rule
//!   without history cannot keep every node at ⌊⌋/⌈⌉ *and* always move only the newcomer's share:
//!   two nodes leaving in either order must end at the same placement, and with about one shard
//!   per node both orders cannot each move only the leaver's replicas. The other rules measured
//!   there (a fixed priority for the ⌈⌉ nodes, a canonical order of joins, reshaped scores,
//!   stability terms) move more, or at most a few percent less.
//!
//! The optimum is a min-cost flow: source → shard (capacity RF) → node (capacity 1, cost −score) →
//! sink, where each node's first `⌊S·RF/N⌋` units carry a bonus large enough that every node is
//! filled to the floor before any node takes a `⌈⌉` unit. Successive shortest paths (Bellman–Ford,
//! since costs are negative) find it; the graph has `S + 2N + 2` vertices and `S·N` shard edges,
//! which is instant for clusters of hundreds of shards.

/// Added to the score of a replica a node already holds when a placement is derived from the
/// previous one ([`super::Placement::after`]): larger than any sum of HRW scores along a flow
/// path, so keeping a replica where it is always beats any HRW preference, and the placement
/// moves the fewest replicas any balanced placement can.
pub(super) const KEEP_BONUS: u128 = 1 << 80;

/// Holders of every shard, best score first: `holders[k]` are indexes into `node_ids`.
/// `score(k, n)` is what placing shard `k` on node `n` is worth (HRW, plus [`KEEP_BONUS`] when
/// the placement follows a previous one).
pub(super) fn balanced_holders(node_ids: &[&str], shards: usize, rf: usize, score: impl Fn(usize, usize) -> u128) -> Vec<Vec<usize>> {
    let nodes = node_ids.len();
    if nodes == 0 {
        return vec![Vec::new(); shards];
    }
    let rf = rf.min(nodes);
    let total = shards * rf;
    let (floor, extra) = (total / nodes, total % nodes);
    let scores: Vec<Vec<u128>> = (0..shards).map(|k| (0..nodes).map(|n| score(k, n)).collect()).collect();

    let v = Vertices { shards, nodes };
    let (source, sink) = (v.source(), v.sink());
    let (shard_vertex, node_vertex, ceiling_vertex) = (|k| v.shard(k), |n| v.node(n), |n| v.ceiling(n));
    let mut graph = FlowGraph::new(v.count());
    // Larger than any sum of scores along a path (keep bonuses included), so filling floors
    // always wins.
    let floor_bonus: i128 = 1 << 110;
    for (k, shard_scores) in scores.iter().enumerate() {
        graph.add_edge(source, shard_vertex(k), rf as i64, 0);
        for (n, &score) in shard_scores.iter().enumerate() {
            graph.add_edge(shard_vertex(k), node_vertex(n), 1, -(score as i128));
        }
    }
    for n in 0..nodes {
        graph.add_edge(node_vertex(n), sink, floor as i64, -floor_bonus);
        if extra > 0 {
            // One vertex per node so a node takes at most one unit above the floor.
            graph.add_edge(node_vertex(n), ceiling_vertex(n), 1, 0);
            graph.add_edge(ceiling_vertex(n), sink, 1, 0);
        }
    }
    let pushed = graph.push_cheapest_units(source, sink, total);
    debug_assert_eq!(pushed, total, "a balanced placement always exists when RF ≤ N");

    scores
        .iter()
        .enumerate()
        .map(|(k, shard_scores)| {
            let mut held: Vec<usize> = (0..nodes).filter(|&n| graph.flow_between(shard_vertex(k), node_vertex(n)) > 0).collect();
            held.sort_by(|&a, &b| shard_scores[b].cmp(&shard_scores[a]).then_with(|| node_ids[b].cmp(node_ids[a])));
            held
        })
        .collect()
}

/// Orders every shard's holders by **replica rank**: `ranked[k][r]` holds shard `k`'s rank-`r`
/// copy. A node keeps the shards it holds at one rank in one node index (see
/// `topology::node_index_uid`), and a search asks every node for one rank, so the ranks are
/// balanced too: rank by rank, each node takes `⌊u/left⌋` or `⌈u/left⌉` of its `u` still unranked
/// replicas (`left` ranks to go), preferring, among such choices, the highest total
/// `score(rank, k, n)`. With `RF = 1` the order is the holders' own.
pub(super) fn ranked_holders(holders: &[Vec<usize>], nodes: usize, score: impl Fn(usize, usize, usize) -> u128) -> Vec<Vec<usize>> {
    let shards = holders.len();
    let rf = holders.iter().map(Vec::len).max().unwrap_or(0);
    let mut unranked: Vec<Vec<usize>> = holders.to_vec();
    let mut ranked: Vec<Vec<usize>> = vec![Vec::new(); shards];
    for rank in 0..rf {
        let left = rf - rank;
        let mut remaining = vec![0usize; nodes];
        unranked.iter().flatten().for_each(|&n| remaining[n] += 1);
        let v = Vertices { shards, nodes };
        let (source, sink) = (v.source(), v.sink());
        let (shard_vertex, node_vertex, ceiling_vertex) = (|k| v.shard(k), |n| v.node(n), |n| v.ceiling(n));
        let mut graph = FlowGraph::new(v.count());
        let (floor_bonus, overflow_penalty): (i128, i128) = (-(1 << 110), 1 << 110);
        let mut units = 0;
        for (k, candidates) in unranked.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
            units += 1;
            graph.add_edge(source, shard_vertex(k), 1, 0);
            for &n in candidates {
                graph.add_edge(shard_vertex(k), node_vertex(n), 1, -(score(rank, k, n) as i128));
            }
        }
        for (n, &count) in remaining.iter().enumerate() {
            graph.add_edge(node_vertex(n), sink, (count / left) as i64, floor_bonus);
            if count % left > 0 {
                graph.add_edge(node_vertex(n), ceiling_vertex(n), 1, 0);
                graph.add_edge(ceiling_vertex(n), sink, 1, 0);
            }
            // Never needed when a balanced ranking exists; keeps every shard ranked otherwise.
            graph.add_edge(node_vertex(n), sink, shards as i64, overflow_penalty);
        }
        let pushed = graph.push_cheapest_units(source, sink, units);
        debug_assert_eq!(pushed, units, "every shard with an unranked holder gets a rank");
        for (k, candidates) in unranked.iter_mut().enumerate() {
            if let Some(at) = candidates.iter().position(|&n| graph.flow_between(shard_vertex(k), node_vertex(n)) > 0) {
                ranked[k].push(candidates.remove(at));
            }
        }
    }
    ranked
}

/// The vertices of both flows: source, shards, nodes, each node's "ceiling" vertex (one unit
/// above its floor), sink.
struct Vertices {
    shards: usize,
    nodes: usize,
}

impl Vertices {
    fn source(&self) -> usize {
        0
    }
    fn shard(&self, k: usize) -> usize {
        1 + k
    }
    fn node(&self, n: usize) -> usize {
        1 + self.shards + n
    }
    fn ceiling(&self, n: usize) -> usize {
        1 + self.shards + self.nodes + n
    }
    fn sink(&self) -> usize {
        1 + self.shards + 2 * self.nodes
    }
    fn count(&self) -> usize {
        self.sink() + 1
    }
}

struct Edge {
    to: usize,
    capacity: i64,
    cost: i128,
    /// Index of the reverse edge in `edges[to]`.
    reverse: usize,
}

/// A residual graph for successive-shortest-path min-cost flow.
struct FlowGraph {
    edges: Vec<Vec<Edge>>,
}

impl FlowGraph {
    fn new(vertices: usize) -> FlowGraph {
        FlowGraph { edges: (0..vertices).map(|_| Vec::new()).collect() }
    }

    fn add_edge(&mut self, from: usize, to: usize, capacity: i64, cost: i128) {
        let forward = Edge { to, capacity, cost, reverse: self.edges[to].len() };
        let backward = Edge { to: from, capacity: 0, cost: -cost, reverse: self.edges[from].len() };
        self.edges[from].push(forward);
        self.edges[to].push(backward);
    }

    /// Flow pushed along the (first) edge `from → to`: the capacity its reverse edge gained.
    fn flow_between(&self, from: usize, to: usize) -> i64 {
        self.edges[from].iter().find(|e| e.to == to).map_or(0, |e| self.edges[to][e.reverse].capacity)
    }

    /// Pushes up to `units` of flow, one cheapest path at a time; returns how many went through.
    /// Every path here carries one unit (shard → node edges have capacity 1).
    fn push_cheapest_units(&mut self, source: usize, sink: usize, units: usize) -> usize {
        for pushed in 0..units {
            let Some(path) = self.cheapest_path(source, sink) else {
                return pushed;
            };
            for (vertex, edge) in path {
                let reverse = self.edges[vertex][edge].reverse;
                let to = self.edges[vertex][edge].to;
                self.edges[vertex][edge].capacity -= 1;
                self.edges[to][reverse].capacity += 1;
            }
        }
        units
    }

    /// The cheapest residual path as `(vertex, edge index)` steps (SPFA: Bellman–Ford with a queue).
    fn cheapest_path(&self, source: usize, sink: usize) -> Option<Vec<(usize, usize)>> {
        let vertices = self.edges.len();
        let mut distance: Vec<Option<i128>> = vec![None; vertices];
        let mut via: Vec<Option<(usize, usize)>> = vec![None; vertices];
        let mut queued = vec![false; vertices];
        let mut queue = std::collections::VecDeque::from([source]);
        distance[source] = Some(0);
        while let Some(vertex) = queue.pop_front() {
            queued[vertex] = false;
            let here = distance[vertex].expect("queued vertices have a distance");
            for (index, edge) in self.edges[vertex].iter().enumerate() {
                if edge.capacity == 0 {
                    continue;
                }
                let candidate = here + edge.cost;
                if distance[edge.to].is_none_or(|known| candidate < known) {
                    distance[edge.to] = Some(candidate);
                    via[edge.to] = Some((vertex, index));
                    if !queued[edge.to] {
                        queued[edge.to] = true;
                        queue.push_back(edge.to);
                    }
                }
            }
        }
        distance[sink]?;
        let mut path = Vec::new();
        let mut vertex = sink;
        while let Some((from, index)) = via[vertex] {
            path.push((from, index));
            vertex = from;
        }
        path.reverse();
        Some(path)
    }
}

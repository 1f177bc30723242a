//! Shard replicas per node, and replicas moved when a node joins, for the topologies the
//! search benchmarks run (nodes named as the benchmark clusters name them: `node-0…`).
//!
//! Pure computation, no processes. Prints a markdown section and, with `--write-docs`, replaces
//! the "## Placement" section of docs/benchmarks.md.
//!
//!     cargo run --release -p miroir-integration --bin bench_placement -- --write-docs docs/benchmarks.md

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use miroir_integration::bench_support::write_section;
use miroir_integration::miroir_processes::grouped_nodes;
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::Topology;

#[derive(Parser)]
#[command(about = "Shard replicas per node and movement on a join, for the benchmark topologies")]
struct Args {
    /// Replace the "## Placement" section of this markdown file.
    #[arg(long)]
    write_docs: Option<PathBuf>,
}

/// `(nodes, S, RF)` of every cluster the benchmarks and the search-cost issue name.
const TOPOLOGIES: [(usize, u32, u32); 8] = [(2, 8, 1), (3, 3, 1), (3, 7, 1), (3, 12, 1), (3, 3, 2), (3, 7, 2), (3, 12, 2), (5, 64, 2)];

fn placement(nodes: usize, shards: u32, rf: u32) -> Result<Placement> {
    let urls: Vec<String> = (0..nodes).map(|i| format!("http://node-{i}")).collect();
    Ok(Placement::new(Topology::new(1, shards, rf, grouped_nodes(&urls, 1))?))
}

fn holders(p: &Placement) -> Vec<BTreeSet<String>> {
    p.shards().map(|s| p.replicas(s).iter().map(|n| n.id.clone()).collect()).collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut out = String::from(
        "Balanced placement (`schemas/src/placement/balance.rs`): shard replicas each node holds, and what a \
         fourth/sixth node joining moves. *ideal* is the newcomer's share (the fewest moves any balanced placement \
         allows); *moved* counts every replica that lands on a node that did not hold it.\n\n\
         | nodes | S | RF | replicas per node | after a join | moved | ideal |\n|---:|---:|---:|---|---|---:|---:|\n",
    );
    for (nodes, shards, rf) in TOPOLOGIES {
        let before = placement(nodes, shards, rf)?;
        let after = placement(nodes + 1, shards, rf)?;
        let loads = |p: &Placement, n: usize| {
            (0..n).map(|i| p.shards_of_node(&format!("node-{i}")).len().to_string()).collect::<Vec<_>>().join(", ")
        };
        let (old, new) = (holders(&before), holders(&after));
        let moved: usize = old.iter().zip(&new).map(|(o, n)| n.difference(o).count()).sum();
        let ideal = after.shards_of_node(&format!("node-{nodes}")).len();
        out.push_str(&format!(
            "| {nodes} | {shards} | {rf} | {} | {} | {moved} | {ideal} |\n",
            loads(&before, nodes),
            loads(&after, nodes + 1)
        ));
    }
    println!("{out}");
    if let Some(path) = &args.write_docs {
        write_section(path, "## Placement", &out)?;
        eprintln!("wrote the Placement section of {}", path.display());
    }
    Ok(())
}

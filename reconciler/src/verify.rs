//! The periodic verify pass (`--verify-interval-secs`): compares the replicas of every shard
//! (and every node index's settings) and, with `--verify-repair`, repairs them
//! (`miroir_clients::drift`, docs/repair.md). Each pass logs its totals and counts them in the
//! `miroir_drift_*` metrics; a pass that fails to reach a node skips what it cannot read.
//! Passes follow the newest topology and are skipped while a topology change moves replicas
//! (copies and not-yet-released replicas would look like drift).

use std::sync::Arc;
use std::time::Duration;

use miroir_clients::drift::{self, VerifyOptions};
use miroir_clients::log::WriteLog;
use miroir_clients::node::NodeError;
use miroir_clients::topology_follower::TopologyFollower;
use miroir_schemas::placement::Placement;

/// Runs a pass every `interval` (the first one `interval` after start) until `stop` resolves.
pub async fn run_verify(
    placement: Placement,
    log: Arc<dyn WriteLog>,
    interval: Duration,
    options: VerifyOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), NodeError> {
    let topology = TopologyFollower::start(log.clone(), placement);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
        let Some(book) = topology.settled_book() else {
            tracing::info!("verify pass skipped: a topology change is moving replicas");
            continue;
        };
        let placement = book.newest().placement.clone();
        let nodes = drift::node_clients(placement.topology())?;
        let cluster = drift::Cluster { placement: &placement, layout: None, book: Some(&book), nodes: &nodes, log: Some(log.as_ref()) };
        // A pass is not raced against `stop`: it is a sequence of shard units, and a repair in
        // progress finishes its node task either way; the pass ends at most one shard later.
        drift::verify(&cluster, &options).await;
    }
}

//! The indexer: applies `ops` to every replica of each shard and reports `task-events`.
//!
//! Module map:
//! * [`worker`]: the loop — consume `ops` as a group member, apply each partition, commit.
//! * [`request`], [`batch`]: from `ops` records to node requests, batched as Meilisearch's
//!   auto-batcher would (pure).
//! * [`job`], [`apply`], [`replica`]: applying one node index's requests to one replica, behind
//!   a small node trait.
//! * [`checkpoint`], [`replay`], [`catch_up`]: each replica's apply position, kept in the node
//!   itself, and catching a lagging replica up from it; [`lag_announce`]: telling gateways
//!   which replicas lag; [`peer_rebuild`]: copying a replica from a peer when the log no
//!   longer holds what it lacks.
//! * [`events`]: per-operation outcomes into `task-events`; [`cancelation`]: the indexer's side
//!   of task cancelation.
//! * [`config`]: launch flags.

pub mod apply;
pub mod batch;
pub mod cancelation;
pub mod catch_up;
pub mod checkpoint;
pub mod events;
pub mod job;
pub mod lag;
pub mod lag_announce;
pub mod missed_events;
pub mod moves;
pub mod peer_rebuild;
pub mod replay;
pub mod replica;
pub mod request;
pub mod reroute;
pub mod rerouted_events;
pub mod reshard;
pub mod worker;

pub mod config;
#[cfg(test)]
mod fake_node;

use config::{IndexerArgs, LogBackend};
use miroir_clients::log::WriteLog;
use miroir_clients::node::{NodeClient, NodeClientConfig, NodeError};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::Node;
use replica::{HttpReplica, ReplicaNode};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Connects to the log and the nodes named by `args` and runs the indexer until `shutdown`.
pub async fn run(args: IndexerArgs, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let topology = args.cluster.topology()?;
    let log_args = &args.cluster.log;
    if log_args.log_backend == LogBackend::Memory {
        // An in-memory log lives inside one gateway process; an indexer process cannot see it.
        anyhow::bail!("the indexer needs a shared log: --log-backend nats or kafka");
    }
    let log_config = miroir_clients::log::LogConfig { group_session: args.group_session(), ..log_args.log_config() };
    let log: Arc<dyn WriteLog> = Arc::from(log_args.open_log(log_config).await?);
    let (request_timeout, task_timeout) =
        (Duration::from_millis(args.node_request_timeout_ms), Duration::from_secs(args.node_task_timeout_s));
    let connect = move |node: &Node| -> Result<Arc<dyn ReplicaNode>, NodeError> {
        let mut client_config = NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone());
        client_config.request_timeout = request_timeout;
        let client = NodeClient::new(client_config)?;
        Ok(Arc::new(HttpReplica { client, poll_interval: Duration::from_millis(50), task_timeout, uids: Default::default() }))
    };
    let mut nodes: HashMap<String, Arc<dyn ReplicaNode>> = HashMap::new();
    for node in &topology.nodes {
        nodes.insert(node.id.clone(), connect(node)?);
    }
    let connect_added: worker::ConnectNode = Arc::new(move |node: &Node| connect(node).ok());
    let member = args.member.clone().unwrap_or_else(|| format!("indexer-{}", uuid::Uuid::new_v4().simple()));
    let lag = tokio::spawn(lag::report_lag_forever(Arc::clone(&log), args.group.clone(), member.clone()));
    let mut settings = worker::IndexerSettings::new(args.group.clone(), member);
    settings.poll_max = args.poll_max;
    settings.release_grace = Duration::from_millis(args.release_grace_ms);
    let indexer = worker::Indexer::new(log, Placement::new(topology), nodes, Some(connect_added), settings)?;
    let outcome = indexer.run(shutdown).await;
    lag.abort();
    Ok(outcome?)
}

//! The indexer: applies `ops` to every replica of each shard and reports `task-events`.

pub mod apply;
pub mod batch;
pub mod catch_up;
pub mod checkpoint;
pub mod events;
pub mod job;
pub mod replay;
pub mod replica;
pub mod request;
pub mod worker;

#[cfg(test)]
mod fake_node;
pub mod config;

use config::{IndexerArgs, LogBackend};
use miroir_clients::log::{KafkaLog, LogConfig, NatsLog, WriteLog};
use miroir_clients::node::{NodeClient, NodeClientConfig};
use miroir_schemas::placement::Placement;
use replica::{HttpReplica, ReplicaNode};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Connects to the log and the nodes named by `args` and runs the indexer until `shutdown`.
pub async fn run(args: IndexerArgs, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let topology = args.topology()?;
    let mut log_config = LogConfig::new(args.topic_prefix.clone());
    log_config.ops_partitions = args.ops_partitions;
    log_config.task_events_partitions = args.task_events_partitions;
    log_config.group_session = args.group_session();
    let log: Arc<dyn WriteLog> = match args.log_backend {
        LogBackend::Nats => Arc::new(NatsLog::connect(&args.log_url, log_config).await?),
        LogBackend::Kafka => Arc::new(KafkaLog::connect(&args.log_url, log_config).await?),
    };
    let mut nodes: HashMap<String, Arc<dyn ReplicaNode>> = HashMap::new();
    for node in &topology.nodes {
        let mut client_config = NodeClientConfig::new(node.id.clone(), node.url.clone(), node.api_key.clone());
        client_config.request_timeout = Duration::from_millis(args.node_request_timeout_ms);
        let client = NodeClient::new(client_config)?;
        let replica = HttpReplica {
            client,
            poll_interval: Duration::from_millis(50),
            task_timeout: Duration::from_secs(args.node_task_timeout_s),
        };
        nodes.insert(node.id.clone(), Arc::new(replica));
    }
    let member = args.member.clone().unwrap_or_else(|| format!("indexer-{}", uuid::Uuid::new_v4().simple()));
    let mut settings = worker::IndexerSettings::new(args.group.clone(), member);
    settings.poll_max = args.poll_max;
    let indexer = worker::Indexer::new(log, Placement::new(topology), nodes, settings)?;
    indexer.run(shutdown).await?;
    Ok(())
}

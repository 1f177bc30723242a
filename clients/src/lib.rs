//! Clients for what Miroir talks to: the write log and Meilisearch nodes.
//!
//! Module map:
//! * [`log`]: the `WriteLog` trait and its NATS JetStream, Kafka and in-memory implementations
//!   (a new log backend goes here, behind the same contract suite); `tail_partition`, the one
//!   follow-a-partition-forever loop every fold of the log (catalog, keys, cancelations) uses.
//! * [`node`]: the HTTP client of one Meilisearch node.
//! * [`drift`]: verify passes comparing (and repairing) the replicas of every shard.
//! * [`cluster_config`]: the launch flags every Miroir process of one cluster shares.
//! * [`logging`]: how every process writes its log (`--log-format`).
//! * [`snapshots`]: where snapshots of folded state are kept (memory, JetStream object store).
//! * [`topology_follower`]: the newest topology, as the reconciler follows it in `meta`.

pub mod cluster_config;
pub mod drift;
pub mod log;
pub mod logging;
pub mod node;
pub mod snapshots;
pub mod topology_follower;

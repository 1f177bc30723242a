//! Test harness: brokers, real Meilisearch nodes and Miroir processes on loopback, for the
//! integration tests, the benchmarks and the `miroir-dev` launcher. Never a dependency of
//! product code.
//!
//! - [`cluster`]: the one builder of a whole cluster (broker, nodes, gateway, indexer, reconciler).
//! - [`process`]: the one child-process wrapper (process group, log file, signals, restart, stop on drop).
//! - [`wait`]: the one polling loop, `wait_until(deadline, message, condition)`.
//! - [`locate`]: where binaries and shared files are found.
//! - [`brokers`]: nats-server and Tansu.
//! - [`nodes`]: real Meilisearch nodes.
//! - [`miroir_processes`]: the gateway, indexer and reconciler, and the environment they share.
//! - [`recorded`]: requests in the format of the recorded Meilisearch exchanges.
//! - [`corpus`]: the Debian packages corpus.
//! - [`delay_proxy`]: a TCP proxy that delays one node's answers (tail-latency tests and benchmark).
//! - [`indexer_cluster`]: the `indexer_*` tests' cluster: ops appended straight to the log, a model of every shard.
//! - [`bench_support`]: what the cluster benchmarks share.
//! - [`master_calls`]: a gateway called with the master key (send, wait for health, for a task).
//! - [`task_events`]: the task events an indexer would append, for tests running gateways alone.
pub mod bench_support;
pub mod brokers;
pub mod cluster;
pub mod corpus;
pub mod delay_proxy;
pub mod disk;
pub mod indexer_cluster;
pub mod locate;
pub mod master_calls;
pub mod miroir_processes;
pub mod nodes;
pub mod process;
pub mod recorded;
pub mod task_events;
pub mod wait;

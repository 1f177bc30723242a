//! The gateway's read path: executes searches and document reads against the cluster.
//!
//! A read is planned by the pure planner in [`crate::search`] (or, for documents, facet search
//! and stats, by the small pure helpers here), fanned out to **one replica per shard** grouped so
//! that every chosen node gets **one** request, retried on other replicas of a failing node's
//! shards within the request deadline, and merged into the answer one Meilisearch node would
//! give. Node errors that are the user's fault come back verbatim, node index names
//! (`movies__shard-3`) rewritten to the client's index uid; a shard with no reachable replica is
//! a `503`.
//!
//! The HTTP layer mounts the public functions of [`ReadExecutor`] (see each endpoint module).

pub mod assign;
pub mod cluster_search;
pub mod documents;
pub mod error;
pub mod executor;
pub mod explain;
pub mod facet_search;
pub mod fanout;
pub mod fields;
pub mod hedging;
pub mod index_meta;
pub mod node_health;
pub mod query_string;
pub mod replica_score;
pub mod rewrite;
pub mod shard_documents;
pub mod similar;
pub mod stats;
pub mod transport;

pub use error::ReadError;
pub use executor::{ReadAnswer, ReadConfig, ReadExecutor};
pub use index_meta::IndexMeta;
pub use transport::{HttpTransport, NodeCall, NodeTransport};

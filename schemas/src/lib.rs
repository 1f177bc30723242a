//! The data model every Miroir process shares. Pure: no I/O.
//!
//! Module map:
//! * [`topology`], [`placement`]: the cluster's shape; which shard a document belongs to and
//!   which nodes hold a shard (rendezvous hashing, bit-compatible with Meilisearch Enterprise),
//!   at which replica rank.
//! * [`node_layout`]: how a node holds an index (one node index per replica rank, documents
//!   tagged with their shard) and how node messages become the client's.
//! * [`envelope`], [`task_log`], [`meta_log`]: every record Miroir writes to its logs (`ops`,
//!   `tasks`, `task-events`, `meta`), versioned.
//! * [`tasks`], [`details`], [`cancelation`]: where a task's status comes from — the task record
//!   and the per-replica events folded into Meilisearch's task object; which tasks a
//!   cancelation canceled.
//! * [`payload`], [`filter`], [`document_id`]: document payloads (JSON, NDJSON, CSV), the filter
//!   language and document ids, with Meilisearch's exact errors.
//! * [`error`]: Meilisearch's error vocabulary, the one table every layer's errors map through.
//! * [`cdc`]: the change-data-capture events the reconciler publishes.
//! * [`drift`]: comparing the replicas of a shard and planning their repair (anti-entropy).

pub mod cancelation;
pub mod cdc;
pub mod checkpoint_marker;
pub mod details;
pub mod document_id;
pub mod drift;
pub mod envelope;
pub mod error;
pub mod filter;
pub mod idempotency;
pub mod meta_log;
pub mod node_layout;
pub mod payload;
pub mod placement;
pub mod task_log;
pub mod tasks;
pub mod topology;

#[cfg(test)]
mod test_strategies;
#[cfg(test)]
mod test_support;

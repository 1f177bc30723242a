//! HTTP client for one Meilisearch node.
//!
//! One [`NodeClient`] per node: it keeps connections alive, sends the node's key as a bearer
//! token, and returns node-reported errors as the node's own error object
//! ([`NodeError::Meilisearch`]) so they can become task errors verbatim. Transport failures
//! are a different variant and are retried with backoff where a retry cannot apply a write
//! twice.

mod client;
mod documents;
mod error;
mod indexes;
mod reads;
mod redact;
mod tasks;

pub use client::{NodeClient, NodeClientConfig};
pub use documents::{DocumentsMethod, WriteParams};
pub use error::NodeError;
pub use redact::redact_url;
pub use tasks::{TaskFilter, TaskInfo, TaskPage, TaskStatus, TaskView};

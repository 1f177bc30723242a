//! Clients for what Miroir talks to: the write log and Meilisearch nodes.

pub mod cluster_config;
pub mod log;
pub mod node;

//! Miroir gateway: the Meilisearch HTTP API in front of a sharded, replicated fleet.

pub mod auth;
pub mod documents;
pub mod search;

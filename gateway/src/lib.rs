//! Miroir gateway: the Meilisearch HTTP API in front of a sharded, replicated fleet.

pub mod access;
pub mod app;
pub mod auth;
pub mod body;
pub mod catalog;
pub mod config;
pub mod documents;
pub mod enqueue;
pub mod error;
pub mod node_features;
pub mod params;
pub mod read;
pub mod routes;
pub mod search;
pub mod serve;
pub mod state;
pub mod watch;

//! HTTP handlers, one file per group of Meilisearch routes.

pub mod health;
pub mod metrics;

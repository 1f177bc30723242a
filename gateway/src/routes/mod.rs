//! HTTP handlers, one file per group of Meilisearch routes.

pub mod admin;
pub mod document_writes;
pub mod experimental;
pub mod health;
pub mod indexes;
pub mod metrics;
pub mod network;
pub mod reads;
pub mod settings;
pub mod swap;
pub mod tasks;
pub mod webhooks;
pub mod write;

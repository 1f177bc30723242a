//! HTTP handlers, one file per group of Meilisearch routes.

pub mod admin;
pub mod aliases;
pub mod chats;
pub mod document_edit;
pub mod document_writes;
pub mod dynamic_search_rules;
pub mod experimental;
pub mod fields;
pub mod health;
pub mod indexes;
pub mod logs;
pub mod metrics;
pub mod network;
pub mod reads;
pub mod render;
pub mod reshard;
pub mod settings;
pub mod swap;
pub mod task_queue;
pub mod tasks;
pub mod topology;
pub mod ttl;
pub mod webhooks;
pub mod write;

//! The indexer: applies `ops` to every replica of each shard and reports `task-events`.

pub mod batch;

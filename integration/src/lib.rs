//! Test harness: brokers, Meilisearch nodes (real or stand-in) and Miroir processes on loopback.
//! Never a dependency of product code.
pub mod brokers;
pub mod nodes;
pub mod standin;
pub mod cluster;
pub mod bench_support;

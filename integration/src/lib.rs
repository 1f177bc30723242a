//! Test harness: brokers, real Meilisearch nodes and Miroir processes on loopback, the files
//! shared with the workplace, the local-cluster launcher's parts and the benchmarks' support.
//! Never a dependency of product code.
pub mod bench_support;
pub mod brokers;
pub mod cluster;
pub mod nodes;
pub mod shared_files;

//! Miroir gateway: the Meilisearch HTTP API in front of a sharded, replicated fleet.
//!
//! Module map:
//! * [`app`], [`routes`], [`serve`], [`state`]: the route table (every route with its guard and
//!   handler) and the router made from it, the handlers, serving over HTTP/HTTPS, what handlers
//!   share.
//! * [`auth`]: API keys, actions and tenant tokens, as Meilisearch decides them; [`meta_fold`]:
//!   cluster-wide state (keys, [`webhooks`]) every gateway folds from the `meta` log.
//! * [`request_errors`]: body and query-parameter validation messages, worded as Meilisearch's
//!   request deserializer words them.
//! * Writes: [`body`], [`params`], [`documents`] check a request; [`enqueue`] appends the task
//!   and splits the documents per shard into `ops` (where a write is split).
//! * Reads: [`read`] fans a request out to one replica per shard (avoiding the replicas
//!   [`replica_lag`] says lag behind the log); [`search`] plans it and merges the node answers
//!   (where a search is merged), pure.
//! * Tasks and indexes: [`watch`] tails the logs into [`catalog`], the folded index catalog and
//!   task table; [`tasks`] parses and applies `/tasks` queries (pure).
//! * [`settings`]: every index setting's validation and defaults, as Meilisearch has them (pure).
//! * [`features`]: the cluster's experimental features and the errors of the routes they gate;
//!   [`node_features`]: preparing nodes (the `network` feature a merge needs).
//! * [`config`], [`error`]: launch flags; the one error type of the HTTP layer.
//! * [`web`]: the admin console and the search page, static assets built into the binary.

pub mod aliases;
pub mod app;
pub mod auth;
pub mod body;
pub mod catalog;
pub mod cluster_snapshots;
pub mod config;
pub mod ctl;
pub mod documents;
pub mod dumps;
pub mod enqueue;
pub mod error;
pub mod export;
pub mod features;
pub mod gateway_task;
pub mod idempotency;
pub mod meta_fold;
pub mod miroir_headers;
pub mod node_features;
pub mod ops_listener;
pub mod params;
pub mod read;
pub mod read_after_task;
pub mod readiness;
pub mod replica_lag;
pub mod request_errors;
pub mod request_id;
pub mod routes;
pub mod search;
pub mod serve;
pub mod session;
pub mod settings;
pub mod state;
pub mod tasks;
pub mod topology_changes;
pub mod ttl;
pub mod watch;
pub mod web;
pub mod webhooks;
pub mod whole_index;

//! The gateway's HTTP API through the router the process serves, auth middleware included, and
//! the auth code against Meilisearch's recorded exchanges. One test binary: one link instead of
//! one per file, and one `support` module whose every helper some test uses.

mod support;

mod aliases;
mod auth_keys;
mod auth_layer;
mod auth_transcript;
mod authenticated_app;
mod experimental_routes;
mod http_basics;
mod idempotent_writes;
mod index_fields;
mod ops_listener;
mod read_after_task;
mod resharding;
mod session;
mod settings_transcript;
mod tasks_routes;
mod tasks_transcript;
mod tls;
mod topology_changes;
mod ttl;
mod web_pages;
mod webhook_calls;
mod webhooks;
mod write_path;

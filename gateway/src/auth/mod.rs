//! API keys, actions, tenant tokens: who may call which route, as Meilisearch 1.50 decides it.
//!
//! Everything here is pure. The HTTP layer:
//! 1. finds the route's [`RoutePolicy`] in a [`RouteTable`] (made from the gateway's one route
//!    table, [`crate::app::routes`]) and calls [`authorize`] with the request headers, the
//!    [`KeyStore`] and the current time; the [`AuthContext`] it returns answers per-index
//!    questions (multi-search, swap, tenant filters, index creation);
//! 2. for `/keys` writes, validates bodies with [`parse_create`] / [`parse_patch`], appends the
//!    resulting [`KeyChange`](miroir_schemas::meta_log::KeyChange) to the `meta` log, and answers
//!    from what [`KeyStore::apply`] reports once the record is folded;
//! 3. seeds an empty `meta` log with [`default_keys`].
//!
//! The I/O around it: [`KeysService`] keeps this gateway's key set folded from the `meta` log
//! and serves `/keys` through it ([`keys_routes`]); [`layer::guard`] puts the router behind the
//! [`layer::authenticate`] middleware, whose verdict handlers read with the [`Auth`] extractor and use through the
//! per-request rules of [`request_rules`].

pub mod action;
pub mod authorize;
pub mod key;
pub mod key_body;
pub mod key_ring;
pub mod key_snapshot;
pub mod key_view;
pub mod keys_routes;
pub mod keys_service;
pub mod layer;
pub mod pattern;
pub mod request_rules;
pub mod routes;
pub mod store;
pub mod tenant;

pub use action::Action;
pub use authorize::{authorize, AuthContext};
pub use key::{default_keys, key_value, ApiKey};
pub use key_body::{parse_create, parse_patch, KeyPatch, NewKey};
pub use key_snapshot::KeysSnapshot;
pub use key_view::{key_not_found, key_view, list_view, parse_list_query, resolve_key, ListQuery};
pub use keys_service::{Clock, KeysOptions, KeysService};
pub use layer::{guard, mount, Auth, Authenticator};
pub use pattern::IndexPattern;
pub use routes::{Guard, RoutePolicy, RouteTable, Routing};
pub use store::{Applied, KeyStore};
pub use tenant::{fuse_filters, SearchRules};

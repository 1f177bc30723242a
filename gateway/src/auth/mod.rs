//! API keys, actions, tenant tokens: who may call which route, as Meilisearch 1.50 decides it.
//!
//! Everything here is pure. The HTTP layer:
//! 1. finds the route's [`RoutePolicy`] with [`route_policy`] and calls [`authorize`] with the
//!    request headers, the [`KeyStore`] and the current time; the [`AuthContext`] it returns
//!    answers per-index questions (multi-search, swap, tenant filters, index creation);
//! 2. for `/keys` writes, validates bodies with [`parse_create`] / [`parse_patch`], appends the
//!    resulting [`KeyChange`](miroir_schemas::meta_log::KeyChange) to the `meta` log, and answers
//!    from what [`KeyStore::apply`] reports once the record is folded;
//! 3. seeds an empty `meta` log with [`default_keys`].

pub mod action;
pub mod authorize;
pub mod json_error;
pub mod key;
pub mod key_body;
pub mod key_view;
pub mod pattern;
pub mod routes;
pub mod store;
pub mod tenant;

pub use action::Action;
pub use authorize::{authorize, AuthContext};
pub use key::{default_keys, key_value, ApiKey};
pub use key_body::{parse_create, parse_patch, KeyPatch, NewKey};
pub use key_view::{key_view, list_view, parse_list_query, resolve_key, ListQuery};
pub use pattern::IndexPattern;
pub use routes::{route_policy, RoutePolicy};
pub use store::{Applied, KeyStore};
pub use tenant::{fuse_filters, SearchRules};

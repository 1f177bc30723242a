//! HTTP client for Meilisearch nodes.

//! `/health` and `/version`.

use axum::Json;
use serde_json::{json, Value};

/// The Meilisearch API version Miroir answers as; SDKs read `pkgVersion` to pick features.
pub const MEILISEARCH_API_VERSION: &str = "1.50.0";

/// `GET /health`: the gateway is up. Like Meilisearch, it needs no key.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "available" }))
}

/// `GET /version`, shaped like Meilisearch's. The commit is Miroir's own when the build knows it.
pub async fn version() -> Json<Value> {
    Json(json!({
        "commitSha": option_env!("MIROIR_COMMIT_SHA").unwrap_or("unknown"),
        "commitDate": option_env!("MIROIR_COMMIT_DATE").unwrap_or("unknown"),
        "pkgVersion": MEILISEARCH_API_VERSION,
    }))
}

//! Meilisearch 1.50's experimental features as a Miroir cluster has them (`/experimental-features`),
//! and the `feature_not_enabled` errors of the routes and settings they gate. Pure.
//!
//! A node's features are runtime switches of that node; a cluster's are fixed by what Miroir
//! serves. `network` is on: the gateway turns it on on every node, since a node adds
//! `_federation.weightedScoreValues` to a proxied federated search only with it (see
//! [`crate::node_features`]), and the cluster answers `/network` as a node with the feature on
//! and no network configured. `editDocumentsByFunction` is on: the gateway serves the documents
//! edit route through the log (`crate::routes::document_edit`) and turns the feature on on every
//! node (the indexers again before each edition). Every other feature is off, because Miroir does not serve what it
//! gates (or serves it elsewhere), so the routes it gates answer as a node with the feature off.
//! A `PATCH` may repeat the cluster's value of any feature; asking for another value is refused
//! with the reason, and nothing changes.

use miroir_schemas::error::{Code, ResponseError};
use serde_json::{Map, Value};

use crate::request_errors::{incorrect_type, unknown_field, Kind, Step};

/// One experimental feature of Meilisearch 1.50, as the cluster has it.
#[derive(Debug, Clone, Copy)]
pub struct Feature {
    /// The field of `/experimental-features`.
    pub name: &'static str,
    /// Whether the cluster has it on.
    pub enabled: bool,
    /// Why the cluster cannot have it the other way.
    pub fixed_because: &'static str,
}

const NOT_SERVED: &str = "Miroir does not serve the routes it enables yet (see docs/api-coverage.md)";

/// Every feature, in the order Meilisearch lists them.
pub const FEATURES: [Feature; 15] = [
    Feature {
        name: "metrics",
        enabled: false,
        fixed_because: "the gateway serves its Prometheus metrics on its operations listener (`--metrics-listen`), never on the API port",
    },
    Feature { name: "logsRoute", enabled: false, fixed_because: "Miroir does not stream its processes' logs through the API" },
    Feature {
        name: "editDocumentsByFunction",
        enabled: true,
        fixed_because: "the gateway serves `POST /indexes/{uid}/documents/edit` through the log and turns the feature on on every node, so Miroir keeps it on",
    },
    Feature {
        name: "containsFilter",
        enabled: false,
        fixed_because: "the gateway does not read `CONTAINS` filters, so it keeps the operator off on its nodes",
    },
    Feature { name: "dynamicSearchRules", enabled: false, fixed_because: NOT_SERVED },
    Feature {
        name: "network",
        enabled: true,
        fixed_because: "the gateway needs it on every node to merge federated searches, so Miroir keeps it on",
    },
    Feature { name: "getTaskDocumentsRoute", enabled: false, fixed_because: NOT_SERVED },
    Feature { name: "taskQueueCompactionRoute", enabled: false, fixed_because: NOT_SERVED },
    Feature {
        name: "compositeEmbedders",
        enabled: false,
        fixed_because: "the gateway does not turn the feature on on its nodes, so a composite embedder would fail there",
    },
    Feature { name: "chatCompletions", enabled: false, fixed_because: NOT_SERVED },
    Feature {
        name: "multimodal",
        enabled: false,
        fixed_because: "the gateway does not turn the feature on on its nodes, so multimodal embedders would fail there",
    },
    Feature {
        name: "foreignKeys",
        enabled: false,
        fixed_because: "foreign keys join documents across indexes, which a sharded index does not hold on one node",
    },
    Feature {
        name: "disableDocumentsFetchQueue",
        enabled: false,
        fixed_because: "the gateway does not change its nodes' document fetch queue",
    },
    Feature { name: "legacySearch", enabled: false, fixed_because: "the gateway does not change its nodes' search pipeline" },
    Feature { name: "renderRoute", enabled: false, fixed_because: NOT_SERVED },
];

fn names() -> Vec<&'static str> {
    FEATURES.iter().map(|feature| feature.name).collect()
}

/// `GET /experimental-features`.
pub fn view() -> Value {
    Value::Object(FEATURES.iter().map(|feature| (feature.name.to_owned(), Value::Bool(feature.enabled))).collect())
}

/// `PATCH /experimental-features`: the body read as Meilisearch reads it (an object of optional
/// booleans, `null` meaning unchanged, every error `bad_request`), then refused when it asks a
/// feature to be other than the cluster has it. Answers the features after the patch.
pub fn patch(body: &Value) -> Result<Value, ResponseError> {
    let object: &Map<String, Value> =
        body.as_object().ok_or_else(|| ResponseError::new(Code::BadRequest, incorrect_type(&[], &[Kind::Map], body)))?;
    let mut asked = Vec::new();
    for (name, value) in object {
        let feature = FEATURES
            .iter()
            .find(|feature| feature.name == name)
            .ok_or_else(|| ResponseError::new(Code::BadRequest, unknown_field(&[], name, &names())))?;
        match value {
            Value::Null => {}
            Value::Bool(on) => asked.push((feature, *on)),
            other => return Err(ResponseError::new(Code::BadRequest, incorrect_type(&[Step::Key(name.clone())], &[Kind::Boolean], other))),
        }
    }
    if let Some((feature, on)) = asked.into_iter().find(|(feature, on)| feature.enabled != *on) {
        let verb = if on { "enabled" } else { "disabled" };
        return Err(ResponseError::new(
            Code::BadRequest,
            format!("The `{}` experimental feature cannot be {verb} on a Miroir cluster: {}.", feature.name, feature.fixed_because),
        ));
    }
    Ok(view())
}

/// A feature as a route or setting it gates names it in its `feature_not_enabled` error.
#[derive(Debug, Clone, Copy)]
pub struct Gate {
    /// The feature's name in the message (`logs route`, `chat completions`, …).
    pub feature: &'static str,
    pub issue_link: &'static str,
}

impl Gate {
    /// Meilisearch's refusal of `disabled_action` while the feature is off.
    pub fn refuse(self, disabled_action: &str) -> ResponseError {
        ResponseError::new(
            Code::FeatureNotEnabled,
            format!("{disabled_action} requires enabling the `{}` experimental feature. See {}", self.feature, self.issue_link),
        )
    }
}

pub const METRICS: Gate = Gate { feature: "metrics", issue_link: "https://github.com/meilisearch/product/discussions/625" };
pub const LOGS_ROUTE: Gate = Gate { feature: "logs route", issue_link: "https://github.com/orgs/meilisearch/discussions/721" };
pub const DYNAMIC_SEARCH_RULES: Gate =
    Gate { feature: "dynamic search rules", issue_link: "https://github.com/orgs/meilisearch/discussions/884" };
pub const GET_TASK_DOCUMENTS_ROUTE: Gate =
    Gate { feature: "get task documents route", issue_link: "https://github.com/orgs/meilisearch/discussions/808" };
pub const TASK_QUEUE_COMPACTION_ROUTE: Gate =
    Gate { feature: "task queue compaction route", issue_link: "https://github.com/orgs/meilisearch/discussions/883" };
pub const CHAT_COMPLETIONS: Gate = Gate { feature: "chat completions", issue_link: "https://github.com/orgs/meilisearch/discussions/835" };
pub const FOREIGN_KEYS: Gate = Gate { feature: "foreign_keys", issue_link: "https://github.com/orgs/meilisearch/discussions/873" };
pub const RENDER_ROUTE: Gate = Gate { feature: "render_route", issue_link: "https://github.com/orgs/meilisearch/discussions/888" };

#[cfg(test)]
mod tests;

use super::*;
use proptest::prelude::*;
use serde_json::json;

/// `GET /experimental-features` of a Meilisearch 1.50 node once `network` and
/// `editDocumentsByFunction` are on (the recorded exchange "enable network feature", with the
/// edition turned on as watched on a node).
fn node_with_network() -> Value {
    json!({"metrics": false, "logsRoute": false, "editDocumentsByFunction": true, "containsFilter": false,
        "dynamicSearchRules": false, "network": true, "getTaskDocumentsRoute": false, "taskQueueCompactionRoute": false,
        "compositeEmbedders": false, "chatCompletions": false, "multimodal": false, "foreignKeys": false,
        "disableDocumentsFetchQueue": false, "legacySearch": false, "renderRoute": false})
}

#[test]
fn the_cluster_reads_as_a_node_with_only_network_and_document_edition_on() {
    let view = view();
    assert_eq!(view, node_with_network());
    let order: Vec<&String> = view.as_object().unwrap().keys().collect();
    let node = node_with_network();
    assert_eq!(order, node.as_object().unwrap().keys().collect::<Vec<_>>(), "Meilisearch's field order");
}

#[test]
fn repeating_the_clusters_values_is_accepted() {
    assert_eq!(patch(&json!({})).unwrap(), node_with_network());
    assert_eq!(patch(&json!({"network": true, "metrics": false, "renderRoute": null})).unwrap(), node_with_network());
}

#[test]
fn body_errors_are_meilisearchs() {
    // Watched on Meilisearch 1.50.
    let unknown = patch(&json!({"nope": true})).unwrap_err();
    assert_eq!(unknown.code, "bad_request");
    assert_eq!(
        unknown.message,
        "Unknown field `nope`: expected one of `metrics`, `logsRoute`, `editDocumentsByFunction`, `containsFilter`, `dynamicSearchRules`, `network`, `getTaskDocumentsRoute`, `taskQueueCompactionRoute`, `compositeEmbedders`, `chatCompletions`, `multimodal`, `foreignKeys`, `disableDocumentsFetchQueue`, `legacySearch`, `renderRoute`"
    );
    let wrong_type = patch(&json!({"metrics": "yes"})).unwrap_err();
    assert_eq!((wrong_type.code.as_str(), wrong_type.http_status), ("bad_request", 400));
    assert_eq!(wrong_type.message, "Invalid value type at `.metrics`: expected a boolean, but found a string: `\"yes\"`");
    assert_eq!(patch(&json!([])).unwrap_err().message, "Invalid value type: expected an object, but found an array: `[]`");
    // The first problem in body order wins, as deserr reads fields in order.
    assert_eq!(
        patch(&json!({"metrics": 1, "nope": true})).unwrap_err().message.split(':').next(),
        Some("Invalid value type at `.metrics`")
    );
}

#[test]
fn other_values_are_refused_with_the_reason() {
    let error = patch(&json!({"metrics": true})).unwrap_err();
    assert_eq!((error.code.as_str(), error.http_status), ("bad_request", 400));
    assert!(error.message.starts_with("The `metrics` experimental feature cannot be enabled on a Miroir cluster: "), "{}", error.message);
    let network = patch(&json!({"network": false})).unwrap_err();
    assert!(network.message.starts_with("The `network` experimental feature cannot be disabled"), "{}", network.message);
    let edition = patch(&json!({"editDocumentsByFunction": false})).unwrap_err();
    assert!(edition.message.starts_with("The `editDocumentsByFunction` experimental feature cannot be disabled"), "{}", edition.message);
}

#[test]
fn gates_word_their_errors_as_meilisearch() {
    let error = LOGS_ROUTE.refuse("Modifying logs through the `/logs/*` routes");
    assert_eq!(error.code, "feature_not_enabled");
    assert_eq!(error.http_status, 400);
    assert_eq!(
        error.message,
        "Modifying logs through the `/logs/*` routes requires enabling the `logs route` experimental feature. See https://github.com/orgs/meilisearch/discussions/721"
    );
}

proptest! {
    /// A patch is accepted exactly when every boolean it sends is the cluster's value, and an
    /// accepted patch changes nothing.
    #[test]
    fn a_patch_changes_nothing(values in proptest::collection::vec(proptest::option::of(any::<bool>()), FEATURES.len())) {
        let body: Map<String, Value> = FEATURES.iter().zip(&values).map(|(f, v)| (f.name.to_owned(), v.map_or(Value::Null, Value::Bool))).collect();
        let agrees = FEATURES.iter().zip(&values).all(|(f, v)| v.is_none_or(|on| on == f.enabled));
        match patch(&Value::Object(body)) {
            Ok(after) => { prop_assert!(agrees); prop_assert_eq!(after, view()); }
            Err(error) => { prop_assert!(!agrees); prop_assert_eq!(error.code, "bad_request"); }
        }
    }
}

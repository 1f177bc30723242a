use super::*;

fn refused(body: Value) -> (String, String) {
    let error = configures_a_network(&body).unwrap_err();
    (error.code, error.message)
}

#[test]
fn patch_bodies_are_read_as_meilisearch_reads_them() {
    // Each pair watched on Meilisearch 1.50.
    let cases = [
        (
            json!({"foo": 1}),
            "bad_request",
            "Unknown field `foo`: expected one of `remotes`, `shards`, `previousShards`, `self`, `leader`, `previousRemotes`",
        ),
        (json!({"self": 5}), "invalid_network_self", "Invalid value type at `.self`: expected a string, but found a positive integer: `5`"),
        (
            json!({"remotes": 5}),
            "invalid_network_remotes",
            "Invalid value type at `.remotes`: expected an object, but found a positive integer: `5`",
        ),
        (
            json!({"remotes": {"a": 5}}),
            "invalid_network_remotes",
            "Invalid value type at `.remotes.a`: expected an object, but found a positive integer: `5`",
        ),
        (
            json!({"remotes": {"a": {"foo": 1}}}),
            "invalid_network_remotes",
            "Unknown field `foo` inside `.remotes.a`: expected one of `url`, `searchApiKey`, `writeApiKey`",
        ),
        (
            json!({"remotes": {"a": {"url": 1}}}),
            "invalid_network_url",
            "Invalid value type at `.remotes.a.url`: expected a string, but found a positive integer: `1`",
        ),
        (
            json!({"remotes": {"a": {"searchApiKey": 1}}}),
            "invalid_network_search_api_key",
            "Invalid value type at `.remotes.a.searchApiKey`: expected a string, but found a positive integer: `1`",
        ),
        (
            json!({"shards": {"s": {"remotes": "x"}}}),
            "invalid_network_remotes",
            "Invalid value type at `.shards.s.remotes`: expected an array, but found a string: `\"x\"`",
        ),
        (
            json!({"shards": {"s": {"foo": "x"}}}),
            "invalid_network_shards",
            "Unknown field `foo` inside `.shards.s`: expected one of `remotes`, `addRemotes`, `removeRemotes`",
        ),
        (
            json!({"shards": {"s": {"remotes": [1]}}}),
            "invalid_network_remotes",
            "Invalid value type at `.shards.s.remotes[0]`: expected a string, but found a positive integer: `1`",
        ),
        (
            json!({"previousShards": 5}),
            "invalid_network_shards",
            "Invalid value type at `.previousShards`: expected an object, but found a positive integer: `5`",
        ),
        (
            json!({"leader": 5}),
            "invalid_network_leader",
            "Invalid value type at `.leader`: expected a string, but found a positive integer: `5`",
        ),
        (
            json!({"previousRemotes": {"a": {"foo": 1}}}),
            "invalid_network_remotes",
            "Unknown field `foo` inside `.previousRemotes.a`: expected one of `url`, `searchApiKey`, `writeApiKey`",
        ),
    ];
    for (body, code, message) in cases {
        assert_eq!(refused(body), (code.to_owned(), message.to_owned()));
    }
}

#[test]
fn only_bodies_that_configure_something_are_refused() {
    for nothing in [json!({}), json!({"self": null, "remotes": null}), json!({"remotes": {"a": null}}), json!({"shards": {"s": null}})] {
        assert!(!configures_a_network(&nothing).unwrap(), "{nothing}");
    }
    for something in [json!({"self": "ms-0"}), json!({"remotes": {"ms-0": {"url": "http://localhost:7700"}}}), json!({"shards": {"s": {}}})]
    {
        assert!(configures_a_network(&something).unwrap(), "{something}");
    }
}

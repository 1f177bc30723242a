use super::*;
use serde_json::json;

fn refusal(result: Result<(), ResponseError>) -> (String, String) {
    let error = result.unwrap_err();
    (error.code, error.message)
}

fn pair(code: &str, message: &str) -> (String, String) {
    (code.to_owned(), message.to_owned())
}

#[test]
fn list_bodies_are_read_as_meilisearch_reads_them() {
    // Each watched on Meilisearch 1.50.
    let cases = [
        (json!({"foo": 1}), pair("bad_request", "Unknown field `foo`: expected one of `offset`, `limit`, `filter`")),
        (
            json!({"offset": -1}),
            pair(
                "invalid_dynamic_search_rule_offset",
                "Invalid value type at `.offset`: expected a positive integer, but found a negative integer: `-1`",
            ),
        ),
        (
            json!({"limit": "x"}),
            pair(
                "invalid_dynamic_search_rule_limit",
                "Invalid value type at `.limit`: expected a positive integer, but found a string: `\"x\"`",
            ),
        ),
        (
            json!({"filter": 5}),
            pair(
                "invalid_dynamic_search_rule_filter",
                "Invalid value type at `.filter`: expected an object, but found a positive integer: `5`",
            ),
        ),
        (
            json!({"filter": {"query": 5}}),
            pair(
                "invalid_dynamic_search_rule_filter_query",
                "Invalid value type at `.filter.query`: expected a string, but found a positive integer: `5`",
            ),
        ),
        (
            json!({"filter": {"active": "x"}}),
            pair(
                "invalid_dynamic_search_rule_filter_active",
                "Invalid value type at `.filter.active`: expected a boolean, but found a string: `\"x\"`",
            ),
        ),
        (
            json!({"filter": {"foo": 1}}),
            pair("invalid_dynamic_search_rule_filter", "Unknown field `foo` inside `.filter`: expected one of `query`, `active`"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(refusal(check_list_body(&body)), expected, "{body}");
    }
    assert!(check_list_body(&json!({"filter": null})).is_ok());
    assert!(check_list_body(&json!({"filter": {"query": null, "active": null}})).is_ok());
}

#[test]
fn rule_bodies_are_read_as_meilisearch_reads_them() {
    let conditions = |message: &str| pair("invalid_dynamic_search_rule_conditions", message);
    let actions = |message: &str| pair("invalid_dynamic_search_rule_actions", message);
    let cases = [
        (json!([]), pair("bad_request", "Invalid value type: expected an object, but found an array: `[]`")),
        (json!({"foo": 1}), pair("bad_request", "Unknown field `foo`: expected one of `description`, `precedence`, `active`, `conditions`, `actions`")),
        (json!({"description": 1}), pair("invalid_dynamic_search_rule_description", "Invalid value type at `.description`: expected a string, but found a positive integer: `1`")),
        (json!({"precedence": -1}), pair("invalid_dynamic_search_rule_priority", "Invalid value type at `.precedence`: expected a positive integer, but found a negative integer: `-1`")),
        (json!({"precedence": 1.5}), pair("invalid_dynamic_search_rule_priority", "Invalid value type at `.precedence`: expected a positive integer, but found a number: `1.5`")),
        (json!({"conditions": {"foo": 1}}), conditions("Unknown field `foo` inside `.conditions`: expected one of `time`, `query`, `filter`")),
        (json!({"conditions": {"time": 5}}), conditions("Invalid value type at `.conditions.time`: expected an object, but found a positive integer: `5`")),
        (json!({"conditions": {"time": {"start": 5}}}), conditions("Invalid value type at `.conditions.time.start`: expected a string, but found a positive integer: `5`")),
        (
            json!({"conditions": {"time": {"start": "x"}}}),
            conditions("Invalid value at `.conditions.time.start`: `x` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"),
        ),
        (
            json!({"conditions": {"time": {"start": null, "end": "2019-01-01"}}}),
            conditions("Invalid value at `.conditions.time.end`: `2019-01-01` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"),
        ),
        (
            json!({"conditions": {"time": {"start": "2020-01-01T00:00:00Z", "end": "2019-01-01T00:00:00Z"}}}),
            pair("bad_request", "Invalid value at `.conditions.time`: `end` (`2019-01-01 0:00:00.0 +00:00:00`) should be later than `start` (`2020-01-01 0:00:00.0 +00:00:00`)"),
        ),
        (json!({"conditions": {"query": {"isEmpty": true, "words": "a"}}}), pair("bad_request", "Invalid value at `.conditions.query`: either `isEmpty` or `words` can be used, not both at once")),
        (json!({"conditions": {"query": {"foo": 1}}}), conditions("Unknown field `foo` inside `.conditions.query`: expected one of `isEmpty`, `words`")),
        (json!({"conditions": {"query": {"isEmpty": "x"}}}), conditions("Invalid value type at `.conditions.query.isEmpty`: expected a boolean, but found a string: `\"x\"`")),
        (json!({"conditions": {"query": {"words": 5}}}), conditions("Invalid value type at `.conditions.query.words`: expected a string, but found a positive integer: `5`")),
        (json!({"conditions": {"filter": {"foo": 1}}}), conditions("Unknown field `foo` inside `.conditions.filter`: expected one of `values`")),
        (json!({"conditions": {"filter": {"values": 5}}}), conditions("Invalid value type at `.conditions.filter.values`: expected an object, but found a positive integer: `5`")),
        (json!({"conditions": {"filter": {"values": null}}}), conditions("Invalid value type at `.conditions.filter.values`: expected an object, but found null")),
        (json!({"actions": 5}), actions("Invalid value type at `.actions`: expected an array, but found a positive integer: `5`")),
        (json!({"actions": [5]}), actions("Invalid value type at `.actions[0]`: expected an object, but found a positive integer: `5`")),
        (json!({"actions": [{}]}), actions("Missing field `selector` inside `.actions[0]`")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {"type": "pin", "position": 1}, "x": 1}]}), actions("Unknown field `x` inside `.actions[0]`: expected one of `selector`, `action`")),
        (json!({"actions": [{"selector": 5, "action": 5}]}), actions("Invalid value type at `.actions[0].selector`: expected an object, but found a positive integer: `5`")),
        (json!({"actions": [{"selector": {"foo": 1}, "action": {"type": "pin", "position": 1}}]}), actions("Unknown field `foo` inside `.actions[0].selector`: expected one of `indexUid`, `id`")),
        (json!({"actions": [{"selector": {}, "action": {"type": "pin", "position": 1}}]}), actions("Missing field `id` inside `.actions[0].selector`")),
        (json!({"actions": [{"selector": {"id": 1}, "action": {"type": "pin", "position": 1}}]}), actions("Invalid value type at `.actions[0].selector.id`: expected a string, but found a positive integer: `1`")),
        (
            json!({"actions": [{"selector": {"id": "1", "indexUid": "bad uid"}, "action": {"type": "pin", "position": 1}}]}),
            actions("Invalid value at `.actions[0].selector.indexUid`: `bad uid` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."),
        ),
        (json!({"actions": [{"selector": {"id": "1"}, "action": 5}]}), actions("Invalid value type at `.actions[0].action`: expected an object, but found a positive integer: `5`")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {}}]}), actions("Missing field `type` inside `.actions[0].action`")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {"x": 1}}]}), actions("Missing field `type` inside `.actions[0].action`")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {"type": 5}}]}), actions("Invalid value type at `.actions[0].action.type`: expected a string, but found a positive integer: `5`")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {"type": "nope"}}]}), actions("Invalid value at `.actions[0].action`: Incorrect tag value")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {"x": 1, "type": "pin"}}]}), actions("Unknown field `x` inside `.actions[0].action`: expected one of `position`")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {"type": "pin"}}]}), actions("Missing field `position` inside `.actions[0].action`")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {"type": "pin", "position": -1}}]}), actions("Invalid value type at `.actions[0].action.position`: expected a positive integer, but found a negative integer: `-1`")),
        (json!({"actions": [{"selector": {"id": "1"}, "action": {"type": "pin", "position": null}}]}), actions("Invalid value type at `.actions[0].action.position`: expected a positive integer, but found null")),
        (
            json!({"actions": [{"selector": {"id": "1"}, "action": {"type": "pin", "position": 4294967296u64}}]}),
            actions("Invalid value at `.actions[0].action.position`: value: `4294967296` is too large to be deserialized, maximum value authorized is `4294967295`"),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(refusal(check_rule_body(&body)), expected, "{body}");
    }
    for valid in [
        json!({}),
        json!({"conditions": null, "actions": null, "active": null, "precedence": null, "description": null}),
        json!({"conditions": {"time": {"foo": "x"}}}),
        json!({"conditions": {"query": null, "time": null, "filter": null}}),
        json!({"conditions": {"filter": {"values": {"a": [1, {"b": null}]}}}}),
        json!({"conditions": {"query": {"isEmpty": false, "words": "x"}}}),
        json!({"actions": [{"selector": {"id": "1", "indexUid": null}, "action": {"position": 1, "type": "pin"}}]}),
    ] {
        assert!(check_rule_body(&valid).is_ok(), "{valid}");
    }
}

use super::*;
use serde_json::json;

fn refused(body: Value) -> (String, String) {
    let error = parse_fields_body(&body).unwrap_err();
    (error.code, error.message)
}

#[test]
fn bodies_are_read_as_meilisearch_reads_them() {
    // Each watched on Meilisearch 1.50.
    let cases = [
        (json!([]), "bad_request", "Invalid value type: expected an object, but found an array: `[]`"),
        (json!({"offset": -1}), "invalid_index_offset", "Invalid value type at `.offset`: expected a positive integer, but found a negative integer: `-1`"),
        (json!({"offset": "1"}), "invalid_index_offset", "Invalid value type at `.offset`: expected a positive integer, but found a string: `\"1\"`"),
        (json!({"offset": null}), "invalid_index_offset", "Invalid value type at `.offset`: expected a positive integer, but found null"),
        (json!({"limit": 1.5}), "invalid_index_limit", "Invalid value type at `.limit`: expected a positive integer, but found a number: `1.5`"),
        (json!({"foo": 1}), "bad_request", "Unknown field `foo`: expected one of `offset`, `limit`, `filter`"),
        (json!({"filter": 5}), "invalid_index_fields_filter", "Invalid value type at `.filter`: expected an object, but found a positive integer: `5`"),
        (
            json!({"filter": {"foo": 1}}),
            "invalid_index_fields_filter",
            "Unknown field `foo` inside `.filter`: expected one of `attributePatterns`, `displayed`, `searchable`, `sortable`, `distinct`, `rankingRule`, `filterable`",
        ),
        (
            json!({"filter": {"displayed": "x"}}),
            "invalid_index_fields_filter_displayed",
            "Invalid value type at `.filter.displayed`: expected a boolean, but found a string: `\"x\"`",
        ),
        (
            json!({"filter": {"attributePatterns": "x"}}),
            "invalid_index_fields_filter_attribute_patterns",
            "Invalid value type at `.filter.attributePatterns`: expected an array, but found a string: `\"x\"`",
        ),
        (
            json!({"filter": {"attributePatterns": [1]}}),
            "invalid_index_fields_filter_attribute_patterns",
            "Invalid value type at `.filter.attributePatterns[0]`: expected a string, but found a positive integer: `1`",
        ),
        (
            json!({"filter": {"rankingRule": 1}}),
            "invalid_index_fields_filter_ranking_rule",
            "Invalid value type at `.filter.rankingRule`: expected a boolean, but found a positive integer: `1`",
        ),
    ];
    for (body, code, message) in cases {
        assert_eq!(refused(body), (code.to_owned(), message.to_owned()));
    }
}

#[test]
fn defaults_and_filters() {
    assert_eq!(parse_fields_body(&json!({})).unwrap(), FieldsQuery { offset: 0, limit: 20, filter: None });
    assert_eq!(
        parse_fields_body(&json!({"filter": null, "limit": 0, "offset": 1})).unwrap(),
        FieldsQuery { offset: 1, limit: 0, filter: None }
    );
    let filter = json!({"attributePatterns": ["info*", "title"], "searchable": true, "displayed": null});
    assert_eq!(parse_fields_body(&json!({"filter": filter})).unwrap().filter, Some(filter));
}

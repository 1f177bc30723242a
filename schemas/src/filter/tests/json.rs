//! The `filter` value of a request: string, array form, wrong types.

use serde_json::json;

use crate::error::Code;
use crate::filter::{parse, parse_json, FilterError};

#[test]
fn array_form_is_and_of_ors() {
    let f = parse_json(&json!(["a = 1", ["b = 2", "c = 3"], "  ", [], ["d = 4"]])).unwrap().unwrap();
    assert_eq!(f, parse("a = 1 AND (b = 2 OR c = 3) AND d = 4").unwrap().unwrap());
    assert_eq!(parse_json(&json!([])).unwrap(), None);
    assert_eq!(parse_json(&json!(" ")).unwrap(), None);
    assert_eq!(parse_json(&json!(["x = 1"])).unwrap(), parse("x = 1").unwrap());
}

#[test]
fn wrong_types_have_meilisearch_messages() {
    let e = parse_json(&json!(true)).unwrap_err();
    assert_eq!(e.message(), "Invalid syntax for the filter parameter: `expected String, Array, found: true`.");
    let e = parse_json(&json!(["a = 1", 3])).unwrap_err();
    assert_eq!(e.message(), "Invalid syntax for the filter parameter: `expected String, [String], found: 3`.");
    let e = parse_json(&json!([["a = 1", {"x": 1}]])).unwrap_err();
    assert_eq!(e.message(), "Invalid syntax for the filter parameter: `expected String, found: {\"x\":1}`.");
}

#[test]
fn type_errors_win_over_syntax_errors() {
    let e = parse_json(&json!(["a =", null])).unwrap_err();
    assert!(matches!(e, FilterError::InvalidType { .. }));
}

#[test]
fn errors_become_the_route_error_object() {
    let e = parse_json(&json!("section = ")).unwrap_err().to_response(Code::InvalidSearchFilter);
    assert_eq!(e.code, "invalid_search_filter");
    assert_eq!(e.http_status, 400);
    assert_eq!(e.message, "Was expecting a value but instead got nothing.\n11:11 section = ");
}

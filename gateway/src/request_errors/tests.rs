use super::*;
use serde_json::json;

#[test]
fn kind_descriptions_match_deserr() {
    assert_eq!(kinds_description(&[]), "a different value");
    assert_eq!(kinds_description(&[Kind::Boolean]), "a boolean");
    assert_eq!(kinds_description(&[Kind::Integer]), "a positive integer");
    assert_eq!(kinds_description(&[Kind::String, Kind::Null]), "null or a string");
    assert_eq!(kinds_description(&[Kind::Integer, Kind::NegativeInteger]), "an integer");
    assert_eq!(kinds_description(&[Kind::Integer, Kind::NegativeInteger, Kind::Float]), "a number");
    assert_eq!(kinds_description(&[Kind::Map, Kind::Boolean, Kind::Sequence]), "a boolean, an array, or an object");
}

#[test]
fn value_descriptions() {
    assert_eq!(value_description(&json!(null)), "null");
    assert_eq!(value_description(&json!("x")), "a string: `\"x\"`");
    assert_eq!(value_description(&json!(-3)), "a negative integer: `-3`");
    assert_eq!(value_description(&json!(1.5)), "a number: `1.5`");
    assert_eq!(value_description(&json!({"a": [1]})), "an object: `{\"a\":[1]}`");
}

#[test]
fn messages() {
    let at_actions = [Step::Key("actions".into()), Step::Index(0)];
    assert_eq!(
        incorrect_type(&at_actions, &[Kind::String], &json!(1)),
        "Invalid value type at `.actions[0]`: expected a string, but found a positive integer: `1`"
    );
    assert_eq!(incorrect_type(&[], &[Kind::Map], &json!([])), "Invalid value type: expected an object, but found an array: `[]`");
    assert_eq!(missing_field(&[], "actions"), "Missing field `actions`");
    assert_eq!(
        unknown_field(&[], "nmae", &["description", "name"]),
        "Unknown field `nmae`: did you mean `name`? expected one of `description`, `name`"
    );
    assert_eq!(unknown_field(&[], "foo", &["name"]), "Unknown field `foo`: expected one of `name`");
    assert_eq!(unexpected(&[Step::Key("uid".into())], "bad"), "Invalid value at `.uid`: bad");
    assert_eq!(immutable_field("uid", &["description", "name"]), "Immutable field `uid`: expected one of `description`, `name`");
}

#[test]
fn did_you_mean_budget_grows_with_length() {
    assert_eq!(did_you_mean("nam", &["name"]), "", "three letters or fewer get no suggestion");
    assert_eq!(did_you_mean("serach", &["search"]), "did you mean `search`? ", "a swap is one edit");
    assert_eq!(did_you_mean("documents.ad", &["documents.add", "documents.get"]), "did you mean `documents.add`? ");
    assert_eq!(did_you_mean("zzzz", &["name"]), "");
}

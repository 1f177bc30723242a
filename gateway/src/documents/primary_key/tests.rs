use proptest::prelude::*;
use serde_json::json;

use super::*;

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn transcript_infer_primary_key() {
    let first = object(json!({"pkg_id": "a1", "name": "x"}));
    assert_eq!(decide_primary_key(None, None, Some(&first)).unwrap(), "pkg_id");
}

#[test]
fn transcript_ambiguous_primary_key() {
    let first = object(json!({"uid": "b", "id": "a", "name": "x"}));
    let error = infer_primary_key(Some(&first)).unwrap_err();
    assert_eq!(error.code, "index_primary_key_multiple_candidates_found");
    assert_eq!(error.message, "The primary key inference failed as the engine found 2 fields ending with `id` in their names: 'id' and 'uid'. Please specify the primary key manually using the `primaryKey` query parameter.");
}

#[test]
fn transcript_no_primary_key_candidate() {
    let error = infer_primary_key(Some(&object(json!({"name": "x"})))).unwrap_err();
    assert_eq!(error.code, "index_primary_key_no_candidate_found");
    assert_eq!(error.message, "The primary key inference failed as the engine did not find any field ending with `id` in its name. Please specify the primary key manually using the `primaryKey` query parameter.");
    assert_eq!(infer_primary_key(None).unwrap_err().code, "index_primary_key_no_candidate_found");
}

#[test]
fn transcript_document_without_primary_key() {
    let error = document_id("id", &object(json!({"name": "no id here"}))).unwrap_err();
    assert_eq!(error.code, "missing_document_id");
    assert_eq!(error.message, "Document doesn't have a `id` attribute: `{\"name\":\"no id here\"}`.");
}

#[test]
fn transcript_invalid_document_id() {
    let error = document_id("id", &object(json!({"id": "bad id with spaces", "name": "x"}))).unwrap_err();
    assert_eq!(error.code, "invalid_document_id");
    assert_eq!(error.message, "Document identifier `\"bad id with spaces\"` is invalid. A document identifier can be of type integer or string, only composed of alphanumeric characters (a-z A-Z 0-9), hyphens (-) and underscores (_), and can not be more than 511 bytes.");
}

#[test]
fn transcript_numeric_ids() {
    let documents = [object(json!({"id": 1, "t": "one"})), object(json!({"id": 2, "t": "two"}))];
    let ids: Vec<String> = documents.iter().map(|document| document_id("id", document).unwrap()).collect();
    assert_eq!(ids, ["1", "2"]);
}

#[test]
fn index_primary_key_wins_and_cannot_change() {
    let first = object(json!({"other_id": 1}));
    assert_eq!(decide_primary_key(Some("id"), None, Some(&first)).unwrap(), "id");
    assert_eq!(decide_primary_key(Some("id"), Some("id"), None).unwrap(), "id");
    assert_eq!(decide_primary_key(None, Some("sku"), Some(&first)).unwrap(), "sku");
    let error = decide_primary_key(Some("id"), Some("sku"), None).unwrap_err();
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("index_primary_key_already_exists", "Index already has a primary key: `id`.")
    );
}

#[test]
fn inference_is_case_insensitive_on_the_suffix_only() {
    assert_eq!(infer_primary_key(Some(&object(json!({"ProductID": 1, "idea": 2})))).unwrap(), "ProductID");
}

#[test]
fn id_values() {
    assert_eq!(validate_id_value(&json!(-7)).unwrap(), "-7");
    assert_eq!(validate_id_value(&json!(u64::MAX)).unwrap(), u64::MAX.to_string());
    assert_eq!(validate_id_value(&json!("a-B_9")).unwrap(), "a-B_9");
    assert_eq!(validate_id_value(&json!("x".repeat(511))).unwrap().len(), 511);
    for bad in
        [json!("x".repeat(512)), json!(""), json!("é"), json!(1.0), json!(1.5), json!(true), json!(null), json!([1]), json!({"a": 1})]
    {
        assert_eq!(validate_id_value(&bad).unwrap_err().code, "invalid_document_id", "{bad}");
    }
    assert!(invalid_document_id(&json!(1.5)).message.starts_with("Document identifier `1.5` is invalid."));
}

#[test]
fn nested_primary_keys() {
    assert_eq!(document_id("a.b", &object(json!({"a": {"b": "x1"}}))).unwrap(), "x1");
    assert_eq!(document_id("a.b", &object(json!({"a.b": 7}))).unwrap(), "7");
    assert_eq!(document_id("a.b.c", &object(json!({"a": {"b.c": "deep"}}))).unwrap(), "deep");
    // A non-object on the way is not a match.
    assert_eq!(document_id("a.b", &object(json!({"a": 3}))).unwrap_err().code, "missing_document_id");
    let twice = document_id("a.b", &object(json!({"a": {"b": 1}, "a.b": 2}))).unwrap_err();
    assert_eq!(twice.code, "invalid_document_id");
    assert_eq!(twice.message, "Document have too many matching `a.b` attribute: `{\"a\":{\"b\":1},\"a.b\":2}`.");
    // A bad first match is reported as such, before the duplicate.
    let bad_first = document_id("a.b", &object(json!({"a": {"b": 1.5}, "a.b": 2}))).unwrap_err();
    assert!(bad_first.message.starts_with("Document identifier `1.5`"));
}

proptest! {
    #[test]
    fn valid_ids_are_exactly_the_allowed_strings(id in "[A-Za-z0-9_-]{1,600}") {
        let doc = object(json!({"id": id.clone()}));
        prop_assert_eq!(document_id("id", &doc).is_ok(), id.len() <= 511);
    }

    #[test]
    fn any_integer_is_an_id(n in any::<i64>()) {
        prop_assert_eq!(document_id("id", &object(json!({"id": n}))).unwrap(), n.to_string());
    }

    #[test]
    fn inference_finds_the_single_id_suffix(names in prop::collection::btree_set("[a-z]{1,8}", 0..6), pk in "[a-z]{0,5}(id|Id|ID)") {
        let mut doc = Map::new();
        for name in names.iter().filter(|n| !n.to_lowercase().ends_with("id")) {
            doc.insert(name.clone(), json!(1));
        }
        doc.insert(pk.clone(), json!(1));
        prop_assert_eq!(infer_primary_key(Some(&doc)).unwrap(), pk);
    }
}

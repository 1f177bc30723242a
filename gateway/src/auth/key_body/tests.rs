use super::*;
use serde_json::json;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

fn create_err(body: Value) -> (String, String) {
    let e = parse_create(&body, Uuid::from_u128(1), NOW).unwrap_err();
    (e.code, e.message)
}

#[test]
fn valid_body_becomes_a_record() {
    let body = json!({"description": "search only", "actions": ["search"], "indexes": ["packages"], "expiresAt": null, "uid": "6062abda-a5aa-4414-ac91-ecd7944c0f8d"});
    let key = parse_create(&body, Uuid::from_u128(1), NOW).unwrap().record;
    assert_eq!(key.uid.to_string(), "6062abda-a5aa-4414-ac91-ecd7944c0f8d");
    assert_eq!((key.name, key.description.as_deref()), (None, Some("search only")));
    assert_eq!((key.actions, key.indexes), (vec!["search".to_owned()], vec!["packages".to_owned()]));
    assert_eq!((key.created_at, key.updated_at, key.expires_at), (NOW, NOW, None));

    let fresh = parse_create(&json!({"actions": [], "indexes": [], "expiresAt": "2027-01-01"}), Uuid::from_u128(9), NOW).unwrap();
    assert_eq!(fresh.record.uid, Uuid::from_u128(9));
    assert_eq!(fresh.record.expires_at, Some(datetime!(2027-01-01 0:00 UTC)));
}

#[test]
fn expires_at_formats_and_future_rule() {
    for (text, expected) in [
        ("2027-02-03T04:05:06Z", datetime!(2027-02-03 4:05:06 UTC)),
        ("2027-02-03T04:05:06+02:00", datetime!(2027-02-03 2:05:06 UTC)),
        ("2027-02-03T04:05:06", datetime!(2027-02-03 4:05:06 UTC)),
        ("2027-02-03 04:05:06", datetime!(2027-02-03 4:05:06 UTC)),
        ("2027-02-03", datetime!(2027-02-03 0:00 UTC)),
    ] {
        let key = parse_create(&json!({"actions": ["search"], "indexes": ["*"], "expiresAt": text}), Uuid::nil(), NOW).unwrap();
        assert_eq!(key.record.expires_at, Some(expected), "{text}");
    }
    for past in ["2025-12-31", "2026-01-01T00:00:00Z", "tomorrow"] {
        assert_eq!(
            create_err(json!({"actions": ["search"], "indexes": ["*"], "expiresAt": past})),
            ("invalid_api_key_expires_at".to_owned(), format!("Invalid value at `.expiresAt`: `{past}` is not a valid date. It should follow the RFC 3339 format to represents a date or datetime in the future or specified as a null value. e.g. 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'.\n"))
        );
    }
    assert_eq!(
        create_err(json!({"actions": ["search"], "indexes": ["*"], "expiresAt": 3})),
        (
            "invalid_api_key_expires_at".to_owned(),
            "Invalid value type at `.expiresAt`: expected a string, but found a positive integer: `3`".to_owned()
        )
    );
}

#[test]
fn create_errors_are_meilisearch_errors() {
    let cases = [
        (json!(["x"]), "bad_request", "Invalid value type: expected an object, but found an array: `[\"x\"]`"),
        (json!({"indexes": ["*"], "expiresAt": null}), "missing_api_key_actions", "Missing field `actions`"),
        (json!({"actions": ["search"]}), "missing_api_key_indexes", "Missing field `indexes`"),
        (json!({"actions": ["search"], "indexes": ["*"]}), "missing_api_key_expires_at", "Missing field `expiresAt`"),
        (json!({"actions": "search", "indexes": ["*"], "expiresAt": null}), "invalid_api_key_actions", "Invalid value type at `.actions`: expected an array, but found a string: `\"search\"`"),
        (json!({"actions": ["search", 1]}), "invalid_api_key_actions", "Invalid value type at `.actions[1]`: expected a string, but found a positive integer: `1`"),
        (json!({"indexes": ["a b"], "actions": 1}), "invalid_api_key_indexes", "Invalid value at `.indexes[0]`: `a b` is not a valid index uid pattern. Index uid patterns can be an integer or a string containing only alphanumeric characters, hyphens (-), underscores (_), and optionally end with a star (*)."),
        (json!({"uid": "not-a-uuid"}), "invalid_api_key_uid", "Invalid value at `.uid`: invalid character: found `n` at 0"),
        (json!({"uid": null}), "invalid_api_key_uid", "Invalid value type at `.uid`: expected a string, but found null"),
        (json!({"name": 5}), "invalid_api_key_name", "Invalid value type at `.name`: expected a string, but found a positive integer: `5`"),
        (json!({"description": true}), "invalid_api_key_description", "Invalid value type at `.description`: expected a string, but found a boolean: `true`"),
        (json!({"nmae": "x", "actions": 1}), "bad_request", "Unknown field `nmae`: did you mean `name`? expected one of `description`, `name`, `uid`, `actions`, `indexes`, `expiresAt`"),
    ];
    for (body, code, message) in cases {
        assert_eq!(create_err(body.clone()), (code.to_owned(), message.to_owned()), "{body}");
    }
    let e = parse_create(&json!({"actions": ["serach"], "indexes": ["*"], "expiresAt": null}), Uuid::nil(), NOW).unwrap_err();
    assert!(
        e.message.starts_with("Unknown value `serach` at `.actions[0]`: did you mean `search`? expected one of `*`, `search`, "),
        "{}",
        e.message
    );
    assert_eq!(e.http_status, 400);
}

#[test]
fn index_scoped_keys_cannot_hold_global_actions() {
    let (code, message) = create_err(json!({"actions": ["search", "keys.get"], "indexes": ["movies"], "expiresAt": null}));
    assert_eq!(code, "index_scoped_api_key_with_global_action");
    assert_eq!(message, "cannot create index-scoped API key with global action `\"keys.get\"`\n  - Hint: remove action `\"keys.get\"` from the action list, or remove `indexes` to make the key global");
    for indexes in [json!(["*"]), json!([]), json!(["movies", "*"])] {
        assert!(parse_create(&json!({"actions": ["keys.get"], "indexes": indexes, "expiresAt": null}), Uuid::nil(), NOW).is_ok());
    }
    assert!(
        parse_create(&json!({"actions": ["*"], "indexes": ["movies"], "expiresAt": null}), Uuid::nil(), NOW).is_ok(),
        "`*` is multi-scope"
    );
}

#[test]
fn patch_changes_only_name_and_description() {
    assert_eq!(parse_patch(&json!({})).unwrap(), KeyPatch::default());
    let patch = parse_patch(&json!({"name": "n", "description": null})).unwrap();
    assert_eq!(patch, KeyPatch { name: Some(Some("n".into())), description: Some(None) });
    let uid = Uuid::from_u128(3);
    assert_eq!(
        patch.into_change(uid, NOW),
        KeyChange::Update { uid, name: Some(Some("n".into())), description: Some(None), updated_at: NOW }
    );
    for (field, code) in [
        ("uid", "immutable_api_key_uid"),
        ("actions", "immutable_api_key_actions"),
        ("indexes", "immutable_api_key_indexes"),
        ("expiresAt", "immutable_api_key_expires_at"),
        ("createdAt", "immutable_api_key_created_at"),
        ("updatedAt", "immutable_api_key_updated_at"),
    ] {
        let e = parse_patch(&json!({"name": "ok", field: "x"})).unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (code, format!("Immutable field `{field}`: expected one of `description`, `name`").as_str())
        );
    }
    let e = parse_patch(&json!({"key": "x"})).unwrap_err();
    assert_eq!((e.code.as_str(), e.message.as_str()), ("bad_request", "Unknown field `key`: expected one of `description`, `name`"));
    let e = parse_patch(&json!({"name": 1})).unwrap_err();
    assert_eq!(e.code, "invalid_api_key_name");
}

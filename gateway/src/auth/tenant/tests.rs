use super::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use miroir_schemas::meta_log::{ApiKeyRecord, KeyChange};
use serde_json::json;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);

fn store() -> (KeyStore, Uuid) {
    let mut store = KeyStore::new(Some("masterKey".into()));
    let uid = Uuid::from_u128(42);
    store.apply(&KeyChange::Create {
        key: ApiKeyRecord {
            uid,
            name: None,
            description: None,
            actions: vec!["search".into()],
            indexes: vec!["*".into()],
            expires_at: None,
            created_at: NOW,
            updated_at: NOW,
        },
    });
    (store, uid)
}

fn sign(alg: Algorithm, secret: &str, claims: &Value) -> String {
    encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[test]
fn verifies_tokens_signed_with_the_key_value() {
    let (store, uid) = store();
    let secret = store.value_of(uid).unwrap();
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let token = sign(alg, &secret, &json!({"searchRules": ["movies"], "apiKeyUid": uid}));
        let verified = verify(&store, &token, NOW).unwrap();
        assert_eq!(verified.api_key_uid, uid);
        assert!(verified.search_rules.is_index_authorized("movies") && !verified.search_rules.is_index_authorized("books"));
    }
}

#[test]
fn refuses_forged_wrong_key_and_expired_tokens() {
    let (store, uid) = store();
    let secret = store.value_of(uid).unwrap();
    let claims = json!({"searchRules": {"*": null}, "apiKeyUid": uid});

    let wrong_key = sign(Algorithm::HS256, "not the key value", &claims);
    assert_eq!(verify(&store, &wrong_key, NOW), Err(TenantError::Invalid("Could not decode tenant token, InvalidSignature.".into())));

    let genuine = sign(Algorithm::HS256, &secret, &claims);
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let forged_payload = sign(Algorithm::HS256, &secret, &json!({"searchRules": ["*"], "apiKeyUid": uid, "x": 1}));
    parts[1] = forged_payload.split('.').nth(1).unwrap();
    assert_eq!(verify(&store, &parts.join("."), NOW).unwrap_err().message(), "Could not decode tenant token, InvalidSignature.");

    let exp = NOW.unix_timestamp() - 1;
    let expired = sign(Algorithm::HS256, &secret, &json!({"searchRules": ["*"], "apiKeyUid": uid, "exp": exp}));
    let error = verify(&store, &expired, NOW).unwrap_err();
    assert_eq!(error, TenantError::Expired { exp, now: NOW.unix_timestamp() });
    assert_eq!(error.message(), format!("Tenant token expired. Was valid up to `{exp}` and we're now `{}`.", NOW.unix_timestamp()));
    let still_valid = sign(Algorithm::HS256, &secret, &json!({"searchRules": ["*"], "apiKeyUid": uid, "exp": NOW.unix_timestamp()}));
    assert!(verify(&store, &still_valid, NOW).is_ok(), "valid up to and including exp");
}

#[test]
fn non_jwts_fall_back_to_api_keys_and_bad_claims_are_reported() {
    let (store, uid) = store();
    assert_eq!(verify(&store, "0d030b69eea2dde1af6e6b71", NOW), Err(TenantError::NotATenantToken));
    assert_eq!(verify(&store, "", NOW), Err(TenantError::NotATenantToken));
    let secret = store.value_of(uid).unwrap();
    let no_rules = sign(Algorithm::HS256, &secret, &json!({"apiKeyUid": uid}));
    assert_eq!(
        verify(&store, &no_rules, NOW).unwrap_err().message(),
        "Could not decode tenant token, JSON error: missing field `searchRules` at line 1 column 52."
    );
    let no_master = KeyStore::new(None);
    let token = sign(Algorithm::HS256, &secret, &json!({"searchRules": ["*"], "apiKeyUid": uid}));
    assert_eq!(verify(&no_master, &token, NOW), Err(TenantError::NotATenantToken));
}

#[test]
fn rule_filters_pick_the_most_specific_pattern() {
    let rules: SearchRules = serde_json::from_value(json!({
        "*": {"filter": "tenant = 1"},
        "mov*": null,
        "movies*": {"filter": ["a = 1", "b = 2"]},
        "movies_fr": {"filter": "lang = fr"},
        "books": {}
    }))
    .unwrap();
    assert_eq!(rules.filter_for("movies_fr"), Some(json!("lang = fr")));
    assert_eq!(rules.filter_for("movies_de"), Some(json!(["a = 1", "b = 2"])));
    assert_eq!(rules.filter_for("movie"), None, "`mov*` maps to null");
    assert_eq!(rules.filter_for("songs"), Some(json!("tenant = 1")));
    assert_eq!(rules.filter_for("books"), None);
    assert_eq!(rules.sorted_patterns(), ["*", "books", "mov*", "movies*", "movies_fr"]);
    let set: SearchRules = serde_json::from_value(json!(["movies"])).unwrap();
    assert_eq!(set.filter_for("movies"), None);
    assert!(!set.all_indexes_authorized());
}

#[test]
fn filters_fuse_as_meilisearch() {
    assert_eq!(fuse_filters(None, None), None);
    assert_eq!(fuse_filters(Some(json!("a = 1")), None), Some(json!("a = 1")));
    assert_eq!(fuse_filters(None, Some(json!("t = 1"))), Some(json!("t = 1")));
    assert_eq!(fuse_filters(Some(json!("a = 1")), Some(json!("t = 1"))), Some(json!(["a = 1", "t = 1"])));
    assert_eq!(
        fuse_filters(Some(json!(["a = 1", ["b = 1", "b = 2"]])), Some(json!(["t = 1", "u = 2"]))),
        Some(json!(["a = 1", ["b = 1", "b = 2"], "t = 1", "u = 2"]))
    );
}

use super::*;
use miroir_schemas::meta_log::{ApiKeyRecord, KeyChange};
use serde_json::json;
use time::macros::datetime;

fn store_with(uid: &str) -> KeyStore {
    let mut store = KeyStore::new(Some("masterKey".into()));
    let at = datetime!(2026-11-23 21:05:23.345609024 UTC);
    store.apply(&KeyChange::Create {
        key: ApiKeyRecord {
            uid: Uuid::parse_str(uid).unwrap(),
            name: None,
            description: Some("search only".into()),
            actions: vec!["search".into()],
            indexes: vec!["packages".into()],
            expires_at: None,
            created_at: at,
            updated_at: at,
        },
    });
    store
}

#[test]
fn view_has_meilisearch_shape() {
    let store = store_with("6062abda-a5aa-4414-ac91-ecd7944c0f8d");
    let key = store.list()[0];
    let view = key_view(&store, key);
    assert_eq!(
        serde_json::to_string(&view).unwrap(),
        serde_json::to_string(&json!({
            "name": null,
            "description": "search only",
            "key": "0d030b69eea2dde1af6e6b714146c4dc942d4b2725c173e5d132c60aad9782f5",
            "uid": "6062abda-a5aa-4414-ac91-ecd7944c0f8d",
            "actions": ["search"],
            "indexes": ["packages"],
            "expiresAt": null,
            "createdAt": "2026-11-23T21:05:23.345609024Z",
            "updatedAt": "2026-11-23T21:05:23.345609024Z"
        }))
        .unwrap()
    );
    let without_master = KeyStore::new(None);
    assert_eq!(key_view(&without_master, key)["key"], "");
}

#[test]
fn list_paginates() {
    let mut store = KeyStore::new(Some("masterKey".into()));
    for key in crate::auth::key::default_keys("masterKey", datetime!(2026-01-01 0:00 UTC)) {
        store.apply(&KeyChange::Create { key });
    }
    let page = list_view(&store, ListQuery { offset: 1, limit: 2 });
    assert_eq!((page["offset"].clone(), page["limit"].clone(), page["total"].clone()), (json!(1), json!(2), json!(4)));
    let names: Vec<_> = page["results"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Default Admin API Key", "Default Read-Only Admin API Key"]);
    let keys: Vec<_> = page.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["results", "offset", "limit", "total"]);
    assert_eq!(list_view(&store, ListQuery { offset: 9, limit: 20 })["results"], json!([]));
}

#[test]
fn list_query_errors() {
    let pairs = |list: &[(&str, &str)]| list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<Vec<_>>();
    assert_eq!(parse_list_query(&[]).unwrap(), ListQuery { offset: 0, limit: 20 });
    assert_eq!(parse_list_query(&pairs(&[("limit", "3"), ("offset", "1")])).unwrap(), ListQuery { offset: 1, limit: 3 });
    let e = parse_list_query(&pairs(&[("offset", "-1")])).unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("invalid_api_key_offset", "Invalid value in parameter `offset`: could not parse `-1` as a positive integer")
    );
    let e = parse_list_query(&pairs(&[("limit", "x")])).unwrap_err();
    assert_eq!(e.code, "invalid_api_key_limit");
    let e = parse_list_query(&pairs(&[("limt", "1")])).unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("bad_request", "Unknown parameter `limt`: did you mean `limit`? expected one of `offset`, `limit`")
    );
}

#[test]
fn resolve_by_uid_or_value() {
    let uid = "6062abda-a5aa-4414-ac91-ecd7944c0f8d";
    let store = store_with(uid);
    assert_eq!(resolve_key(&store, uid).unwrap().uid().to_string(), uid);
    assert_eq!(resolve_key(&store, &uid.replace('-', "").to_uppercase()).unwrap().uid().to_string(), uid);
    assert_eq!(resolve_key(&store, "0d030b69eea2dde1af6e6b714146c4dc942d4b2725c173e5d132c60aad9782f5").unwrap().uid().to_string(), uid);
    let e = resolve_key(&store, "nope").unwrap_err();
    assert_eq!((e.code.as_str(), e.message.as_str(), e.http_status), ("api_key_not_found", "API key `nope` not found.", 404));
    let e = resolve_key(&store, "00000000-0000-0000-0000-000000000001").unwrap_err();
    assert_eq!(e.message, "API key `00000000-0000-0000-0000-000000000001` not found.");
}

//! Replays the keys and auth exchanges recorded from a real Meilisearch 1.50 node (master key
//! `masterKey`) through the pure auth code and compares whole response bodies.

use axum::http::{HeaderMap, HeaderValue, Method};
use miroir_gateway::app::route_table;
use miroir_gateway::auth::{self, Action, KeyStore};
use miroir_schemas::meta_log::{ApiKeyRecord, KeyChange};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::support::{exchange, MASTER_KEY};

fn date(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().unwrap(), &Rfc3339).unwrap()
}

/// The request's headers; a header the transcript leaves out is the master key.
fn headers(request: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    match request["headers"]["Authorization"].as_str() {
        Some("<none>") => {}
        Some(value) => {
            headers.insert("authorization", HeaderValue::from_str(value).unwrap());
        }
        None => {
            headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {MASTER_KEY}")).unwrap());
        }
    }
    headers
}

fn error_body(error: &miroir_schemas::error::ResponseError) -> (u16, Value) {
    (error.http_status, serde_json::to_value(error).unwrap())
}

fn method(request: &Value) -> Method {
    request["method"].as_str().unwrap().parse().unwrap()
}

#[test]
fn auth_errors_match_meilisearch() {
    let store = KeyStore::new(Some(MASTER_KEY.into()));
    for name in ["no auth header", "wrong api key"] {
        let recorded = exchange(name);
        let request = &recorded["request"];
        let path = request["path"].as_str().unwrap();
        let policy = route_table().policy(&method(request), path).unwrap();
        let error = auth::authorize(&store, &headers(request), &policy, OffsetDateTime::now_utc()).unwrap_err();
        assert_eq!(error_body(&error), (recorded["status"].as_u64().unwrap() as u16, recorded["response"].clone()), "{name}");
    }
}

#[test]
fn list_keys_matches_meilisearch() {
    let recorded = exchange("list keys");
    let mut store = KeyStore::new(Some(MASTER_KEY.into()));
    // Fold the recorded keys (oldest first, as they were created) into the store.
    for key in recorded["response"]["results"].as_array().unwrap().iter().rev() {
        let strings = |field: &str| key[field].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        store.apply(&KeyChange::Create {
            key: ApiKeyRecord {
                uid: Uuid::parse_str(key["uid"].as_str().unwrap()).unwrap(),
                name: key["name"].as_str().map(str::to_owned),
                description: key["description"].as_str().map(str::to_owned),
                actions: strings("actions"),
                indexes: strings("indexes"),
                expires_at: None,
                created_at: date(&key["createdAt"]),
                updated_at: date(&key["updatedAt"]),
            },
        });
    }
    let policy = route_table().policy(&Method::GET, "/keys").unwrap();
    assert!(auth::authorize(&store, &headers(&recorded["request"]), &policy, OffsetDateTime::now_utc()).is_ok());
    let view = auth::list_view(&store, auth::parse_list_query(&[]).unwrap());
    assert_eq!(view, recorded["response"], "same keys, same key values, same order and shape");
}

#[test]
fn default_keys_match_meilisearch_defaults() {
    let recorded = exchange("list keys");
    let now = OffsetDateTime::now_utc();
    let mut store = KeyStore::new(Some(MASTER_KEY.into()));
    for key in auth::default_keys(MASTER_KEY, now) {
        store.apply(&KeyChange::Create { key });
    }
    let ours = auth::list_view(&store, auth::ListQuery::default());
    let strip = |view: &Value| -> Vec<Value> {
        view["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| serde_json::json!([k["name"], k["description"], k["actions"], k["indexes"], k["expiresAt"]]))
            .collect()
    };
    assert_eq!(strip(&ours), strip(&recorded["response"]));
}

#[test]
fn create_key_matches_meilisearch() {
    let recorded = exchange("create key");
    let created_at = date(&recorded["response"]["createdAt"]);
    let new_key = auth::parse_create(&recorded["request"]["body"], Uuid::new_v4(), created_at).unwrap();
    let mut store = KeyStore::new(Some(MASTER_KEY.into()));
    let change = KeyChange::Create { key: new_key.record.clone() };
    assert_eq!(store.apply(&change), auth::Applied::Created(new_key.record.uid));
    let view = auth::key_view(&store, store.get(new_key.record.uid).unwrap());
    assert_eq!(view, recorded["response"]);
    assert_eq!(recorded["status"], 201);
    // Creating it again through another gateway: the fold keeps the first.
    assert_eq!(store.apply(&change), auth::Applied::AlreadyExists(new_key.record.uid));
}

#[test]
fn create_key_invalid_action_matches_meilisearch() {
    let recorded = exchange("create key invalid action");
    let error = auth::parse_create(&recorded["request"]["body"], Uuid::new_v4(), OffsetDateTime::now_utc()).unwrap_err();
    assert_eq!(error_body(&error), (400, recorded["response"].clone()));
    let listed = recorded["response"]["message"].as_str().unwrap().split("expected one of ").nth(1).unwrap();
    let names: Vec<String> = listed.split(", ").map(|n| n.trim_matches('`').to_owned()).collect();
    assert_eq!(names, Action::NAMES, "the vocabulary and its order are Meilisearch's");
}

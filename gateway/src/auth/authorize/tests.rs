use super::*;
use crate::app::route_table;
use crate::auth::key::default_keys;
use crate::auth::routes::Guard;
use axum::http::{HeaderValue, Method};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use miroir_schemas::meta_log::{ApiKeyRecord, KeyChange};
use proptest::prelude::*;
use serde_json::json;
use time::macros::datetime;

const NOW: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);
const MASTER: &str = "masterKey-0123456789";

fn add_key(store: &mut KeyStore, uid: u128, actions: &[&str], indexes: &[&str], expires_at: Option<OffsetDateTime>) -> String {
    let uid = Uuid::from_u128(uid);
    store.apply(&KeyChange::Create {
        key: ApiKeyRecord {
            uid,
            name: None,
            description: None,
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
            indexes: indexes.iter().map(|i| (*i).to_owned()).collect(),
            expires_at,
            created_at: NOW,
            updated_at: NOW,
        },
    });
    store.value_of(uid).unwrap()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    headers
}

fn call(store: &KeyStore, headers: &HeaderMap, method: Method, path: &str) -> Result<AuthContext, ResponseError> {
    authorize(store, headers, &route_table().policy(&method, path).expect("known route"), NOW)
}

fn error(store: &KeyStore, headers: &HeaderMap, method: Method, path: &str) -> (u16, String, String) {
    let e = call(store, headers, method, path).unwrap_err();
    (e.http_status, e.code, e.message)
}

#[test]
fn header_errors() {
    let store = KeyStore::new(Some(MASTER.into()));
    assert_eq!(
        error(&store, &HeaderMap::new(), Method::GET, "/indexes"),
        (
            401,
            "missing_authorization_header".into(),
            "The Authorization header is missing. It must use the bearer authorization method.".into()
        )
    );
    assert_eq!(
        error(&store, &bearer("wrong-key"), Method::GET, "/indexes"),
        (403, "invalid_api_key".into(), "The provided API key is invalid.".into())
    );
    for raw in ["Basic abc", "bearer abc", ""] {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(raw).unwrap());
        assert_eq!(error(&store, &headers, Method::GET, "/indexes").1, "missing_authorization_header", "{raw:?}");
    }
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer"));
    assert_eq!(error(&store, &headers, Method::GET, "/indexes").1, "invalid_api_key");
    assert!(call(&store, &HeaderMap::new(), Method::GET, "/health").is_ok());
}

#[test]
fn master_key_and_default_keys() {
    let mut store = KeyStore::new(Some(MASTER.into()));
    for key in default_keys(MASTER, NOW) {
        store.apply(&KeyChange::Create { key });
    }
    let value_of = |name: &str| {
        let key = store.list().into_iter().find(|k| k.record.name.as_deref() == Some(name)).unwrap();
        store.value_of(key.uid()).unwrap()
    };
    let (search, admin, read_only, chat) = (
        value_of("Default Search API Key"),
        value_of("Default Admin API Key"),
        value_of("Default Read-Only Admin API Key"),
        value_of("Default Chat API Key"),
    );
    assert_eq!(call(&store, &bearer(MASTER), Method::POST, "/keys").unwrap(), AuthContext::Unrestricted);
    assert_eq!(call(&store, &bearer(MASTER), Method::GET, "/_miroir/nodes").unwrap(), AuthContext::Unrestricted);

    assert!(call(&store, &bearer(&search), Method::POST, "/indexes/movies/search").is_ok());
    assert!(call(&store, &bearer(&search), Method::POST, "/multi-search").is_ok());
    assert_eq!(error(&store, &bearer(&search), Method::POST, "/indexes/movies/documents").1, "invalid_api_key");

    assert!(call(&store, &bearer(&admin), Method::POST, "/indexes/movies/documents").is_ok());
    assert!(call(&store, &bearer(&admin), Method::DELETE, "/keys/x").is_ok(), "`*` holds keys.*");
    assert!(call(&store, &bearer(&admin), Method::POST, "/indexes/movies/documents/edit").is_ok());
    assert_eq!(error(&store, &bearer(&admin), Method::GET, "/_miroir/nodes").1, "invalid_api_key", "admin routes need the master key");

    assert!(call(&store, &bearer(&read_only), Method::GET, "/keys").is_ok());
    assert!(call(&store, &bearer(&read_only), Method::GET, "/indexes/movies/settings").is_ok());
    assert_eq!(error(&store, &bearer(&read_only), Method::POST, "/keys").1, "invalid_api_key");
    assert_eq!(error(&store, &bearer(&read_only), Method::PATCH, "/indexes/movies/settings").1, "invalid_api_key");

    assert!(call(&store, &bearer(&chat), Method::POST, "/chats/w/chat/completions").is_ok());
    assert_eq!(error(&store, &bearer(&chat), Method::GET, "/keys").1, "invalid_api_key");
}

#[test]
fn index_restrictions_and_expiry() {
    let mut store = KeyStore::new(Some(MASTER.into()));
    let movies = add_key(&mut store, 1, &["search", "documents.*", "tasks.get", "indexes.create"], &["movies", "films*"], None);
    assert_eq!(
        error(&store, &bearer(&movies), Method::POST, "/indexes/books/search"),
        (
            403,
            "invalid_api_key".into(),
            "The API key cannot acces the index `books`, authorized indexes are [\"films*\", \"movies\"].".into()
        )
    );
    assert!(call(&store, &bearer(&movies), Method::POST, "/indexes/films_fr/documents").is_ok());
    assert_eq!(error(&store, &bearer(&movies), Method::POST, "/indexes/movies/documents/edit").1, "invalid_api_key", "edit needs `*`");
    let context = call(&store, &bearer(&movies), Method::GET, "/tasks").unwrap();
    assert!(context.is_index_authorized("movies") && !context.is_index_authorized("books") && !context.all_indexes_authorized());
    assert!(context.allow_index_creation("films_x") && !context.allow_index_creation("books"));
    assert_eq!(context.check_indexes(["movies", "films1"]), Ok(()));
    assert_eq!(
        context.check_multi_search(["movies", "books"]).unwrap_err().message,
        "Inside `.queries[1]`: The provided API key is invalid."
    );
    assert_eq!(error(&store, &bearer(&movies), Method::GET, "/stats").1, "invalid_api_key", "no stats action");

    let expired = add_key(&mut store, 2, &["*"], &["*"], Some(NOW));
    assert_eq!(error(&store, &bearer(&expired), Method::GET, "/version").2, "The provided API key is invalid.");
    let later = add_key(&mut store, 3, &["*"], &["*"], Some(NOW + time::Duration::seconds(1)));
    assert!(call(&store, &bearer(&later), Method::GET, "/version").is_ok());

    let keys_reader = add_key(&mut store, 4, &["keys.get"], &["*"], None);
    assert!(call(&store, &bearer(&keys_reader), Method::GET, "/keys/abc").is_ok());
    assert_eq!(error(&store, &bearer(&keys_reader), Method::PATCH, "/keys/abc").1, "invalid_api_key");

    store.apply(&KeyChange::Delete { uid: Uuid::from_u128(4) });
    assert_eq!(error(&store, &bearer(&keys_reader), Method::GET, "/keys").1, "invalid_api_key", "deleted keys stop working");
}

#[test]
fn without_master_key_only_keys_routes_are_closed() {
    let store = KeyStore::new(None);
    assert_eq!(call(&store, &HeaderMap::new(), Method::POST, "/indexes/m/documents").unwrap(), AuthContext::Unrestricted);
    for headers in [HeaderMap::new(), bearer("anything")] {
        let (status, code, message) = error(&store, &headers, Method::GET, "/keys");
        assert_eq!((status, code.as_str()), (401, "missing_master_key"));
        assert_eq!(
            message,
            "Meilisearch is running without a master key. To access this API endpoint, you must have set a master key at launch."
        );
        assert_eq!(error(&store, &headers, Method::GET, "/_miroir/x").1, "missing_master_key");
    }
}

fn tenant_token(store: &KeyStore, uid: u128, claims: serde_json::Value) -> String {
    let secret = store.value_of(Uuid::from_u128(uid)).unwrap();
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[test]
fn tenant_tokens() {
    let mut store = KeyStore::new(Some(MASTER.into()));
    add_key(&mut store, 1, &["search", "documents.get"], &["movies*"], None);
    let uid = Uuid::from_u128(1);
    let token = tenant_token(&store, 1, json!({"searchRules": {"movies": {"filter": "tenant = 7"}, "movies_fr": null}, "apiKeyUid": uid}));

    let context = call(&store, &bearer(&token), Method::POST, "/indexes/movies/search").unwrap();
    assert!(context.is_tenant_token());
    assert_eq!(context.search_filter("movies", Some(json!("year > 2000"))), Some(json!(["year > 2000", "tenant = 7"])));
    assert_eq!(context.search_filter("movies_fr", Some(json!("a = 1"))), Some(json!("a = 1")));
    assert_eq!(
        error(&store, &bearer(&token), Method::POST, "/indexes/books/search").2,
        "The provided tenant token cannot acces the index `books`, allowed indexes are [\"movies\", \"movies_fr\"]."
    );
    assert_eq!(
        context.check_multi_search(["movies", "movies_de"]).unwrap_err().message,
        "Inside `.queries[1]`: The provided API key is invalid."
    );
    assert_eq!(
        error(&store, &bearer(&token), Method::GET, "/indexes/movies/documents").2,
        "The provided API key is invalid.",
        "tenant tokens only search"
    );

    let wide = tenant_token(&store, 1, json!({"searchRules": ["*"], "apiKeyUid": uid}));
    assert_eq!(
        error(&store, &bearer(&wide), Method::POST, "/indexes/books/search").2,
        "The API key used to generate this tenant token cannot acces the index `books`."
    );
    let ghost = tenant_token(&store, 99, json!({"searchRules": ["*"], "apiKeyUid": Uuid::from_u128(99)}));
    assert_eq!(error(&store, &bearer(&ghost), Method::POST, "/indexes/movies/search").2, "The provided API key is invalid.");
    let expired = tenant_token(&store, 1, json!({"searchRules": ["*"], "apiKeyUid": uid, "exp": NOW.unix_timestamp() - 10}));
    assert!(error(&store, &bearer(&expired), Method::POST, "/multi-search").2.starts_with("Tenant token expired."));

    add_key(&mut store, 2, &["documents.get"], &["*"], None);
    let no_search = tenant_token(&store, 2, json!({"searchRules": ["*"], "apiKeyUid": Uuid::from_u128(2)}));
    assert_eq!(
        error(&store, &bearer(&no_search), Method::POST, "/indexes/movies/search").1,
        "invalid_api_key",
        "parent key must hold search"
    );
}

fn any_action() -> impl Strategy<Value = Action> {
    (0..Action::ALL.len()).prop_map(|i| Action::ALL[i])
}

proptest! {
    /// Whatever the route, a key is let through only if its expanded actions hold every
    /// action the route requires.
    #[test]
    fn keys_never_pass_without_the_action(held in proptest::collection::vec(any_action(), 0..4), row in 0usize..200, index in "[ab]{1,2}") {
        let rows: Vec<_> = route_table().rows().filter_map(|(method, pattern, guard)| match guard {
            Guard::Actions(required) => Some((method, pattern, required)),
            Guard::Public | Guard::MasterKey => None,
        }).collect();
        let (method, pattern, required) = rows[row % rows.len()];
        let path = pattern.replace("{index_uid}", &index).replace(['{', '}'], "");
        let mut store = KeyStore::new(Some(MASTER.into()));
        let names: Vec<&str> = held.iter().map(|a| a.name()).collect();
        let value = add_key(&mut store, 1, &names, &["*"], None);
        let granted = crate::auth::action::expand(&held);
        let outcome = call(&store, &bearer(&value), method.clone(), &path);
        prop_assert_eq!(outcome.is_ok(), required.iter().all(|a| granted.contains(a)), "{} {}", method, path);
    }
}

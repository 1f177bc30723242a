//! The auth middleware: what each kind of credential reaches, the verdict handlers see (tenant
//! filters, per-index checks), and Meilisearch's exact errors. Most tests run the gateway's
//! routes and guards with the handlers of `support::echo`, which answer with the verdict they
//! got: that verdict is what is checked, and the real handlers would need nodes behind the
//! gateway to answer a search.

use crate::support::*;
use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::Router;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn gateway() -> TestGateway {
    echoing_gateway(memory_log(), Some(MASTER_KEY), &ManualClock::default()).await
}

async fn key_with(gateway: &TestGateway, actions: Value, indexes: Value) -> String {
    let view = gateway.create_key(json!({ "actions": actions, "indexes": indexes, "expiresAt": null })).await;
    view["key"].as_str().unwrap().to_owned()
}

const MISSING_HEADER: &str = "The Authorization header is missing. It must use the bearer authorization method.";

#[tokio::test]
async fn missing_malformed_and_wrong_credentials_get_meilisearch_errors() {
    let gateway = gateway().await;
    let missing = (StatusCode::UNAUTHORIZED, meili_error("missing_authorization_header", "auth", MISSING_HEADER));
    let invalid = (StatusCode::FORBIDDEN, invalid_api_key(INVALID_KEY));
    let cases: &[(Option<&str>, &(StatusCode, Value))] = &[
        (None, &missing),
        (Some("Basic bWFzdGVyS2V5"), &missing),
        (Some(MASTER_KEY), &missing),
        (Some("Bearer"), &invalid),
        (Some("Bearer wrong"), &invalid),
        (Some("Bearer masterKey "), &invalid),
        (Some("Bearer 0123abcd"), &invalid),
    ];
    for (header, expected) in cases {
        for (method, path) in [("GET", "/tasks"), ("GET", "/keys"), ("GET", "/_miroir/topology")] {
            assert_eq!(&gateway.call_with_authorization(method, path, *header, None).await, *expected, "{header:?} {path}");
        }
    }
    // Tenant-token-shaped garbage on a search route reads as a token that fails to decode.
    let (status, body) = gateway.call_with_authorization("POST", "/indexes/movies/search", Some("Bearer a.b.c"), Some(json!({}))).await;
    assert_eq!((status, body["code"].clone()), (StatusCode::FORBIDDEN, json!("invalid_api_key")));
}

#[tokio::test]
async fn health_is_open_and_unknown_routes_and_verbs_answer_before_auth() {
    let gateway = gateway().await;
    assert_eq!(gateway.call_as("GET", "/health", None, None).await, (StatusCode::OK, json!({ "status": "available" })));
    assert_eq!(gateway.call_as("GET", "/nope", None, None).await, (StatusCode::NOT_FOUND, Value::Null));
    assert_eq!(gateway.call_as("GET", "/indexes/movies/nope", Some("wrong"), None).await, (StatusCode::NOT_FOUND, Value::Null));
    // A verb Meilisearch does not serve never reaches a handler (axum would send HEAD to GET).
    assert_eq!(gateway.call_as("HEAD", "/indexes/movies/documents", None, None).await, (StatusCode::METHOD_NOT_ALLOWED, Value::Null));
    assert_eq!(gateway.call_as("PUT", "/keys", None, None).await, (StatusCode::METHOD_NOT_ALLOWED, Value::Null));
}

#[tokio::test]
async fn a_search_only_key_cannot_write_manage_keys_or_reach_admin_routes() {
    let gateway = gateway().await;
    let key = key_with(&gateway, json!(["search"]), json!(["*"])).await;
    let (status, body) = gateway.call_as("POST", "/indexes/movies/search", Some(&key), Some(json!({ "filter": "a = 1" }))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "index": "movies", "filter": "a = 1" })), "no tenant rule: filter unchanged");
    for (method, path) in [
        ("POST", "/indexes/movies/documents"),
        ("GET", "/indexes/movies/documents"),
        ("GET", "/keys"),
        ("POST", "/keys"),
        ("DELETE", "/keys/whatever"),
        ("GET", "/tasks"),
        ("GET", "/_miroir/topology"),
    ] {
        assert_eq!(
            gateway.call_as(method, path, Some(&key), None).await,
            (StatusCode::FORBIDDEN, invalid_api_key(INVALID_KEY)),
            "{method} {path}"
        );
    }
    assert_eq!(gateway.call("GET", "/_miroir/topology", None).await.0, StatusCode::OK, "admin routes take the master key");
    // The default admin key holds `*`, yet Miroir's admin routes want the master key itself.
    let (_, keys) = gateway.call("GET", "/keys", None).await;
    let admin = keys["results"].as_array().unwrap().iter().find(|k| k["name"] == "Default Admin API Key").unwrap()["key"].clone();
    assert_eq!(gateway.call_as("GET", "/_miroir/topology", admin.as_str(), None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(gateway.call_as("GET", "/keys", admin.as_str(), None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn an_index_scoped_key_cannot_touch_other_indexes() {
    let gateway = gateway().await;
    let key = key_with(&gateway, json!(["search", "documents.add", "tasks.get", "indexes.swap"]), json!(["movies", "tv*"])).await;
    assert_eq!(
        gateway.call_as("POST", "/indexes/movies/documents", Some(&key), None).await,
        (StatusCode::ACCEPTED, json!({ "indexUid": "movies", "mayCreate": false }))
    );
    assert_eq!(gateway.call_as("POST", "/indexes/tvshows/search", Some(&key), Some(json!({}))).await.0, StatusCode::OK);
    let refused = invalid_api_key("The API key cannot acces the index `books`, authorized indexes are [\"movies\", \"tv*\"].");
    assert_eq!(gateway.call_as("POST", "/indexes/books/documents", Some(&key), None).await, (StatusCode::FORBIDDEN, refused.clone()));
    assert_eq!(gateway.call_as("POST", "/indexes/books/search", Some(&key), Some(json!({}))).await, (StatusCode::FORBIDDEN, refused));

    let queries = json!({ "queries": [{ "indexUid": "movies", "q": "a" }, { "indexUid": "books" }] });
    let (status, body) = gateway.call_as("POST", "/multi-search", Some(&key), Some(queries)).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, invalid_api_key("Inside `.queries[1]`: The provided API key is invalid.")));
    let (status, _) = gateway.call_as("POST", "/multi-search", Some(&key), Some(json!({ "queries": [{ "indexUid": "tvshows" }] }))).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(
        gateway.call_as("GET", "/tasks", Some(&key), None).await,
        (StatusCode::OK, json!(["movies"])),
        "only its own indexes' tasks"
    );
    assert_eq!(gateway.call("GET", "/tasks", None).await, (StatusCode::OK, json!(["movies", "books", "swap"])));
    let swap = |a: &str, b: &str| json!([{ "indexes": [a, b] }]);
    assert_eq!(gateway.call_as("POST", "/swap-indexes", Some(&key), Some(swap("movies", "tvshows"))).await.0, StatusCode::ACCEPTED);
    assert_eq!(
        gateway.call_as("POST", "/swap-indexes", Some(&key), Some(swap("movies", "books"))).await,
        (StatusCode::FORBIDDEN, invalid_api_key(INVALID_KEY))
    );

    let creator = key_with(&gateway, json!(["documents.add", "indexes.create"]), json!(["movies"])).await;
    assert_eq!(gateway.call_as("POST", "/indexes/movies/documents", Some(&creator), None).await.1["mayCreate"], true);
}

fn tenant_token(parent_key: &str, parent_uid: &str, rules: Value, exp: Option<i64>) -> String {
    let mut claims = json!({ "searchRules": rules, "apiKeyUid": parent_uid });
    if let Some(exp) = exp {
        claims["exp"] = json!(exp);
    }
    encode(&Header::default(), &claims, &EncodingKey::from_secret(parent_key.as_bytes())).unwrap()
}

#[tokio::test]
async fn tenant_token_filters_reach_handlers() {
    let gateway = gateway().await;
    let view = gateway.create_key(json!({ "actions": ["search"], "indexes": ["*"], "expiresAt": null })).await;
    let (parent, uid) = (view["key"].as_str().unwrap(), view["uid"].as_str().unwrap());
    let rules = json!({ "movies": { "filter": "genre = comedy" }, "tv*": null });
    let token = tenant_token(parent, uid, rules.clone(), None);

    let search = |index: &str, body: Value| {
        let path = format!("/indexes/{index}/search");
        let (gateway, token) = (&gateway, &token);
        async move { gateway.call_as("POST", &path, Some(token), Some(body)).await }
    };
    assert_eq!(search("movies", json!({})).await.1["filter"], "genre = comedy");
    assert_eq!(search("movies", json!({ "filter": null })).await.1["filter"], "genre = comedy");
    assert_eq!(search("movies", json!({ "filter": "year > 2000" })).await.1["filter"], json!(["year > 2000", "genre = comedy"]));
    assert_eq!(
        search("movies", json!({ "filter": ["a = 1", ["b = 2", "c = 3"]] })).await.1["filter"],
        json!(["a = 1", ["b = 2", "c = 3"], "genre = comedy"])
    );
    assert_eq!(search("tvshows", json!({ "filter": "x = 1" })).await.1["filter"], "x = 1", "a rule without filter adds none");
    let refused = invalid_api_key("The provided tenant token cannot acces the index `books`, allowed indexes are [\"movies\", \"tv*\"].");
    assert_eq!(search("books", json!({})).await, (StatusCode::FORBIDDEN, refused));

    let queries = json!({ "queries": [{ "indexUid": "movies", "filter": "x = 1" }, { "indexUid": "tvshows" }] });
    let (status, body) = gateway.call_as("POST", "/multi-search", Some(&token), Some(queries)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["queries"], json!([{ "indexUid": "movies", "filter": ["x = 1", "genre = comedy"] }, { "indexUid": "tvshows" }]));
    let (status, body) =
        gateway.call_as("POST", "/multi-search", Some(&token), Some(json!({ "queries": [{ "indexUid": "books" }] }))).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, invalid_api_key("Inside `.queries[0]`: The provided API key is invalid.")));

    // A tenant token is for search only, expires, and dies with its parent key.
    assert_eq!(gateway.call_as("GET", "/indexes/movies/documents", Some(&token), None).await.0, StatusCode::FORBIDDEN);
    let now = ManualClock::START.unix_timestamp();
    let expired = tenant_token(parent, uid, rules.clone(), Some(now - 1));
    let message = format!("Tenant token expired. Was valid up to `{}` and we're now `{now}`.", now - 1);
    assert_eq!(
        gateway.call_as("POST", "/indexes/movies/search", Some(&expired), Some(json!({}))).await,
        (StatusCode::FORBIDDEN, invalid_api_key(&message))
    );
    assert_eq!(gateway.call("DELETE", &format!("/keys/{uid}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        gateway.call_as("POST", "/indexes/movies/search", Some(&token), Some(json!({}))).await,
        (StatusCode::FORBIDDEN, invalid_api_key(INVALID_KEY))
    );
}

#[tokio::test]
async fn a_handler_mounted_outside_the_middleware_refuses_to_run() {
    // Deliberately not the gateway's router: a handler reached without the middleware.
    let outside = Router::new().route("/tasks", get(echo::tasks));
    let response = outside.oneshot(Request::get("/tasks").body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let body: Value = serde_json::from_slice(&to_bytes(response.into_body(), usize::MAX).await.unwrap()).unwrap();
    assert_eq!((status, body["code"].clone()), (StatusCode::INTERNAL_SERVER_ERROR, json!("internal")));
}

/// The gateway's own handlers behind the middleware (the tests above echo the verdict instead).
#[tokio::test]
async fn guards_the_gateways_own_handlers() {
    let gateway = TestGateway::new().await;
    assert_eq!(gateway.call_as("GET", "/health", None, None).await.0, StatusCode::OK);
    assert_eq!(gateway.call_as("GET", "/version", None, None).await.1, meili_error("missing_authorization_header", "auth", MISSING_HEADER));
    assert_eq!(gateway.call("GET", "/version", None).await.0, StatusCode::OK);
    let (status, keys) = gateway.call("GET", "/keys", None).await;
    assert_eq!((status, keys["total"].clone()), (StatusCode::OK, json!(4)));
    let search_key = keys["results"][0]["key"].as_str().unwrap();
    assert_eq!(gateway.call_as("DELETE", "/indexes/movies/documents", Some(search_key), None).await.1, invalid_api_key(INVALID_KEY));
}

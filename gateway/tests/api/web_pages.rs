//! The web pages beside the authenticated router, as the process serves them: the pages and
//! their assets answer without a key, with headers that keep them to this origin; every other
//! `/_miroir` path still takes the master key.

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use miroir_gateway::web::{with_pages, WebArgs};
use tower::ServiceExt;

use crate::support::{TestGateway, MASTER_KEY};

async fn get(router: &Router, path: &str, key: Option<&str>) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().uri(path);
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    let response = router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    (parts.status, parts.headers, String::from_utf8_lossy(&to_bytes(body, usize::MAX).await.unwrap()).into_owned())
}

#[tokio::test]
async fn pages_are_public_and_the_rest_of_the_admin_prefix_is_not() {
    let gateway = TestGateway::new().await;
    let args = WebArgs { search_page_key: Some("searchOnly\"Key".into()) };
    let router = with_pages(gateway.router.clone(), &args, Some(MASTER_KEY)).unwrap();

    let (status, headers, html) = get(&router, "/_miroir/admin", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("connect-src 'self'"));
    assert!(html.contains(r#"<script defer src="/_miroir/web/admin.js">"#), "{html}");

    let (status, headers, html) = get(&router, "/_miroir/search/movies", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    assert!(html.contains(r#"<meta name="miroir-search-key" content="searchOnly&quot;Key">"#), "{html}");

    for (file, content_type) in [("admin.js", "text/javascript"), ("search.js", "text/javascript"), ("style.css", "text/css")] {
        let (status, headers, body) = get(&router, &format!("/_miroir/web/{file}"), None).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(content_type), "{file}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(body.len() > 1000, "{file}");
    }
    assert_eq!(get(&router, "/_miroir/web/secret.js", None).await.0, StatusCode::NOT_FOUND);

    // The admin API and unknown admin paths keep the master-key guard.
    assert_eq!(get(&router, "/_miroir/topology", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&router, "/_miroir/topology", Some(MASTER_KEY)).await.0, StatusCode::OK);
    assert_eq!(get(&gateway.router, "/_miroir/elsewhere", None).await.0, StatusCode::UNAUTHORIZED, "before");
    assert_eq!(get(&router, "/_miroir/elsewhere", None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&router, "/indexes", None).await.0, StatusCode::UNAUTHORIZED);
}

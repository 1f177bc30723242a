//! The gateway's two web pages, served from assets built into the binary (no CDN, nothing
//! fetched at run time):
//!
//! * `/_miroir/admin`: the admin console (topology, tasks, indexes, a query sandbox), which
//!   reads the admin API with the key the operator types in;
//! * `/_miroir/search/{index}`: a search page for end users, built on Meilisearch's own JS
//!   client, which runs only with a search-only key (`--search-page-key`, or one the user enters).
//!
//! The pages themselves hold no secret, so they are public: they are served beside the API
//! router, outside the auth middleware that guards every other `/_miroir` path with the master
//! key; the data they show comes from the API with the key in an `Authorization` header (never a
//! cookie, so another site cannot make a browser send it). Sources and the build are in
//! `gateway/web/`: the HTML and CSS are embedded as written (`src/`), the scripts as esbuild
//! bundled them with Meilisearch's JS client (`npm run build` writes `dist/`, which is committed
//! so that `cargo build` needs no Node.js).

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The search page's launch option.
#[derive(Clone, Default, clap::Args)]
pub struct WebArgs {
    /// A search-only API key the search page (`/_miroir/search/{index}`) runs with. Every visitor
    /// of the page can read it, so give it the `search` action only (and the indexes it may
    /// search); the gateway refuses to start when it is the master key. Without it the page asks
    /// the visitor for a key.
    #[arg(long, env = "MIROIR_SEARCH_PAGE_KEY", hide_env_values = true)]
    pub search_page_key: Option<String>,
}

// Hand-written: the key is a credential, even if a small one.
impl std::fmt::Debug for WebArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebArgs").field("search_page_key", &self.search_page_key.as_ref().map(|_| "***")).finish()
    }
}

/// Why the pages cannot be served as configured.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("--search-page-key is the master key: the search page hands its key to every visitor, so it takes a search-only key")]
    SearchKeyIsMasterKey,
}

/// One file the pages load.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// A file of `gateway/web/` (`src/` as written, `dist/` as esbuild bundled it).
macro_rules! asset {
    ($dir:literal, $name:literal, $content_type:literal) => {
        Asset { name: $name, content_type: $content_type, body: include_bytes!(concat!("../web/", $dir, "/", $name)) }
    };
}

/// Every file the pages load, under `/_miroir/web/`.
const ASSETS: [Asset; 3] = [
    asset!("dist", "admin.js", "text/javascript; charset=utf-8"),
    asset!("dist", "search.js", "text/javascript; charset=utf-8"),
    asset!("src", "style.css", "text/css; charset=utf-8"),
];
const ADMIN_HTML: &str = include_str!("../web/src/admin.html");
const SEARCH_HTML: &str = include_str!("../web/src/search.html");

/// The search page's slot for the operator's key; the page reads it from there.
const SEARCH_KEY_SLOT: &str = r#"<meta name="miroir-search-key" content="">"#;

/// The pages load only their own scripts and styles and talk only to this gateway; no form
/// submits anywhere (a form whose script failed would put the typed key in the URL).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Bytes of every embedded file (reported in the docs; a test keeps it small).
pub fn embedded_size() -> usize {
    ASSETS.iter().map(|asset| asset.body.len()).sum::<usize>() + ADMIN_HTML.len() + SEARCH_HTML.len()
}

/// The pages, with `api` answering every other path. Call it with the authenticated router:
/// the pages' own paths then skip the auth middleware, and every other path (unknown ones
/// included: `api` is the fallback, not merged) keeps its guard.
pub fn with_pages(api: Router, args: &WebArgs, master_key: Option<&str>) -> Result<Router, WebError> {
    if args.search_page_key.is_some() && args.search_page_key.as_deref() == master_key {
        return Err(WebError::SearchKeyIsMasterKey);
    }
    let search_html = search_page(SEARCH_HTML, args.search_page_key.as_deref());
    let router = Router::new()
        .route("/_miroir/admin", get(|| async { page(ADMIN_HTML.to_owned()) }))
        .route("/_miroir/search/{index}", get(move |_: Path<String>| async move { page(search_html) }))
        .route("/_miroir/web/{file}", get(asset))
        .fallback_service(api);
    Ok(router)
}

/// The search page with the operator's key in its slot, escaped for an attribute value.
pub fn search_page(template: &str, key: Option<&str>) -> String {
    let escaped: String = key
        .unwrap_or_default()
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            other => other.to_string(),
        })
        .collect();
    template.replacen(SEARCH_KEY_SLOT, &format!(r#"<meta name="miroir-search-key" content="{escaped}">"#), 1)
}

fn page(html: String) -> Response {
    with_headers(html.into_response(), "text/html; charset=utf-8", "no-store")
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        // Revalidated on each load: a new gateway version serves new scripts at the same path.
        Some(asset) => with_headers(asset.body.into_response(), asset.content_type, "no-cache"),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn with_headers(mut response: Response, content_type: &'static str, cache: &'static str) -> Response {
    let headers = response.headers_mut();
    let set: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, cache),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_page_has_a_slot_for_the_key_and_the_key_cannot_break_out_of_it() {
        assert!(SEARCH_HTML.contains(SEARCH_KEY_SLOT), "gateway/web/src/search.html lost its key slot");
        let html = search_page(SEARCH_HTML, Some(r#"a"><script>alert(1)</script>&'"#));
        assert!(html.contains(r#"content="a&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#39;""#), "{html}");
        assert!(!html.contains("<script>alert"));
        assert_eq!(search_page(SEARCH_HTML, None), SEARCH_HTML);
    }

    #[test]
    fn the_assets_are_small() {
        // Two pages, one stylesheet and Meilisearch's JS client bundled twice.
        assert!(embedded_size() < 200_000, "{} bytes embedded", embedded_size());
    }

    #[test]
    fn the_master_key_is_refused_as_the_search_page_key() {
        let args = WebArgs { search_page_key: Some("masterKey".into()) };
        assert!(matches!(with_pages(Router::new(), &args, Some("masterKey")), Err(WebError::SearchKeyIsMasterKey)));
        assert!(with_pages(Router::new(), &args, Some("other")).is_ok());
        assert!(with_pages(Router::new(), &WebArgs::default(), None).is_ok());
        assert!(!format!("{args:?}").contains("masterKey"));
    }
}

//! The authentication middleware: every request is judged by its route's policy before any
//! handler runs, and handlers read the verdict ([`AuthContext`]) with the [`Auth`] extractor.
//!
//! Like Meilisearch (actix resolves the route before the `GuardedData` extractor runs), a
//! path Meilisearch does not serve answers `404` and a served path with another verb `405`,
//! both with an empty body and before any key check. The middleware answers those itself,
//! so no handler is ever reached without a verdict (axum would otherwise route `HEAD` to `GET`
//! handlers, and a handler mounted for more verbs than Meilisearch has would go unguarded).

use std::ops::Deref;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::authorize::AuthContext;
use super::keys_routes;
use super::keys_service::KeysService;
use super::routes::{route_policy, serves_path};
use crate::error::{error_response, GatewayError};

/// Adds the `/keys` routes to `router` and puts the whole API behind the middleware.
pub fn mount(router: Router, keys: KeysService) -> Router {
    router.merge(keys_routes::router(keys.clone())).layer(from_fn_with_state(keys, authenticate))
}

/// The middleware (`from_fn_with_state(keys, authenticate)`).
pub async fn authenticate(State(keys): State<KeysService>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let Some(policy) = route_policy(request.method(), path) else {
        return match serves_path(path) {
            true => StatusCode::METHOD_NOT_ALLOWED.into_response(),
            false => StatusCode::NOT_FOUND.into_response(),
        };
    };
    match keys.authorize(request.headers(), &policy).await {
        Ok(context) => {
            request.extensions_mut().insert(context);
            next.run(request).await
        }
        Err(error) => error_response(&error),
    }
}

/// Handler argument: what the request's credentials allow. Handlers ask it about the indexes
/// they touch (see [`AuthContext`] and `auth::request_rules`).
#[derive(Debug, Clone, PartialEq)]
pub struct Auth(pub AuthContext);

impl Deref for Auth {
    type Target = AuthContext;

    fn deref(&self) -> &AuthContext {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = GatewayError;

    /// Fails closed: a handler mounted outside the middleware refuses to run.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AuthContext>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| GatewayError::Internal("a route was reached without authentication".to_owned()))
    }
}

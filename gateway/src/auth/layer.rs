//! The authentication middleware: every request is judged by its route's policy before any
//! handler runs, and handlers read the verdict ([`AuthContext`]) with the [`Auth`] extractor.
//!
//! Like Meilisearch (actix resolves the route before the `GuardedData` extractor runs), a
//! path Meilisearch does not serve answers `404` and a served path with another verb `405`,
//! both with an empty body and before any key check. The middleware answers those itself from
//! the [`RouteTable`], so no handler is ever reached without a verdict (axum would otherwise
//! route `HEAD` to `GET` handlers).

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::authorize::AuthContext;
use super::keys_service::KeysService;
use super::routes::{RouteTable, Routing};
use crate::error::{error_response, GatewayError};

/// The middleware's state: the routes it guards and the keys it checks.
#[derive(Clone)]
pub struct Authenticator {
    pub routes: Arc<RouteTable>,
    pub keys: KeysService,
}

/// Puts `router`, whose routes are those of `routes`, behind the middleware.
pub fn guard(router: Router, routes: Arc<RouteTable>, keys: KeysService) -> Router {
    router.layer(from_fn_with_state(Authenticator { routes, keys }, authenticate))
}

/// Adds the gateway's `/keys` routes to `app`, whose handlers answer some of the gateway's
/// routes, and puts it behind the middleware with the gateway's route table: an app embedding
/// Miroir's API keys with handlers of its own.
pub fn mount(app: Router, keys: KeysService) -> Router {
    guard(app.merge(crate::app::keys_router(keys.clone())), crate::app::route_table().clone(), keys)
}

/// The middleware (`from_fn_with_state(authenticator, authenticate)`).
pub async fn authenticate(State(authenticator): State<Authenticator>, mut request: Request, next: Next) -> Response {
    let policy = match authenticator.routes.route(request.method(), request.uri().path()) {
        Routing::Guarded(policy) => policy,
        Routing::MethodNotAllowed => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
        Routing::NotFound => return StatusCode::NOT_FOUND.into_response(),
    };
    match authenticator.keys.authorize(request.headers(), &policy).await {
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

//! Index aliases: a name standing for one index (or several, for federated reads), switched
//! atomically for every gateway. Every change is one `meta` record ([`miroir_schemas::meta_log::aliases`])
//! folded by every gateway ([`MetaFollower`]); a request naming an alias is resolved once, against
//! one view of the aliases, and served as the index it named then ([`resolve`]), so an answer
//! comes wholly from one index. Routes: `GET/PUT/DELETE /_miroir/aliases/{name}`,
//! `GET /_miroir/aliases` (master key). Documented in `docs/aliases.md`.
//!
//! API keys: a key (and a tenant token) must allow both the alias's name and the index it
//! resolves to; a tenant token's filter is the one it sets for the index.

pub mod resolve;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use miroir_clients::log::WriteLog;
use miroir_schemas::error::{Code, ErrorType, ResponseError};
use miroir_schemas::meta_log::aliases::{Alias, AliasApplied, AliasChange, Aliases, MAX_ALIAS_INDEXES};
use miroir_schemas::meta_log::MetaEnvelope;
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use tower::ServiceExt;

use crate::auth::AuthContext;
use crate::body::read_limited;
use crate::error::{miroir_error, GatewayError};
use crate::meta_fold::{MetaFollower, MetaState};
use crate::params::is_valid_index_uid;
use crate::request_id::RequestId;
use crate::state::AppState;
use resolve::{
    index_conflict, index_named_as_alias, index_segment, may_name_an_index, rewrite_multi_search, route_path, AliasView, PathRoute,
};

/// Routing key of alias records in `meta` (the topic has one partition).
const META_KEY: &str = "aliases";
/// How long a request waits for this gateway's fold of the logs.
const FOLD_TIMEOUT: Duration = Duration::from_secs(10);
/// The alias is not there.
pub const NOT_FOUND_CODE: &str = "alias_not_found";
/// The alias's name or body is not one.
pub const INVALID_CODE: &str = "invalid_alias";

impl MetaState for Aliases {
    type Change = AliasChange;
    type Outcome = AliasApplied;

    fn change_of(envelope: MetaEnvelope) -> Option<AliasChange> {
        envelope.alias_change()
    }

    fn apply(&mut self, change: &AliasChange) -> AliasApplied {
        Aliases::apply(self, change)
    }
}

/// This gateway's aliases, kept current from `meta`.
pub struct AliasesService {
    meta: MetaFollower<Aliases>,
    /// Set once the fold has caught up with `meta` once: before that, no request is resolved.
    caught_up: OnceCell<()>,
}

impl AliasesService {
    /// Starts folding `meta` (call inside a Tokio runtime).
    pub fn start(log: Arc<dyn WriteLog>) -> AliasesService {
        AliasesService { meta: MetaFollower::start(log, Aliases::default(), FOLD_TIMEOUT), caught_up: OnceCell::new() }
    }

    /// Waits, on the first call only, until every alias recorded before it is folded.
    pub async fn ready(&self) -> Result<(), GatewayError> {
        self.caught_up.get_or_try_init(|| self.meta.catch_up()).await.map(|_| ())
    }

    /// Waits until `meta` is folded up to `count` records (a session's position), at most `deadline`.
    pub async fn wait_folded(&self, count: u64, deadline: Duration) -> Result<(), GatewayError> {
        match self.meta.ring().wait_folded(count, deadline).await {
            true => Ok(()),
            false => Err(crate::session::timeout(&crate::session::token::SessionProgress::Behind, deadline).into()),
        }
    }

    /// How many `meta` records this gateway's aliases have folded (a session switching an alias
    /// is handed it, see [`crate::session::meta_token`]).
    pub fn folded(&self) -> u64 {
        self.meta.ring().next_offset()
    }

    /// The aliases as this gateway has folded them (one view per request).
    pub fn current(&self) -> Aliases {
        self.meta.ring().read(Aliases::clone)
    }

    /// `GET /_miroir/aliases`.
    pub async fn list(&self) -> Result<Value, GatewayError> {
        self.meta.catch_up().await?;
        let results: Vec<Value> = self.meta.ring().read(|aliases| aliases.iter().map(|(name, alias)| alias_view(name, alias)).collect());
        Ok(json!({ "results": results }))
    }

    /// `GET /_miroir/aliases/{name}`.
    pub async fn get(&self, name: &str) -> Result<Value, GatewayError> {
        self.meta.catch_up().await?;
        Ok(self.view_of(name)?)
    }

    /// `PUT /_miroir/aliases/{name}` `{"indexes": [...]}`: creates or switches the alias.
    pub async fn set(&self, state: &AppState, name: &str, body: &Value) -> Result<Value, GatewayError> {
        let replication_factor = state.topology().replication_factor;
        check_name(name, replication_factor)?;
        let indexes = parse_indexes(body, replication_factor)?;
        if indexes.iter().any(|index| index == name) {
            return Err(invalid(format!("The alias `{name}` cannot name itself.")).into());
        }
        state.catalog().catch_up_everywhere(state.log(), FOLD_TIMEOUT).await?;
        self.meta.catch_up().await?;
        let (name_is_index, missing) = state
            .catalog()
            .read(|catalog| (catalog.index(name).is_some(), indexes.iter().find(|index| catalog.index(index).is_none()).cloned()));
        if name_is_index {
            return Err(conflict(format!("`{name}` is an index; an alias cannot have an index's name.")).into());
        }
        if let Some(missing) = missing {
            return Err(GatewayError::Meili(ResponseError::new(Code::IndexNotFound, format!("Index `{missing}` not found."))));
        }
        let change = AliasChange::AliasSet { name: name.to_owned(), indexes, at: time::OffsetDateTime::now_utc() };
        match self.meta.append_and_fold(META_KEY, change).await? {
            AliasApplied::Set { name, alias } => Ok(alias_view(&name, &alias)),
            AliasApplied::TargetIsAlias { target, .. } => {
                Err(invalid(format!("`{target}` is an alias; an alias names indexes only.")).into())
            }
            AliasApplied::NameIsTarget { alias, .. } => {
                Err(conflict(format!("`{name}` is an index named by the alias `{alias}`; an alias cannot have an index's name.")).into())
            }
            other => Err(unexpected(other)),
        }
    }

    /// `DELETE /_miroir/aliases/{name}`.
    pub async fn delete(&self, name: &str) -> Result<(), GatewayError> {
        self.meta.catch_up().await?;
        self.view_of(name)?;
        match self.meta.append_and_fold(META_KEY, AliasChange::AliasDelete { name: name.to_owned() }).await? {
            AliasApplied::Deleted(_) => Ok(()),
            AliasApplied::NotFound(_) => Err(not_found(name).into()),
            other => Err(unexpected(other)),
        }
    }

    fn view_of(&self, name: &str) -> Result<Value, ResponseError> {
        self.meta.ring().read(|aliases| aliases.get(name).map(|alias| alias_view(name, alias))).ok_or_else(|| not_found(name))
    }
}

/// An alias as the admin routes show it.
pub fn alias_view(name: &str, alias: &Alias) -> Value {
    let format = |at: time::OffsetDateTime| at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    json!({
        "name": name,
        "indexes": alias.indexes,
        "createdAt": format(alias.created_at),
        "updatedAt": format(alias.updated_at),
    })
}

fn check_name(name: &str, replication_factor: u32) -> Result<(), ResponseError> {
    match is_valid_index_uid(name, replication_factor) {
        true => Ok(()),
        false => Err(invalid(format!(
            "`{name}` is not a valid alias name: an alias is named as an index is (alphanumeric characters, hyphens and underscores)."
        ))),
    }
}

/// `{"indexes": [...]}`: 1 to [`MAX_ALIAS_INDEXES`] distinct index uids.
fn parse_indexes(body: &Value, replication_factor: u32) -> Result<Vec<String>, ResponseError> {
    let shape = || {
        invalid(format!(
            "An alias is set with `{{\"indexes\": [\"<index uid>\", ...]}}`: 1 to {MAX_ALIAS_INDEXES} index uids, found `{body}`."
        ))
    };
    let object = body.as_object().filter(|object| object.keys().all(|key| key == "indexes")).ok_or_else(shape)?;
    let items =
        object.get("indexes").and_then(Value::as_array).filter(|items| (1..=MAX_ALIAS_INDEXES).contains(&items.len())).ok_or_else(shape)?;
    let mut indexes: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let uid = item.as_str().ok_or_else(shape)?;
        if !is_valid_index_uid(uid, replication_factor) {
            return Err(invalid(format!("`{uid}` is not a valid index uid.")));
        }
        if indexes.iter().any(|seen| seen == uid) {
            return Err(invalid(format!("The index `{uid}` is named twice.")));
        }
        indexes.push(uid.to_owned());
    }
    Ok(indexes)
}

fn invalid(message: String) -> ResponseError {
    miroir_error(INVALID_CODE, ErrorType::InvalidRequest, 400, message)
}

fn conflict(message: String) -> ResponseError {
    miroir_error(resolve::CONFLICT_CODE, ErrorType::InvalidRequest, 409, message)
}

fn not_found(name: &str) -> ResponseError {
    miroir_error(NOT_FOUND_CODE, ErrorType::InvalidRequest, 404, format!("Alias `{name}` not found."))
}

fn unexpected(applied: AliasApplied) -> GatewayError {
    GatewayError::Internal(format!("an alias record folded as {applied:?}, which its request cannot cause"))
}

/// What the resolving middleware holds: the cluster, and the routes to serve a rewritten
/// request with (the same router without this middleware, so a request resolves once).
#[derive(Clone)]
struct AliasRouting {
    state: AppState,
    direct: Router,
}

/// `router`'s routes behind alias resolution (inside authentication: the verdict is needed).
pub fn layer(router: Router, state: AppState) -> Router {
    let direct = router.clone();
    router.layer(from_fn_with_state(AliasRouting { state, direct }, resolve_aliases))
}

async fn resolve_aliases(State(routing): State<AliasRouting>, request: Request, next: Next) -> Response {
    match resolved(&routing, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn resolved(routing: &AliasRouting, request: Request, next: Next) -> Result<Response, GatewayError> {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let multi_search = method == Method::POST && path == "/multi-search";
    let names_an_index = may_name_an_index(&method, &path);
    if index_segment(&path).is_none() && !multi_search && !names_an_index {
        return Ok(next.run(request).await);
    }
    let service = routing.state.aliases();
    service.ready().await?;
    // A session that switched an alias reads through the switch on every gateway.
    if let Some(meta) = crate::session::sent_meta_position(request.headers()) {
        service.wait_folded(meta, routing.state.reads().config().deadline).await?;
    }
    let aliases = service.current();
    if aliases.is_empty() {
        return Ok(next.run(request).await);
    }
    let catalog = routing.state.catalog();
    let view = AliasView { aliases: &aliases, is_index: |name: &str| catalog.read(|catalog| catalog.index(name).is_some()) };
    let mut request = request;
    if names_an_index || multi_search {
        let (parts, body) = request.into_parts();
        let bytes = read_limited(body, routing.state.payload_limit()).await?;
        // A body that is not JSON is left for the handler to refuse in Meilisearch's words.
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if let Some(name) = index_named_as_alias(&method, &path, &json, &aliases) {
            return Err(index_conflict(&name, &aliases).into());
        }
        let rewritten = match multi_search {
            true => rewrite_multi_search(&json, &view)?,
            false => None,
        };
        if let Some((rewritten, named)) = rewritten {
            caller(&parts.extensions).check_multi_search(named.iter().map(String::as_str))?;
            let mut parts = parts;
            parts.headers.remove(header::CONTENT_LENGTH);
            let request = Request::from_parts(parts, Body::from(rewritten.to_string()));
            return Ok(serve_direct(routing, request).await);
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    match route_path(&method, &path, &view) {
        PathRoute::Pass => Ok(next.run(request).await),
        PathRoute::Refuse(error) => Err(error.into()),
        PathRoute::Rewrite { path, index, .. } => {
            caller(request.extensions()).check_indexes([index.as_str()])?;
            let uri = match request.uri().query() {
                Some(query) => format!("{path}?{query}"),
                None => path,
            };
            *request.uri_mut() = uri.parse::<Uri>().map_err(|error| GatewayError::Internal(format!("rewritten path: {error}")))?;
            Ok(serve_direct(routing, request).await)
        }
    }
}

/// Serves a rewritten request with the routes alone. It carries on only what the outer layers
/// put on it (the auth verdict, the request id): the route parameters matched for the
/// original path must not be added to the rewritten path's.
async fn serve_direct(routing: &AliasRouting, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let mut extensions = axum::http::Extensions::new();
    if let Some(context) = parts.extensions.remove::<AuthContext>() {
        extensions.insert(context);
    }
    if let Some(id) = parts.extensions.remove::<RequestId>() {
        extensions.insert(id);
    }
    parts.extensions = extensions;
    routing.direct.clone().oneshot(Request::from_parts(parts, body)).await.expect("routers never fail")
}

/// The auth verdict (the middleware runs inside authentication; fails closed without one).
fn caller(extensions: &axum::http::Extensions) -> AuthContext {
    extensions.get::<AuthContext>().cloned().unwrap_or_else(|| AuthContext::Key {
        key_uid: uuid::Uuid::nil(),
        key_indexes: Vec::new(),
        tenant: None,
        can_create_indexes: false,
    })
}

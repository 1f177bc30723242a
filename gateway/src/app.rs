//! The gateway's router: one table of routes, each a verb on a path pattern with what a caller
//! must present ([`Guard`]) and the handler that answers it. The axum router and the auth
//! middleware's lookup ([`RouteTable`]) are both made from that table, so they cannot drift.

use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::extract::{FromRef, Path, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, Method};
use axum::middleware::from_fn;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::auth::action::Action::{self, *};
use crate::auth::keys_routes;
use crate::auth::{self, Auth, Guard, KeysService, RouteTable};
use crate::request_id;
use crate::routes::{
    admin, aliases, chats, document_edit, document_writes, dynamic_search_rules, experimental, fields, health, indexes, logs, metrics,
    network, reads, render, reshard, settings, swap, task_queue, tasks, topology, ttl, webhooks,
};
use crate::settings::fields::{SettingField, UpdateVerb, FIELDS};
use crate::state::AppState;

/// What the handlers share: the cluster (`State<AppState>`) and the API keys
/// (`State<KeysService>`, for `/keys`).
#[derive(Clone, FromRef)]
pub struct RouterState {
    app: AppState,
    keys: KeysService,
}

/// One row of the route table: a verb on a path pattern (axum's syntax; the segment named
/// `{index_uid}` is the index the request is about), its guard, and its handler.
pub struct Route<S = RouterState> {
    method: Method,
    pattern: String,
    guard: Guard,
    /// `None` for a Meilisearch route Miroir does not serve yet: the guard still applies (as
    /// on Meilisearch, a caller learns nothing before authenticating), then the router has no
    /// handler for it.
    handler: Option<MethodRouter<S>>,
}

impl<S: Clone + Send + Sync + 'static> Route<S> {
    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The same route and guard answered by `handler` (tests use it to observe the verdict a
    /// handler receives).
    pub fn answered_by<H: Handler<T, S>, T: 'static>(self, handler: H) -> Route<S> {
        let handler = Some(on_verb(&self.method, handler));
        Route { handler, ..self }
    }
}

fn on_verb<S: Clone + Send + Sync + 'static, H: Handler<T, S>, T: 'static>(method: &Method, handler: H) -> MethodRouter<S> {
    on(MethodFilter::try_from(method.clone()).expect("the table uses verbs axum routes"), handler)
}

/// A route that takes a key holding every one of `actions`.
fn serve<S: Clone + Send + Sync + 'static, H: Handler<T, S>, T: 'static>(
    method: Method,
    pattern: &str,
    actions: &'static [Action],
    handler: H,
) -> Route<S> {
    let handler = Some(on_verb(&method, handler));
    Route { method, pattern: pattern.to_owned(), guard: Guard::Actions(actions), handler }
}

/// A route open to every caller.
fn public<H: Handler<T, RouterState>, T: 'static>(method: Method, pattern: &str, handler: H) -> Route {
    let handler = Some(on_verb(&method, handler));
    Route { method, pattern: pattern.to_owned(), guard: Guard::Public, handler }
}

/// One of Miroir's admin routes (`/_miroir/…`): the master key only.
fn admin_route<H: Handler<T, RouterState>, T: 'static>(method: Method, path: &str, handler: H) -> Route {
    let handler = Some(on_verb(&method, handler));
    Route { method, pattern: format!("/{}/{path}", auth::routes::MIROIR_ADMIN_PREFIX), guard: Guard::MasterKey, handler }
}

/// Every route, with the actions Meilisearch 1.50's handlers require, in lookup order: like
/// actix, the first pattern matching a path decides, so a literal such as `/documents/fetch`
/// comes before `/documents/{document_id}`. A path in no row answers `404` and a listed path
/// with an unlisted verb `405`, both before any key check (see `auth::layer`).
pub fn routes() -> Vec<Route> {
    use Method as M;
    const DOCUMENTS: &str = "/indexes/{index_uid}/documents";
    const SETTINGS: &str = "/indexes/{index_uid}/settings";
    let mut routes = vec![
        public(M::GET, "/health", health::health),
        // As a node without the `metrics` experimental feature answers: the gateway's own
        // metrics are on the operations listener (`ops_listener`), never on the API port.
        serve(M::GET, "/metrics", &[MetricsGet], metrics::feature_not_enabled),
        serve(M::GET, "/version", &[Version], health::version),
        serve(M::GET, "/stats", &[StatsGet], reads::stats),
        serve(M::GET, "/indexes", &[IndexesGet], indexes::list),
        serve(M::POST, "/indexes", &[IndexesCreate], indexes::create),
        serve(M::GET, "/indexes/{index_uid}", &[IndexesGet], indexes::get),
        serve(M::PATCH, "/indexes/{index_uid}", &[IndexesUpdate], indexes::update),
        serve(M::DELETE, "/indexes/{index_uid}", &[IndexesDelete], indexes::delete),
        serve(M::GET, DOCUMENTS, &[DocumentsGet], reads::list_documents),
        serve(M::POST, DOCUMENTS, &[DocumentsAdd], document_writes::add),
        serve(M::PUT, DOCUMENTS, &[DocumentsAdd], document_writes::update),
        serve(M::DELETE, DOCUMENTS, &[DocumentsDelete], document_writes::clear),
        serve(M::POST, "/indexes/{index_uid}/documents/delete-batch", &[DocumentsDelete], document_writes::delete_batch),
        serve(M::POST, "/indexes/{index_uid}/documents/delete", &[DocumentsDelete], document_writes::delete_by_filter),
        serve(M::POST, "/indexes/{index_uid}/documents/edit", &[DocumentsAll], document_edit::edit),
        serve(M::POST, "/indexes/{index_uid}/documents/fetch", &[DocumentsGet], reads::fetch_documents),
        serve(M::GET, "/indexes/{index_uid}/documents/{document_id}", &[DocumentsGet], reads::get_document),
        serve(M::DELETE, "/indexes/{index_uid}/documents/{document_id}", &[DocumentsDelete], document_writes::delete_one),
        serve(M::GET, "/indexes/{index_uid}/search", &[Search], reads::search_get),
        serve(M::POST, "/indexes/{index_uid}/search", &[Search], reads::search),
        serve(M::POST, "/indexes/{index_uid}/facet-search", &[Search], reads::facet_search),
        serve(M::GET, "/indexes/{index_uid}/similar", &[Search], reads::similar_get),
        serve(M::POST, "/indexes/{index_uid}/similar", &[Search], reads::similar),
        serve(M::GET, SETTINGS, &[SettingsGet], settings::get_all),
        serve(M::PATCH, SETTINGS, &[SettingsUpdate], settings::update_all),
        serve(M::DELETE, SETTINGS, &[SettingsUpdate], settings::reset_all),
    ];
    routes.extend(FIELDS.iter().flat_map(setting_routes));
    routes.extend([
        serve(M::POST, "/indexes/{index_uid}/compact", &[IndexesCompact], indexes::compact),
        serve(M::GET, "/indexes/{index_uid}/stats", &[StatsGet], reads::index_stats),
        serve(M::POST, "/indexes/{index_uid}/fields", &[FieldsPost], fields::post_fields),
        serve(M::GET, "/tasks", &[TasksGet], tasks::list),
        serve(M::DELETE, "/tasks", &[TasksDelete], tasks::delete),
        serve(M::POST, "/tasks/cancel", &[TasksCancel], tasks::cancel),
        serve(M::POST, "/tasks/compact", &[TasksCompact], task_queue::compact),
        serve(M::GET, "/tasks/{task_id}", &[TasksGet], tasks::get),
        serve(M::GET, "/tasks/{task_id}/documents", &[TasksGet], task_queue::documents),
        serve(M::GET, "/batches", &[TasksGet], tasks::list_batches),
        serve(M::GET, "/batches/{batch_id}", &[TasksGet], tasks::get_batch),
    ]);
    routes.extend(api_key_routes());
    routes.extend([
        serve(M::POST, "/multi-search", &[Search], reads::multi_search),
        serve(M::POST, "/swap-indexes", &[IndexesSwap], swap::swap_indexes),
        serve(M::POST, "/dumps", &[DumpsCreate], crate::dumps::create),
        serve(M::POST, "/snapshots", &[SnapshotsCreate], crate::cluster_snapshots::create),
        serve(M::POST, "/logs/stream", &[MetricsGet], logs::stream),
        serve(M::DELETE, "/logs/stream", &[MetricsGet], logs::stop_stream),
        serve(M::POST, "/logs/stderr", &[MetricsGet], logs::stderr),
        serve(M::GET, "/experimental-features", &[ExperimentalGet], experimental::get_features),
        serve(M::PATCH, "/experimental-features", &[ExperimentalUpdate], experimental::patch_features),
        serve(M::POST, "/export", &[Export], crate::export::create),
        serve(M::GET, "/network", &[NetworkGet], network::get_network),
        serve(M::PATCH, "/network", &[NetworkUpdate], network::patch_network),
        serve(M::POST, "/network/control", &[NetworkUpdate], network::network_control),
        serve(M::GET, "/webhooks", &[WebhooksGet], webhooks::list),
        serve(M::POST, "/webhooks", &[WebhooksCreate], webhooks::create),
        serve(M::GET, "/webhooks/{uuid}", &[WebhooksGet], webhooks::get),
        serve(M::PATCH, "/webhooks/{uuid}", &[WebhooksUpdate], webhooks::update),
        serve(M::DELETE, "/webhooks/{uuid}", &[WebhooksDelete], webhooks::delete),
        serve(M::POST, "/dynamic-search-rules", &[DynamicSearchRulesGet], dynamic_search_rules::list),
        serve(M::DELETE, "/dynamic-search-rules", &[DynamicSearchRulesDelete], dynamic_search_rules::clear),
        serve(M::GET, "/dynamic-search-rules/{uid}", &[DynamicSearchRulesGet], dynamic_search_rules::get),
        serve(M::PATCH, "/dynamic-search-rules/{uid}", &[DynamicSearchRulesUpdate], dynamic_search_rules::update),
        serve(M::DELETE, "/dynamic-search-rules/{uid}", &[DynamicSearchRulesDelete], dynamic_search_rules::delete),
        serve(M::POST, "/render-template", &[SettingsGet, DocumentsGet], render::render),
        serve(M::GET, "/chats", &[ChatsGet], chats::list),
        serve(M::GET, "/chats/{workspace_uid}/settings", &[ChatsSettingsGet], chats::settings),
        serve(M::PATCH, "/chats/{workspace_uid}/settings", &[ChatsSettingsUpdate], chats::update_settings),
        serve(M::DELETE, "/chats/{workspace_uid}/settings", &[ChatsSettingsUpdate], chats::settings),
        serve(M::GET, "/chats/{workspace_uid}", &[ChatsGet], chats::get),
        serve(M::DELETE, "/chats/{workspace_uid}", &[ChatsDelete], chats::delete),
        serve(M::POST, "/chats/{workspace_uid}/chat/completions", &[ChatCompletions], chats::completions),
        admin_route(M::GET, "topology", admin::topology),
        admin_route(M::POST, "topology/nodes", topology::add_node),
        admin_route(M::DELETE, "topology/nodes/{node_id}", topology::remove_node),
        admin_route(M::POST, "topology/nodes/{node_id}/drain", topology::drain_node),
        admin_route(M::GET, "status", admin::status),
        admin_route(M::POST, "indexes/{uid}/reshard", reshard::reshard),
        admin_route(M::GET, "indexes/{uid}/reshard", reshard::get),
        admin_route(M::GET, "aliases", aliases::list),
        admin_route(M::GET, "aliases/{name}", aliases::get),
        admin_route(M::PUT, "aliases/{name}", aliases::put),
        admin_route(M::DELETE, "aliases/{name}", aliases::delete),
        admin_route(M::POST, "verify", admin::verify),
        admin_route(M::GET, "indexes/{index_uid}/ttl", ttl::get),
        admin_route(M::PUT, "indexes/{index_uid}/ttl", ttl::set),
        admin_route(M::DELETE, "indexes/{index_uid}/ttl", ttl::delete),
    ]);
    routes
}

/// `/keys`, whose handlers need only the keys (see [`keys_router`]).
fn api_key_routes<S: Clone + Send + Sync + 'static>() -> [Route<S>; 5]
where
    KeysService: FromRef<S>,
{
    use Method as M;
    [
        serve(M::GET, "/keys", &[KeysGet], keys_routes::list),
        serve(M::POST, "/keys", &[KeysCreate], keys_routes::create),
        serve(M::GET, "/keys/{key}", &[KeysGet], keys_routes::get_one),
        serve(M::PATCH, "/keys/{key}", &[KeysUpdate], keys_routes::update),
        serve(M::DELETE, "/keys/{key}", &[KeysDelete], keys_routes::delete),
    ]
}

/// The `/keys` routes of [`routes`] alone, for an app embedding the auth middleware with
/// handlers of its own (see [`auth::mount`]).
pub fn keys_router(keys: KeysService) -> Router {
    api_key_routes().into_iter().fold(Router::new(), add_handler).with_state(keys)
}

/// Adds `route`'s handler, if it has one, to `router`.
fn add_handler<S: Clone + Send + Sync + 'static>(router: Router<S>, route: Route<S>) -> Router<S> {
    match route.handler {
        Some(handler) => router.route(&route.pattern, handler),
        None => router,
    }
}

/// `GET`, the update verb (`PUT` or `PATCH`, as Meilisearch has it) and `DELETE` of one
/// setting's sub-route, answered by the sub-route handlers, which take the setting's route
/// name as their second path parameter.
fn setting_routes(field: &'static SettingField) -> [Route; 3] {
    let pattern = format!("/indexes/{{index_uid}}/settings/{}", field.route);
    let with_setting = move |uid: String| Path((uid, field.route.to_owned()));
    let get_one = move |state: State<AppState>, Path(uid): Path<String>| settings::get_one(state, with_setting(uid));
    let update_one =
        move |state: State<AppState>, caller: Auth, Path(uid): Path<String>, method: Method, headers: HeaderMap, body: Body| {
            settings::update_one(state, caller, with_setting(uid), method, headers, body)
        };
    let update_verb = match field.verb {
        UpdateVerb::Put => Method::PUT,
        UpdateVerb::Patch => Method::PATCH,
    };
    [
        serve(Method::GET, &pattern, &[SettingsGet], get_one),
        serve(update_verb, &pattern, &[SettingsUpdate], update_one),
        serve(Method::DELETE, &pattern, &[SettingsUpdate], update_one),
    ]
}

/// The auth middleware's lookup of `routes`.
fn table_of<S>(routes: &[Route<S>]) -> RouteTable {
    RouteTable::new(routes.iter().map(|route| (route.pattern.clone(), route.method.clone(), route.guard)))
}

/// The guards of [`routes`], as the auth middleware looks them up.
pub fn route_table() -> &'static Arc<RouteTable> {
    static TABLE: LazyLock<Arc<RouteTable>> = LazyLock::new(|| Arc::new(table_of(&routes())));
    &TABLE
}

/// The router the gateway process serves: [`routes`] behind the auth middleware (Meilisearch's
/// API keys and tenant tokens, the master key for `/_miroir`), every request counted for
/// `/metrics` and given a request id (`request_id`).
pub fn authenticated_router(state: AppState, keys: KeysService) -> Router {
    router_for(routes(), state, keys)
}

/// `routes` served behind the auth middleware, which guards each with its own guard.
pub fn router_for(routes: Vec<Route>, state: AppState, keys: KeysService) -> Router {
    // Install the recorder before the first request is counted.
    metrics::prometheus();
    let table = Arc::new(table_of(&routes));
    let router = routes.into_iter().fold(Router::new(), add_handler).with_state(RouterState { app: state.clone(), keys: keys.clone() });
    let router = crate::miroir_headers::layer(router, state.clone());
    let router = crate::aliases::layer(router, state);
    auth::guard(router, table, keys).layer(from_fn(metrics::record_request)).layer(from_fn(request_id::with_request_id))
}

//! Which action each Meilisearch route requires, as Meilisearch 1.50's route handlers declare
//! it, plus Miroir's own admin prefix.

use axum::http::Method;

use super::action::Action;
use Action::*;

/// What a request must present to reach a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePolicy {
    /// No authentication (`GET /health`).
    Public,
    /// Miroir's admin routes (`/_miroir/…`): the master key only.
    MasterKey,
    /// A key holding every listed action (one, or two for `/render-template`), checked in
    /// order; `index_uid` is the route's `{index_uid}` segment when it has one.
    Actions { actions: &'static [Action], index_uid: Option<String> },
}

/// Miroir's admin prefix.
pub const MIROIR_ADMIN_PREFIX: &str = "_miroir";

type Verbs = &'static [(Method, &'static [Action])];

/// Path patterns (`{x}` matches one segment; the segment named `{index_uid}` is the index)
/// with their verbs. Like actix, the first pattern matching the path decides: a literal such
/// as `/documents/fetch` is listed before `/documents/{document_id}`.
const ROUTES: &[(&str, Verbs)] = &[
    ("/version", &[(Method::GET, &[Version])]),
    ("/stats", &[(Method::GET, &[StatsGet])]),
    ("/indexes", &[(Method::GET, &[IndexesGet]), (Method::POST, &[IndexesCreate])]),
    ("/indexes/{index_uid}", &[(Method::GET, &[IndexesGet]), (Method::PATCH, &[IndexesUpdate]), (Method::DELETE, &[IndexesDelete])]),
    (
        "/indexes/{index_uid}/documents",
        &[
            (Method::GET, &[DocumentsGet]),
            (Method::POST, &[DocumentsAdd]),
            (Method::PUT, &[DocumentsAdd]),
            (Method::DELETE, &[DocumentsDelete]),
        ],
    ),
    ("/indexes/{index_uid}/documents/delete-batch", &[(Method::POST, &[DocumentsDelete])]),
    ("/indexes/{index_uid}/documents/delete", &[(Method::POST, &[DocumentsDelete])]),
    ("/indexes/{index_uid}/documents/edit", &[(Method::POST, &[DocumentsAll])]),
    ("/indexes/{index_uid}/documents/fetch", &[(Method::POST, &[DocumentsGet])]),
    ("/indexes/{index_uid}/documents/{document_id}", &[(Method::GET, &[DocumentsGet]), (Method::DELETE, &[DocumentsDelete])]),
    ("/indexes/{index_uid}/search", &[(Method::GET, &[Search]), (Method::POST, &[Search])]),
    ("/indexes/{index_uid}/facet-search", &[(Method::POST, &[Search])]),
    ("/indexes/{index_uid}/similar", &[(Method::GET, &[Search]), (Method::POST, &[Search])]),
    (
        "/indexes/{index_uid}/settings",
        &[(Method::GET, &[SettingsGet]), (Method::PATCH, &[SettingsUpdate]), (Method::DELETE, &[SettingsUpdate])],
    ),
    ("/indexes/{index_uid}/settings/filterable-attributes", SETTING_PUT),
    ("/indexes/{index_uid}/settings/sortable-attributes", SETTING_PUT),
    ("/indexes/{index_uid}/settings/displayed-attributes", SETTING_PUT),
    ("/indexes/{index_uid}/settings/typo-tolerance", SETTING_PATCH),
    ("/indexes/{index_uid}/settings/searchable-attributes", SETTING_PUT),
    ("/indexes/{index_uid}/settings/stop-words", SETTING_PUT),
    ("/indexes/{index_uid}/settings/non-separator-tokens", SETTING_PUT),
    ("/indexes/{index_uid}/settings/separator-tokens", SETTING_PUT),
    ("/indexes/{index_uid}/settings/dictionary", SETTING_PUT),
    ("/indexes/{index_uid}/settings/synonyms", SETTING_PUT),
    ("/indexes/{index_uid}/settings/distinct-attribute", SETTING_PUT),
    ("/indexes/{index_uid}/settings/proximity-precision", SETTING_PUT),
    ("/indexes/{index_uid}/settings/localized-attributes", SETTING_PUT),
    ("/indexes/{index_uid}/settings/ranking-rules", SETTING_PUT),
    ("/indexes/{index_uid}/settings/faceting", SETTING_PATCH),
    ("/indexes/{index_uid}/settings/pagination", SETTING_PATCH),
    ("/indexes/{index_uid}/settings/embedders", SETTING_PATCH),
    ("/indexes/{index_uid}/settings/search-cutoff-ms", SETTING_PUT),
    ("/indexes/{index_uid}/settings/facet-search", SETTING_PUT),
    ("/indexes/{index_uid}/settings/prefix-search", SETTING_PUT),
    ("/indexes/{index_uid}/settings/chat", SETTING_PATCH),
    ("/indexes/{index_uid}/settings/foreign-keys", SETTING_PUT),
    ("/indexes/{index_uid}/compact", &[(Method::POST, &[IndexesCompact])]),
    ("/indexes/{index_uid}/stats", &[(Method::GET, &[StatsGet])]),
    ("/indexes/{index_uid}/fields", &[(Method::POST, &[FieldsPost])]),
    ("/tasks", &[(Method::GET, &[TasksGet]), (Method::DELETE, &[TasksDelete])]),
    ("/tasks/cancel", &[(Method::POST, &[TasksCancel])]),
    ("/tasks/compact", &[(Method::POST, &[TasksCompact])]),
    ("/tasks/{task_id}", &[(Method::GET, &[TasksGet])]),
    ("/tasks/{task_id}/documents", &[(Method::GET, &[TasksGet])]),
    ("/batches", &[(Method::GET, &[TasksGet])]),
    ("/batches/{batch_id}", &[(Method::GET, &[TasksGet])]),
    ("/keys", &[(Method::POST, &[KeysCreate]), (Method::GET, &[KeysGet])]),
    ("/keys/{key}", &[(Method::GET, &[KeysGet]), (Method::PATCH, &[KeysUpdate]), (Method::DELETE, &[KeysDelete])]),
    ("/multi-search", &[(Method::POST, &[Search])]),
    ("/swap-indexes", &[(Method::POST, &[IndexesSwap])]),
    ("/dumps", &[(Method::POST, &[DumpsCreate])]),
    ("/snapshots", &[(Method::POST, &[SnapshotsCreate])]),
    ("/metrics", &[(Method::GET, &[MetricsGet])]),
    ("/logs/stream", &[(Method::POST, &[MetricsGet]), (Method::DELETE, &[MetricsGet])]),
    ("/logs/stderr", &[(Method::POST, &[MetricsGet])]),
    ("/experimental-features", &[(Method::GET, &[ExperimentalGet]), (Method::PATCH, &[ExperimentalUpdate])]),
    ("/export", &[(Method::POST, &[Export])]),
    ("/network", &[(Method::GET, &[NetworkGet]), (Method::PATCH, &[NetworkUpdate])]),
    ("/network/control", &[(Method::POST, &[NetworkUpdate])]),
    ("/webhooks", &[(Method::GET, &[WebhooksGet]), (Method::POST, &[WebhooksCreate])]),
    ("/webhooks/{uuid}", &[(Method::GET, &[WebhooksGet]), (Method::PATCH, &[WebhooksUpdate]), (Method::DELETE, &[WebhooksDelete])]),
    ("/dynamic-search-rules", &[(Method::POST, &[DynamicSearchRulesGet]), (Method::DELETE, &[DynamicSearchRulesDelete])]),
    (
        "/dynamic-search-rules/{uid}",
        &[
            (Method::GET, &[DynamicSearchRulesGet]),
            (Method::PATCH, &[DynamicSearchRulesUpdate]),
            (Method::DELETE, &[DynamicSearchRulesDelete]),
        ],
    ),
    ("/render-template", &[(Method::POST, &[SettingsGet, DocumentsGet])]),
    ("/chats", &[(Method::GET, &[ChatsGet])]),
    (
        "/chats/{workspace_uid}/settings",
        &[(Method::GET, &[ChatsSettingsGet]), (Method::PATCH, &[ChatsSettingsUpdate]), (Method::DELETE, &[ChatsSettingsUpdate])],
    ),
    ("/chats/{workspace_uid}", &[(Method::GET, &[ChatsGet]), (Method::DELETE, &[ChatsDelete])]),
    ("/chats/{workspace_uid}/chat/completions", &[(Method::POST, &[ChatCompletions])]),
];

const SETTING_PUT: Verbs = &[(Method::GET, &[SettingsGet]), (Method::PUT, &[SettingsUpdate]), (Method::DELETE, &[SettingsUpdate])];
const SETTING_PATCH: Verbs = &[(Method::GET, &[SettingsGet]), (Method::PATCH, &[SettingsUpdate]), (Method::DELETE, &[SettingsUpdate])];

/// Path segments, ignoring empty ones (Meilisearch trims trailing slashes and merges repeated
/// ones before routing).
fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The policy of `method path` (path without query string). `None` for paths Meilisearch
/// does not serve and for a verb the matched path does not accept.
pub fn route_policy(method: &Method, path: &str) -> Option<RoutePolicy> {
    let parts = segments(path);
    match parts.as_slice() {
        ["health"] if method == Method::GET => return Some(RoutePolicy::Public),
        [first, ..] if *first == MIROIR_ADMIN_PREFIX => return Some(RoutePolicy::MasterKey),
        _ => {}
    }
    for (pattern, verbs) in ROUTES {
        let Some(index_uid) = match_pattern(pattern, &parts) else { continue };
        return verbs.iter().find(|(verb, _)| verb == method).map(|(_, actions)| RoutePolicy::Actions { actions, index_uid });
    }
    None
}

/// Whether Meilisearch (or Miroir's admin prefix) serves `path` with some verb: a request
/// whose verb [`route_policy`] does not know is then `405`, else `404`.
pub fn serves_path(path: &str) -> bool {
    let parts = segments(path);
    matches!(parts.as_slice(), ["health"] | [MIROIR_ADMIN_PREFIX, ..])
        || ROUTES.iter().any(|(pattern, _)| match_pattern(pattern, &parts).is_some())
}

/// `Some(index_uid segment if any)` when `parts` fits `pattern`.
fn match_pattern(pattern: &str, parts: &[&str]) -> Option<Option<String>> {
    let expected = segments(pattern);
    if expected.len() != parts.len() {
        return None;
    }
    let mut index_uid = None;
    for (want, got) in expected.iter().zip(parts) {
        if *want == "{index_uid}" {
            index_uid = Some((*got).to_owned());
        } else if !(want.starts_with('{') || want == got) {
            return None;
        }
    }
    Some(index_uid)
}

/// Every (method, pattern, actions) row, for tests and documentation.
pub fn table() -> impl Iterator<Item = (&'static Method, &'static str, &'static [Action])> {
    ROUTES.iter().flat_map(|(pattern, verbs)| verbs.iter().map(move |(m, a)| (m, *pattern, *a)))
}

#[cfg(test)]
mod tests;

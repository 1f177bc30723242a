use super::*;
use crate::app::route_table;
use proptest::prelude::*;
use Action::*;

fn route_policy(method: &Method, path: &str) -> Option<RoutePolicy> {
    route_table().policy(method, path)
}

/// Whether some verb reaches `path`: no row uses `OPTIONS`, so any answer but `NotFound` means
/// the path is known.
fn serves_path(path: &str) -> bool {
    route_table().route(&Method::OPTIONS, path) != Routing::NotFound
}

fn actions(method: Method, path: &str) -> Option<(&'static [Action], Option<String>)> {
    match route_policy(&method, path)? {
        RoutePolicy::Actions { actions, index_uid } => Some((actions, index_uid)),
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn meilisearch_route_actions() {
    let cases: &[(Method, &str, &[Action], Option<&str>)] = &[
        (Method::GET, "/indexes", &[IndexesGet], None),
        (Method::POST, "/indexes", &[IndexesCreate], None),
        (Method::PATCH, "/indexes/movies", &[IndexesUpdate], Some("movies")),
        (Method::POST, "/indexes/movies/documents", &[DocumentsAdd], Some("movies")),
        (Method::PUT, "/indexes/movies/documents", &[DocumentsAdd], Some("movies")),
        (Method::DELETE, "/indexes/movies/documents", &[DocumentsDelete], Some("movies")),
        (Method::POST, "/indexes/movies/documents/fetch", &[DocumentsGet], Some("movies")),
        (Method::POST, "/indexes/movies/documents/edit", &[DocumentsAll], Some("movies")),
        (Method::GET, "/indexes/movies/documents/42", &[DocumentsGet], Some("movies")),
        (Method::POST, "/indexes/movies/search", &[Search], Some("movies")),
        (Method::GET, "/indexes/movies/search", &[Search], Some("movies")),
        (Method::POST, "/indexes/movies/facet-search", &[Search], Some("movies")),
        (Method::POST, "/indexes/movies/similar", &[Search], Some("movies")),
        (Method::PUT, "/indexes/movies/settings/filterable-attributes", &[SettingsUpdate], Some("movies")),
        (Method::PATCH, "/indexes/movies/settings/typo-tolerance", &[SettingsUpdate], Some("movies")),
        (Method::GET, "/indexes/movies/settings", &[SettingsGet], Some("movies")),
        (Method::GET, "/indexes/movies/stats", &[StatsGet], Some("movies")),
        (Method::POST, "/multi-search", &[Search], None),
        (Method::POST, "/swap-indexes", &[IndexesSwap], None),
        (Method::GET, "/tasks/12", &[TasksGet], None),
        (Method::POST, "/tasks/cancel", &[TasksCancel], None),
        (Method::DELETE, "/tasks", &[TasksDelete], None),
        (Method::GET, "/batches/3", &[TasksGet], None),
        (Method::GET, "/keys", &[KeysGet], None),
        (Method::POST, "/keys", &[KeysCreate], None),
        (Method::PATCH, "/keys/abc", &[KeysUpdate], None),
        (Method::DELETE, "/keys/abc", &[KeysDelete], None),
        (Method::GET, "/version", &[Version], None),
        (Method::GET, "/stats", &[StatsGet], None),
        (Method::POST, "/dumps", &[DumpsCreate], None),
        (Method::POST, "/snapshots", &[SnapshotsCreate], None),
        (Method::PATCH, "/experimental-features", &[ExperimentalUpdate], None),
        (Method::POST, "/render-template", &[SettingsGet, DocumentsGet], None),
        (Method::POST, "/chats/ws/chat/completions", &[ChatCompletions], None),
        (Method::POST, "/dynamic-search-rules", &[DynamicSearchRulesGet], None),
    ];
    for (method, path, expected, index) in cases {
        let (got, got_index) = actions(method.clone(), path).unwrap_or_else(|| panic!("{method} {path}"));
        assert_eq!((got, got_index.as_deref()), (*expected, *index), "{method} {path}");
    }
}

#[test]
fn special_and_unknown_routes() {
    assert_eq!(route_policy(&Method::GET, "/health"), Some(RoutePolicy::Public));
    // Meilisearch's `metrics.get` route (Miroir's own metrics are on the operations listener).
    assert_eq!(actions(Method::GET, "/metrics").map(|(actions, _)| actions), Some(&[MetricsGet][..]));
    assert_eq!(route_policy(&Method::GET, "/_miroir/topology"), Some(RoutePolicy::MasterKey));
    assert_eq!(route_policy(&Method::POST, "/_miroir"), Some(RoutePolicy::MasterKey));
    assert_eq!(route_policy(&Method::GET, "/nope"), None);
    assert_eq!(route_policy(&Method::PUT, "/indexes/movies"), None, "known path, unknown verb");
    assert_eq!(route_policy(&Method::GET, "/indexes/movies/documents/fetch"), None, "the literal path decides, like actix");
    assert_eq!(actions(Method::GET, "/indexes/movies/").unwrap().1.as_deref(), Some("movies"), "trailing slash");
}

/// A concrete path for `pattern`: each `{name}` segment becomes `name`.
fn path_of(pattern: &str, index: &str) -> String {
    pattern.replace("{index_uid}", index).replace(['{', '}'], "")
}

/// No row is shadowed by an earlier pattern: each one decides for its own paths.
#[test]
fn every_row_is_reachable() {
    for (method, pattern, guard) in route_table().rows() {
        let path = path_of(pattern, "idx");
        let policy = route_policy(method, &path).unwrap_or_else(|| panic!("{method} {pattern}"));
        match (guard, policy) {
            (Guard::Actions(expected), RoutePolicy::Actions { actions, index_uid }) => {
                assert_eq!(actions, expected, "{method} {pattern}");
                assert_eq!(index_uid.is_some(), pattern.contains("{index_uid}"), "{method} {pattern}");
            }
            (Guard::Public, RoutePolicy::Public) | (Guard::MasterKey, RoutePolicy::MasterKey) => {}
            (guard, policy) => panic!("{method} {pattern}: {guard:?} gave {policy:?}"),
        }
    }
}

proptest! {
    #[test]
    fn index_routes_report_their_index(uid in "[a-zA-Z0-9_-]{1,20}", tail in prop::sample::select(vec!["", "/documents", "/search", "/settings/synonyms", "/stats"])) {
        let path = format!("/indexes/{uid}{tail}");
        let (_, index) = actions(Method::GET, &path).unwrap();
        prop_assert_eq!(index, Some(uid));
    }
}

#[test]
fn served_paths_tell_405_from_404() {
    for path in
        ["/health", "/indexes", "/indexes/movies/search", "/keys/abc", "/_miroir/anything/here", "/indexes/movies/settings/stop-words/"]
    {
        assert!(serves_path(path), "{path}");
    }
    for path in ["/", "/nope", "/indexes/movies/unknown", "/indexes/movies/settings/stop-words/extra", "/keys/a/b"] {
        assert!(!serves_path(path), "{path}");
    }
    // A verb the table does not list for a served path: 405, decided before any key check.
    assert!(route_policy(&Method::HEAD, "/indexes").is_none() && serves_path("/indexes"));
    assert!(route_policy(&Method::PATCH, "/indexes/movies/settings/stop-words").is_none());
}

proptest! {
    /// Every path with a policy for some verb is a served path.
    #[test]
    fn paths_with_a_policy_are_served(index in "[a-z]{1,8}", row in 0usize..200) {
        let rows: Vec<_> = route_table().rows().collect();
        let (method, pattern, _) = rows[row % rows.len()];
        let path = path_of(pattern, &index);
        prop_assert!(route_policy(method, &path).is_some());
        prop_assert!(serves_path(&path));
    }
}

use super::*;
use miroir_schemas::meta_log::aliases::AliasChange;
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeSet;
use time::OffsetDateTime;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

/// Aliases folded from `sets` (each `(name, targets)`), and which names are indexes.
fn world() -> impl Strategy<Value = (Aliases, BTreeSet<String>)> {
    let set = (prop::sample::select(NAMES.to_vec()), prop::collection::vec(prop::sample::select(NAMES.to_vec()), 1..3));
    (prop::collection::vec(set, 0..6), prop::collection::btree_set(prop::sample::select(NAMES.to_vec()), 0..3)).prop_map(
        |(sets, indexes)| {
            let mut aliases = Aliases::default();
            for (name, targets) in sets {
                let at = OffsetDateTime::UNIX_EPOCH;
                aliases.apply(&AliasChange::AliasSet {
                    name: name.to_owned(),
                    indexes: targets.into_iter().map(str::to_owned).collect(),
                    at,
                });
            }
            (aliases, indexes.into_iter().map(str::to_owned).collect())
        },
    )
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
}

fn tail() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "/search", "/documents", "/documents/fetch", "/documents/7", "/settings", "/stats", "/facet-search"])
}

proptest! {
    /// An index is always itself; an alias of one index is served as that index on the same
    /// sub-route, except for index-level changes; an alias of several is never rewritten.
    #[test]
    fn a_path_resolves_to_one_index_or_is_refused((aliases, indexes) in world(), name in prop::sample::select(NAMES.to_vec()), method in method(), tail in tail()) {
        let view = AliasView { aliases: &aliases, is_index: |name: &str| indexes.contains(name) };
        let route = route_path(&method, &format!("/indexes/{name}{tail}"), &view);
        let alias = aliases.get(name).filter(|_| !indexes.contains(name));
        match (alias, route) {
            (None, PathRoute::Pass) => {}
            (Some(alias), PathRoute::Rewrite { path, index, .. }) => {
                prop_assert_eq!(alias.indexes.len(), 1);
                prop_assert_eq!(&alias.indexes[0], &index);
                prop_assert_eq!(path, format!("/indexes/{index}{tail}"));
                prop_assert!(aliases.get(&index).is_none(), "one step");
                prop_assert!(!tail.is_empty() || method == Method::GET);
            }
            (Some(alias), PathRoute::Refuse(error)) => {
                prop_assert!(alias.indexes.len() > 1 || (tail.is_empty() && method != Method::GET));
                prop_assert!(error.code == NOT_WRITABLE_CODE || error.code == SEVERAL_INDEXES_CODE);
            }
            (alias, route) => prop_assert!(false, "{alias:?} gave {route:?}"),
        }
    }

    /// Federated multi-search: queries naming an alias become one query per index, in place;
    /// others are kept as they were; no query names an alias afterwards.
    #[test]
    fn multi_search_queries_name_indexes_only((aliases, indexes) in world(), names in prop::collection::vec(prop::sample::select(NAMES.to_vec()), 1..5), federated in any::<bool>()) {
        let view = AliasView { aliases: &aliases, is_index: |name: &str| indexes.contains(name) };
        let queries: Vec<Value> = names.iter().enumerate().map(|(i, name)| json!({"indexUid": name, "q": i})).collect();
        let mut body = json!({"queries": queries});
        if federated {
            body["federation"] = json!({});
        }
        let expected: Vec<Value> = names.iter().enumerate().flat_map(|(i, name)| {
            let targets = view.targets(name).map_or_else(|| vec![name.to_string()], <[String]>::to_vec);
            targets.into_iter().map(move |index| json!({"indexUid": index, "q": i}))
        }).collect();
        let several = names.iter().any(|name| view.targets(name).is_some_and(|targets| targets.len() > 1));
        match rewrite_multi_search(&body, &view) {
            Ok(None) => prop_assert!(names.iter().all(|name| view.targets(name).is_none())),
            Ok(Some((rewritten, named))) => {
                prop_assert!(federated || !several);
                prop_assert_eq!(&rewritten["queries"], &Value::Array(expected));
                prop_assert!(named.iter().all(|name| view.targets(name).is_some()));
                prop_assert_eq!(rewritten.get("federation").is_some(), federated);
            }
            Err(error) => {
                prop_assert!(!federated && several);
                prop_assert_eq!(error.code.as_str(), SEVERAL_INDEXES_CODE);
            }
        }
    }
}

#[test]
fn no_index_takes_an_alias_name() {
    let mut aliases = Aliases::default();
    let at = OffsetDateTime::UNIX_EPOCH;
    aliases.apply(&AliasChange::AliasSet { name: "products".into(), indexes: vec!["products_v1".into()], at });
    let named = |method: &Method, path: &str, body: Value| index_named_as_alias(method, path, &body, &aliases);
    assert_eq!(named(&Method::POST, "/indexes", json!({"uid": "products"})), Some("products".into()));
    assert_eq!(named(&Method::POST, "/indexes", json!({"uid": "other"})), None);
    assert_eq!(named(&Method::PATCH, "/indexes/products_v1", json!({"uid": "products"})), Some("products".into()));
    assert_eq!(named(&Method::POST, "/swap-indexes", json!([{"indexes": ["x", "products"], "rename": true}])), Some("products".into()));
    assert_eq!(
        named(&Method::POST, "/swap-indexes", json!([{"indexes": ["x", "products"]}])),
        None,
        "a swap without rename names no index"
    );
    assert!(may_name_an_index(&Method::PATCH, "/indexes/x") && !may_name_an_index(&Method::PATCH, "/indexes/x/settings"));
    let error = index_conflict("products", &aliases);
    assert_eq!((error.code.as_str(), error.http_status), (CONFLICT_CODE, 409));
    assert_eq!(error.message, "`products` is an alias (of `products_v1`); an index cannot have an alias's name. Delete the alias first.");
}

#[test]
fn refusals_say_why() {
    let mut aliases = Aliases::default();
    let at = OffsetDateTime::UNIX_EPOCH;
    aliases.apply(&AliasChange::AliasSet { name: "one".into(), indexes: vec!["x".into()], at });
    aliases.apply(&AliasChange::AliasSet { name: "all".into(), indexes: vec!["x".into(), "y".into()], at });
    let view = AliasView { aliases: &aliases, is_index: |name: &str| ["x", "y"].contains(&name) };
    let refused = |method: Method, path: &str| match route_path(&method, path, &view) {
        PathRoute::Refuse(error) => error.message,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(Method::DELETE, "/indexes/one"),
        "`one` is an alias: DELETE /indexes/one would change the index behind it. Name the index itself."
    );
    assert_eq!(
        refused(Method::POST, "/indexes/all/documents"),
        "`all` is an alias of several indexes (`x`, `y`), which takes no writes. Write to one of the indexes."
    );
    assert!(refused(Method::POST, "/indexes/all/search")
        .starts_with("`all` is an alias of several indexes (`x`, `y`): only a federated multi-search"));
    assert_eq!(
        route_path(&Method::POST, "/indexes/one/documents", &view),
        PathRoute::Rewrite { path: "/indexes/x/documents".into(), alias: "one".into(), index: "x".into() }
    );
    assert_eq!(route_path(&Method::GET, "/indexes/x/search", &view), PathRoute::Pass);
    assert_eq!(index_segment("/indexes"), None);
    assert_eq!(index_segment("/indexes/a"), Some(("a", "")));
}

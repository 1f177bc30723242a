//! How the auth middleware finds a request's route: a [`RouteTable`] of path patterns, verbs
//! and [`Guard`]s, matched as actix-web (Meilisearch's router) matches them. The table itself
//! is declared once, with each route's handler, in [`crate::app`].

use axum::http::Method;

use super::action::Action;

/// What a caller must present to reach a route, as the route table declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// No authentication (`GET /health`).
    Public,
    /// Miroir's admin routes (`/_miroir/…`): the master key only.
    MasterKey,
    /// A key holding every listed action (one, or two for `/render-template`), checked in order.
    Actions(&'static [Action]),
}

/// What a request must present to reach its route: the route's [`Guard`] with the index
/// the request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutePolicy {
    /// No authentication (`GET /health`).
    Public,
    /// Miroir's admin routes (`/_miroir/…`): the master key only.
    MasterKey,
    /// A key holding every listed action, checked in order; `index_uid` is the route's
    /// `{index_uid}` segment when it has one.
    Actions { actions: &'static [Action], index_uid: Option<String> },
}

/// Miroir's admin prefix. Every path under it takes the master key, also the ones Miroir does
/// not serve, so that other callers learn nothing about it.
pub const MIROIR_ADMIN_PREFIX: &str = "_miroir";

/// Where a request leads, decided before any key is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routing {
    /// A route with this verb: the request must pass the policy.
    Guarded(RoutePolicy),
    /// A known path, but not with this verb: `405` with an empty body.
    MethodNotAllowed,
    /// No route has this path: `404` with an empty body.
    NotFound,
}

/// One row: a verb on a path pattern and its guard.
#[derive(Debug, Clone)]
struct Row {
    pattern: String,
    segments: Vec<Segment>,
    method: Method,
    guard: Guard,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{index_uid}`: any one segment, the index the request is about.
    IndexUid,
    /// `{anything_else}`: any one segment.
    Capture,
}

/// Every route's pattern, verb and guard, in lookup order.
#[derive(Debug, Clone)]
pub struct RouteTable {
    rows: Vec<Row>,
}

impl RouteTable {
    /// `rows` are (pattern, verb, guard). Patterns use axum's syntax: `{x}` matches one
    /// segment, and the segment named `{index_uid}` is the index. Like actix, the first pattern
    /// matching a path decides, so a literal such as `/documents/fetch` comes before
    /// `/documents/{document_id}`.
    ///
    /// Panics on a row under the admin prefix whose guard is not the master key: the lookup
    /// gives that prefix to the master key whatever the row says.
    pub fn new(rows: impl IntoIterator<Item = (String, Method, Guard)>) -> RouteTable {
        let rows = rows
            .into_iter()
            .map(|(pattern, method, guard)| {
                let segments: Vec<Segment> = segments(&pattern)
                    .into_iter()
                    .map(|segment| match segment {
                        "{index_uid}" => Segment::IndexUid,
                        capture if capture.starts_with('{') => Segment::Capture,
                        literal => Segment::Literal(literal.to_owned()),
                    })
                    .collect();
                let admin = matches!(segments.first(), Some(Segment::Literal(first)) if first == MIROIR_ADMIN_PREFIX);
                assert!(!admin || guard == Guard::MasterKey, "{method} {pattern}: admin routes take the master key");
                Row { pattern, segments, method, guard }
            })
            .collect();
        RouteTable { rows }
    }

    /// Where `method path` (path without query string) leads.
    pub fn route(&self, method: &Method, path: &str) -> Routing {
        let parts = segments(path);
        if parts.first() == Some(&MIROIR_ADMIN_PREFIX) {
            return Routing::Guarded(RoutePolicy::MasterKey);
        }
        let Some((first, index_uid)) = self.rows.iter().find_map(|row| Some((row, row.matches(&parts)?))) else {
            return Routing::NotFound;
        };
        let same_path = self.rows.iter().filter(|row| row.pattern == first.pattern);
        match same_path.into_iter().find(|row| row.method == method) {
            None => Routing::MethodNotAllowed,
            Some(row) => Routing::Guarded(match row.guard {
                Guard::Public => RoutePolicy::Public,
                Guard::MasterKey => RoutePolicy::MasterKey,
                Guard::Actions(actions) => RoutePolicy::Actions { actions, index_uid },
            }),
        }
    }

    /// The policy of `method path`; `None` when the path is unknown or has no such verb.
    pub fn policy(&self, method: &Method, path: &str) -> Option<RoutePolicy> {
        match self.route(method, path) {
            Routing::Guarded(policy) => Some(policy),
            Routing::MethodNotAllowed | Routing::NotFound => None,
        }
    }

    /// Every (verb, pattern, guard) row, in lookup order.
    pub fn rows(&self) -> impl Iterator<Item = (&Method, &str, Guard)> {
        self.rows.iter().map(|row| (&row.method, row.pattern.as_str(), row.guard))
    }
}

impl Row {
    /// `Some(index_uid segment if any)` when `parts` fits the pattern.
    fn matches(&self, parts: &[&str]) -> Option<Option<String>> {
        if self.segments.len() != parts.len() {
            return None;
        }
        let mut index_uid = None;
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::IndexUid => index_uid = Some((*part).to_owned()),
                Segment::Capture => {}
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
            }
        }
        Some(index_uid)
    }
}

/// Path segments, ignoring empty ones (Meilisearch trims trailing slashes and merges repeated
/// ones before routing).
fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests;

//! What handlers do with an [`AuthContext`] once the middleware let the request in: the
//! per-index checks and tenant-token filters Meilisearch applies inside its route handlers.
//!
//! * `/indexes/{uid}/search`, `/facet-search`, `/similar`: [`AuthContext::restrict_search`]
//!   on the parsed request before planning the fan-out.
//! * `/multi-search` (federated or not): [`AuthContext::restrict_multi_search`] after the
//!   body is validated.
//! * `/swap-indexes`, `/render-template`: [`AuthContext::check_indexes`] on every named index.
//! * `/tasks`, `/batches`: [`AuthContext::task_visible`] per task; `/stats`, `GET /indexes`:
//!   [`AuthContext::is_index_authorized`] per index (hidden indexes still count in the
//!   database size, as in Meilisearch).
//! * writes that may create an index: [`AuthContext::allow_index_creation`].

use miroir_schemas::error::ResponseError;
use serde_json::{Map, Value};

use super::authorize::{query_not_authorized, AuthContext};

impl AuthContext {
    /// ANDs the tenant token's filter for `index_uid` into a search request's `filter`
    /// (a `null` filter counts as none). Without a tenant rule the request is unchanged.
    pub fn restrict_search(&self, index_uid: &str, request: &mut Map<String, Value>) {
        let Some(rule) = self.rule_filter(index_uid) else { return };
        let user = request.remove("filter").filter(|filter| !filter.is_null());
        if let Some(fused) = super::tenant::fuse_filters(user, Some(rule)) {
            request.insert("filter".to_owned(), fused);
        }
    }

    /// `/multi-search`: refuses the first query whose `indexUid` the credentials do not allow
    /// ("Inside `.queries[i]`: The provided API key is invalid."), then restricts every query
    /// with its index's tenant filter. Queries without a string `indexUid` are left to the
    /// body validation, which runs first.
    pub fn restrict_multi_search(&self, body: &mut Map<String, Value>) -> Result<(), ResponseError> {
        let Some(Value::Array(queries)) = body.get_mut("queries") else { return Ok(()) };
        for (position, query) in queries.iter_mut().enumerate() {
            let Some(query) = query.as_object_mut() else { continue };
            let Some(index_uid) = query.get("indexUid").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            if !self.is_index_authorized(&index_uid) {
                return Err(query_not_authorized(position));
            }
            self.restrict_search(&index_uid, query);
        }
        Ok(())
    }

    /// Whether `/tasks` and `/batches` show a task: with access to every index, all tasks;
    /// otherwise only tasks of a kind tied to exactly one index (not swaps, dumps, snapshots,
    /// task cancelations or deletions, …) whose indexes are all allowed.
    pub fn task_visible<'a>(&self, tied_to_one_index: bool, index_uids: impl IntoIterator<Item = &'a str>) -> bool {
        self.all_indexes_authorized() || (tied_to_one_index && index_uids.into_iter().all(|uid| self.is_index_authorized(uid)))
    }
}

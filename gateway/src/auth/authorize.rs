//! Authentication and authorization of one request, as Meilisearch's `GuardedData`
//! extractor and `ActionPolicy` do it, with the same errors in the same order.

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use miroir_schemas::error::{Code, ResponseError};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::action::Action;
use super::pattern::IndexPattern;
use super::routes::RoutePolicy;
use super::store::KeyStore;
use super::tenant::{self, fuse_filters, SearchRules, TenantError};

const INVALID_API_KEY: &str = "The provided API key is invalid.";
const MISSING_HEADER: &str = "The Authorization header is missing. It must use the bearer authorization method.";
const MISSING_MASTER_KEY: &str =
    "Meilisearch is running without a master key. To access this API endpoint, you must have set a master key at launch.";

/// What an authorized request may touch; route handlers ask it about the indexes they use.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthContext {
    /// The master key, a public route, or an instance without master key.
    Unrestricted,
    /// An API key, possibly through a tenant token.
    Key {
        key_uid: Uuid,
        key_indexes: Vec<IndexPattern>,
        tenant: Option<SearchRules>,
        /// The key holds `indexes.create` (routes that create missing indexes check this).
        can_create_indexes: bool,
    },
}

impl AuthContext {
    /// Both the key and (if any) the tenant token allow `index_uid`.
    pub fn is_index_authorized(&self, index_uid: &str) -> bool {
        match self {
            AuthContext::Unrestricted => true,
            AuthContext::Key { key_indexes, tenant, .. } => {
                key_indexes.iter().any(|p| p.matches(index_uid)) && tenant.as_ref().is_none_or(|rules| rules.is_index_authorized(index_uid))
            }
        }
    }

    /// Whether every index is allowed (routes such as `/metrics` require it; `/tasks` and
    /// `/stats` filter their answer otherwise).
    pub fn all_indexes_authorized(&self) -> bool {
        match self {
            AuthContext::Unrestricted => true,
            AuthContext::Key { key_indexes, tenant, .. } => {
                key_indexes.iter().any(IndexPattern::matches_all) && tenant.as_ref().is_none_or(SearchRules::all_indexes_authorized)
            }
        }
    }

    /// A write to a missing index may create it.
    pub fn allow_index_creation(&self, index_uid: &str) -> bool {
        match self {
            AuthContext::Unrestricted => true,
            AuthContext::Key { can_create_indexes, .. } => *can_create_indexes && self.is_index_authorized(index_uid),
        }
    }

    pub fn is_tenant_token(&self) -> bool {
        matches!(self, AuthContext::Key { tenant: Some(_), .. })
    }

    pub fn key_uid(&self) -> Option<Uuid> {
        match self {
            AuthContext::Unrestricted => None,
            AuthContext::Key { key_uid, .. } => Some(*key_uid),
        }
    }

    /// The tenant token's filter for `index_uid`, if any.
    pub fn rule_filter(&self, index_uid: &str) -> Option<Value> {
        match self {
            AuthContext::Key { tenant: Some(rules), .. } if self.is_index_authorized(index_uid) => rules.filter_for(index_uid),
            _ => None,
        }
    }

    /// The filter a search on `index_uid` must run with: the user's, ANDed with the tenant
    /// token's rule as `[user…, rule…]`.
    pub fn search_filter(&self, index_uid: &str, user_filter: Option<Value>) -> Option<Value> {
        fuse_filters(user_filter, self.rule_filter(index_uid))
    }

    /// For handlers that check their own indexes (`/swap-indexes`, `/render-template`,
    /// document retrieval): `invalid_api_key` unless every index is allowed.
    pub fn check_indexes<'a>(&self, index_uids: impl IntoIterator<Item = &'a str>) -> Result<(), ResponseError> {
        match index_uids.into_iter().all(|uid| self.is_index_authorized(uid)) {
            true => Ok(()),
            false => Err(invalid_api_key(INVALID_API_KEY)),
        }
    }

    /// `/multi-search`: each query's index must be allowed; the error names the first query
    /// that is not ("Inside `.queries[1]`: The provided API key is invalid.").
    pub fn check_multi_search<'a>(&self, index_uids: impl IntoIterator<Item = &'a str>) -> Result<(), ResponseError> {
        match index_uids.into_iter().position(|uid| !self.is_index_authorized(uid)) {
            None => Ok(()),
            Some(query) => Err(query_not_authorized(query)),
        }
    }
}

/// The `/multi-search` error for query number `query`.
pub(super) fn query_not_authorized(query: usize) -> ResponseError {
    invalid_api_key(&format!("Inside `.queries[{query}]`: {INVALID_API_KEY}"))
}

fn invalid_api_key(message: &str) -> ResponseError {
    ResponseError::new(Code::InvalidApiKey, message)
}

/// The bearer value of the `Authorization` header: `Ok(None)` without header.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ResponseError> {
    let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
    // A header that is not visible ASCII reads as empty, which is not "Bearer".
    let text = value.to_str().unwrap_or_default();
    let mut parts = text.splitn(2, ' ');
    match (parts.next(), parts.next()) {
        (Some("Bearer"), Some(token)) => Ok(Some(token)),
        (Some("Bearer"), None) => Err(invalid_api_key(INVALID_API_KEY)),
        _ => Err(ResponseError::new(Code::MissingAuthorizationHeader, MISSING_HEADER)),
    }
}

/// Authenticates the request for `policy` at `now`.
///
/// Errors, as Meilisearch: no header → 401 `missing_authorization_header`; a bearer value that
/// is not allowed → 403 `invalid_api_key` with the precise reason (unknown key, index not
/// allowed, tenant token expired or forged, …); `/keys` and `/_miroir` without a master key
/// configured → 401 `missing_master_key`.
pub fn authorize(store: &KeyStore, headers: &HeaderMap, policy: &RoutePolicy, now: OffsetDateTime) -> Result<AuthContext, ResponseError> {
    let (actions, index_uid) = match policy {
        RoutePolicy::Public => return Ok(AuthContext::Unrestricted),
        RoutePolicy::MasterKey => (None, None),
        RoutePolicy::Actions { actions, index_uid } => (Some(*actions), index_uid.as_deref()),
    };
    let token = bearer_token(headers)?;
    let outcome = match actions {
        None => authenticate_master(store, token.unwrap_or_default()),
        Some(actions) => {
            // Several actions (`/render-template`) must all pass; the first answer is kept.
            let mut first = None;
            let mut failure = None;
            for action in actions {
                match authenticate(store, token.unwrap_or_default(), *action, index_uid, now) {
                    Ok(context) => {
                        first.get_or_insert(context);
                    }
                    Err(reason) => {
                        failure = Some(reason);
                        break;
                    }
                }
            }
            match failure {
                Some(reason) => Err(reason),
                None => Ok(first.unwrap_or(AuthContext::Unrestricted)),
            }
        }
    };
    outcome.map_err(|reason| match (store.master_key(), token) {
        (None, _) => ResponseError::new(Code::MissingMasterKey, MISSING_MASTER_KEY),
        (Some(_), None) => ResponseError::new(Code::MissingAuthorizationHeader, MISSING_HEADER),
        (Some(_), Some(_)) => invalid_api_key(&reason),
    })
}

/// Byte comparison whose time does not depend on where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_master(store: &KeyStore, token: &str) -> bool {
    store.master_key().is_some_and(|master| constant_time_eq(master.as_bytes(), token.as_bytes()))
}

fn authenticate_master(store: &KeyStore, token: &str) -> Result<AuthContext, String> {
    match is_master(store, token) {
        true => Ok(AuthContext::Unrestricted),
        false => Err(INVALID_API_KEY.to_owned()),
    }
}

fn is_keys_action(action: Action) -> bool {
    matches!(action, Action::KeysGet | Action::KeysCreate | Action::KeysUpdate | Action::KeysDelete)
}

/// Meilisearch's `ActionPolicy::authenticate` for one action; the error is the message.
fn authenticate(
    store: &KeyStore,
    token: &str,
    action: Action,
    index_uid: Option<&str>,
    now: OffsetDateTime,
) -> Result<AuthContext, String> {
    // Without a master key everything but `/keys` is open.
    if (store.master_key().is_none() && !is_keys_action(action)) || is_master(store, token) {
        return Ok(AuthContext::Unrestricted);
    }

    let tenant_result = match action {
        Action::Search | Action::ChatCompletions => tenant::verify(store, token, now),
        _ => Err(TenantError::NotATenantToken),
    };
    let (key_uid, tenant) = match tenant_result {
        Ok(token) => (token.api_key_uid, Some(token.search_rules)),
        Err(TenantError::NotATenantToken) => (store.find_by_value(token).ok_or(INVALID_API_KEY)?.uid(), None),
        Err(other) => return Err(other.message()),
    };
    let key = store.get(key_uid).ok_or(INVALID_API_KEY)?;

    if let Some(index) = index_uid {
        if let Some(rules) = &tenant {
            if !rules.is_index_authorized(index) {
                return Err(format!(
                    "The provided tenant token cannot acces the index `{index}`, allowed indexes are {:?}.",
                    rules.sorted_patterns()
                ));
            }
        }
        if !key.covers_index(index) {
            return Err(match tenant {
                Some(_) => format!("The API key used to generate this tenant token cannot acces the index `{index}`."),
                None => format!("The API key cannot acces the index `{index}`, authorized indexes are {:?}.", key.sorted_patterns()),
            });
        }
    }

    if !key.grants(action, index_uid, now) {
        return Err(INVALID_API_KEY.to_owned());
    }
    Ok(AuthContext::Key {
        key_uid,
        key_indexes: key.indexes.clone(),
        tenant,
        can_create_indexes: key.grants(Action::IndexesCreate, None, now),
    })
}

#[cfg(test)]
mod tests;

//! Tenant tokens: JWTs (HS256/384/512) signed with an API key's value, carrying
//! `searchRules`, `apiKeyUid` and an optional `exp`. They narrow what the parent key can
//! search and add a filter per index.

use std::collections::{BTreeSet, HashMap, HashSet};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::pattern::IndexPattern;
use super::store::KeyStore;

/// The filter rule of one index pattern.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IndexSearchRules {
    pub filter: Option<Value>,
}

/// `searchRules`: a list of index patterns, or patterns mapped to `{filter}` or `null`.
/// (The type name appears in Meilisearch's decode error, hence the name.)
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SearchRules {
    Set(HashSet<String>),
    Map(HashMap<String, Option<IndexSearchRules>>),
}

impl SearchRules {
    fn patterns(&self) -> Vec<IndexPattern> {
        match self {
            SearchRules::Set(set) => set.iter().map(IndexPattern::new_unchecked).collect(),
            SearchRules::Map(map) => map.keys().map(IndexPattern::new_unchecked).collect(),
        }
    }

    pub fn is_index_authorized(&self, index_uid: &str) -> bool {
        self.patterns().iter().any(|p| p.matches(index_uid))
    }

    pub fn all_indexes_authorized(&self) -> bool {
        self.patterns().iter().any(IndexPattern::matches_all)
    }

    /// The patterns, sorted, as the "allowed indexes are …" message lists them.
    pub fn sorted_patterns(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.patterns().into_iter().map(|p| p.as_str().to_owned()).collect();
        set.into_iter().collect()
    }

    /// The rule filter for `index_uid`: the most specific matching pattern's (an exact name
    /// beats a prefix, a longer prefix beats a shorter one); `None` when it has no filter.
    pub fn filter_for(&self, index_uid: &str) -> Option<Value> {
        match self {
            SearchRules::Set(_) => None,
            SearchRules::Map(map) => map
                .iter()
                .map(|(pattern, rule)| (IndexPattern::new_unchecked(pattern.as_str()), rule))
                .filter(|(pattern, _)| pattern.matches(index_uid))
                .max_by_key(|(pattern, _)| (pattern.is_exact(), pattern.as_str().len()))
                .and_then(|(_, rule)| rule.as_ref())
                .and_then(|rule| rule.filter.clone()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    search_rules: SearchRules,
    exp: Option<i64>,
    api_key_uid: Uuid,
}

/// A verified token: the parent key and the rules.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantToken {
    pub api_key_uid: Uuid,
    pub search_rules: SearchRules,
}

/// Why a bearer value is not a usable tenant token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantError {
    /// Not shaped like a JWT (or no master key to derive its key from): the bearer value is
    /// then tried as a plain API key.
    NotATenantToken,
    /// A JWT that fails to decode or verify; Meilisearch's message text.
    Invalid(String),
    Expired {
        exp: i64,
        now: i64,
    },
}

impl TenantError {
    fn from_jwt(error: jsonwebtoken::errors::Error) -> TenantError {
        match error.kind() {
            ErrorKind::InvalidToken => TenantError::NotATenantToken,
            _ => TenantError::Invalid(format!("Could not decode tenant token, {error}.")),
        }
    }

    /// Meilisearch's message for the error (all are `invalid_api_key`).
    pub fn message(&self) -> String {
        match self {
            TenantError::NotATenantToken => "The provided tenant token is invalid.".to_owned(),
            TenantError::Invalid(message) => message.clone(),
            TenantError::Expired { exp, now } => {
                format!("Tenant token expired. Was valid up to `{exp}` and we're now `{now}`.")
            }
        }
    }
}

/// Reads the claims without checking anything, to learn which key signed the token.
fn unverified_key_uid(token: &str) -> Result<Uuid, TenantError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.insecure_disable_signature_validation();
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data = decode::<Claims>(token, &DecodingKey::from_secret(&[]), &validation).map_err(TenantError::from_jwt)?;
    Ok(data.claims.api_key_uid)
}

/// The validation Meilisearch applies: HMAC algorithms only, no required claims, `exp`
/// checked by hand afterwards (so the library's leeway does not apply).
fn verified_validation() -> Validation {
    let mut validation = Validation::default();
    validation.validate_exp = false;
    validation.required_spec_claims.remove("exp");
    validation.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
    validation
}

/// Verifies `token` as a tenant token: signed with the value of the key named by
/// `apiKeyUid` (derived from the master key, whether or not that key still exists — the
/// caller checks that), and not past `exp` at `now`.
pub fn verify(store: &KeyStore, token: &str, now: OffsetDateTime) -> Result<TenantToken, TenantError> {
    let uid = unverified_key_uid(token)?;
    let secret = store.value_of(uid).ok_or(TenantError::NotATenantToken)?;
    let data =
        decode::<Claims>(token, &DecodingKey::from_secret(secret.as_bytes()), &verified_validation()).map_err(TenantError::from_jwt)?;
    if let Some(exp) = data.claims.exp {
        let now = now.unix_timestamp();
        if now > exp {
            return Err(TenantError::Expired { exp, now });
        }
    }
    Ok(TenantToken { api_key_uid: uid, search_rules: data.claims.search_rules })
}

/// Meilisearch's `fuse_filters`: the user's filter and the rule's filter ANDed as one array,
/// each side spread when it is already an array.
pub fn fuse_filters(user: Option<Value>, rule: Option<Value>) -> Option<Value> {
    match (user, rule) {
        (None, rule) => rule,
        (user, None) => user,
        (Some(user), Some(rule)) => {
            let mut fused = match user {
                Value::Array(items) => items,
                single => vec![single],
            };
            match rule {
                Value::Array(items) => fused.extend(items),
                single => fused.push(single),
            }
            Some(Value::Array(fused))
        }
    }
}

#[cfg(test)]
mod tests;

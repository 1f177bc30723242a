//! Query parameters and index uids, checked with Meilisearch's messages.

use miroir_schemas::error::{Code, ResponseError};
use miroir_schemas::node_layout::{node_index_uid, ReplicaRank};

use crate::request_errors::{query_param_repeated, query_param_unexpected, query_param_unknown};

/// Meilisearch's longest index uid.
pub const MAX_INDEX_UID_BYTES: usize = 400;

/// The query string as ordered pairs (repeats kept, so they can be refused).
#[derive(Debug, Clone, Default)]
pub struct QueryParams(pub Vec<(String, String)>);

impl QueryParams {
    /// Refuses parameters outside `accepted` (`bad_request`) and repeated ones.
    pub fn check(&self, accepted: &[&str]) -> Result<(), ResponseError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if !accepted.contains(&name.as_str()) {
                return Err(ResponseError::new(Code::BadRequest, query_param_unknown(name, accepted)));
            }
            if self.0[..i].iter().any(|(seen, _)| seen == name) {
                return Err(ResponseError::new(Code::BadRequest, query_param_repeated(name)));
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// A non-negative integer parameter; `code` is the error code of a bad value.
    pub fn integer(&self, name: &str, code: Code) -> Result<Option<u64>, ResponseError> {
        self.get(name)
            .map(|value| {
                value.parse::<u64>().map_err(|_| {
                    ResponseError::new(code, query_param_unexpected(name, &format!("could not parse `{value}` as a positive integer")))
                })
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`).
    pub fn boolean(&self, name: &str, code: Code) -> Result<Option<bool>, ResponseError> {
        self.get(name)
            .map(|value| {
                value.parse::<bool>().map_err(|_| {
                    ResponseError::new(
                        code,
                        query_param_unexpected(name, &format!("could not parse `{value}` as a boolean, expected either `true` or `false`")),
                    )
                })
            })
            .transpose()
    }

    /// A comma-separated list parameter; `None` when absent, `*` included as written.
    pub fn list(&self, name: &str) -> Option<Vec<&str>> {
        self.get(name).map(|value| value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
    }
}

/// Whether `uid` is a usable index uid: Meilisearch's rule (1-400 bytes of `A-Za-z0-9_-`),
/// and short enough that every node index `uid__rank-r` is one too (`replication_factor`
/// ranks).
pub fn is_valid_index_uid(uid: &str, replication_factor: u32) -> bool {
    let longest_node_uid = node_index_uid(uid, ReplicaRank(replication_factor.saturating_sub(1))).len();
    is_meilisearch_index_uid(uid) && longest_node_uid <= MAX_INDEX_UID_BYTES
}

/// Meilisearch's own rule for an index uid (also the rule of names that are not indexes, such
/// as dynamic search rule uids): 1-400 bytes of `A-Za-z0-9_-`.
pub fn is_meilisearch_index_uid(uid: &str) -> bool {
    !uid.is_empty() && uid.len() <= MAX_INDEX_UID_BYTES && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Meilisearch's message for a string that breaks the index uid rule.
pub fn index_uid_rule(uid: &str) -> String {
    format!("`{uid}` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes.")
}

/// An index uid from the path: `invalid_index_uid` when unusable.
pub fn path_index_uid(uid: &str, replication_factor: u32) -> Result<(), ResponseError> {
    if is_valid_index_uid(uid, replication_factor) {
        Ok(())
    } else {
        Err(ResponseError::new(Code::InvalidIndexUid, index_uid_rule(uid)))
    }
}

/// An index uid from a JSON body at `location` (e.g. `.uid`).
pub fn body_index_uid(uid: &str, location: &str, replication_factor: u32) -> Result<(), ResponseError> {
    if is_valid_index_uid(uid, replication_factor) {
        Ok(())
    } else {
        Err(ResponseError::new(Code::InvalidIndexUid, format!("Invalid value at `{location}`: {}", index_uid_rule(uid))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn parameters_are_checked_like_meilisearch() {
        let query = params(&[("limit", "5"), ("offset", "x")]);
        assert!(query.check(&["offset", "limit"]).is_ok());
        assert_eq!(query.integer("limit", Code::InvalidIndexLimit).unwrap(), Some(5));
        let bad = query.integer("offset", Code::InvalidIndexOffset).unwrap_err();
        assert_eq!(bad.code, "invalid_index_offset");
        assert_eq!(bad.message, "Invalid value in parameter `offset`: could not parse `x` as a positive integer");
        let unknown = params(&[("limt", "1")]).check(&["offset", "limit"]).unwrap_err();
        assert_eq!(unknown.code, "bad_request");
        assert_eq!(unknown.message, "Unknown parameter `limt`: did you mean `limit`? expected one of `offset`, `limit`");
    }

    #[test]
    fn index_uids() {
        let error = body_index_uid("bad uid!", ".uid", 3).unwrap_err();
        assert_eq!(
            error.message,
            "Invalid value at `.uid`: `bad uid!` is not a valid index uid. Index uid can be an integer or a string containing only alphanumeric characters, hyphens (-) and underscores (_), and can not be more than 512 bytes."
        );
        assert!(path_index_uid("movies-2_a", 3).is_ok());
        assert!(path_index_uid("", 3).is_err());
        // Room is kept for the node index suffix `__rank-r`.
        assert!(path_index_uid(&"a".repeat(392), 10).is_ok());
        assert!(path_index_uid(&"a".repeat(392), 11).is_err());
    }

    proptest! {
        #[test]
        fn a_valid_uid_makes_valid_node_uids(uid in "[A-Za-z0-9_-]{1,420}", ranks in 1u32..2000) {
            if is_valid_index_uid(&uid, ranks) {
                for r in [0, ranks - 1] {
                    let node_uid = node_index_uid(&uid, ReplicaRank(r));
                    prop_assert!(node_uid.len() <= MAX_INDEX_UID_BYTES);
                }
            }
        }
    }
}

//! Document TTL settings (docs/ttl.md), kept in the `meta` log: which field of an index's
//! documents holds their expiry. Every gateway (which writes each document's normalized expiry
//! and hides expired documents from reads) and every reconciler (which sweeps them) folds the
//! same changes in the same order, so they agree on every index's setting.
//!
//! The setting belongs to the index uid: it stays when the index is deleted, re-created or
//! swapped, until it is deleted itself. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::node_layout::is_reserved_field;

/// Longest TTL field name accepted, in bytes.
pub const MAX_TTL_FIELD_LEN: usize = 512;

/// A change to an index's TTL setting, as one `meta` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum TtlChange {
    /// Documents of `index_uid` written from now on expire at the time their top-level field
    /// `field` names.
    TtlSet { index_uid: String, field: String },
    /// The index has no TTL any more: nothing is hidden or swept.
    TtlDelete { index_uid: String },
}

/// Why a TTL field name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtlFieldError {
    #[error("the TTL field must be a non-empty string")]
    Empty,
    #[error("the TTL field is longer than {MAX_TTL_FIELD_LEN} bytes")]
    TooLong,
    #[error("the TTL field `{0}` is reserved: Miroir keeps its own fields under the `_miroir_` prefix")]
    Reserved(String),
}

/// Checks a TTL field name: a top-level document field a user may write.
pub fn check_ttl_field(field: &str) -> Result<(), TtlFieldError> {
    if field.is_empty() {
        Err(TtlFieldError::Empty)
    } else if field.len() > MAX_TTL_FIELD_LEN {
        Err(TtlFieldError::TooLong)
    } else if is_reserved_field(field) {
        Err(TtlFieldError::Reserved(field.to_owned()))
    } else {
        Ok(())
    }
}

/// Every index's TTL field, folded from `meta` in log order: the last change of an index wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TtlFields {
    by_index: BTreeMap<String, String>,
}

impl TtlFields {
    /// Folds one change; returns the index's field after it.
    pub fn apply(&mut self, change: &TtlChange) -> Option<String> {
        match change {
            // A record no gateway would write (a reserved or empty name) sets nothing.
            TtlChange::TtlSet { index_uid, field } if check_ttl_field(field).is_ok() => {
                self.by_index.insert(index_uid.clone(), field.clone());
                Some(field.clone())
            }
            TtlChange::TtlSet { index_uid, .. } => self.by_index.get(index_uid).cloned(),
            TtlChange::TtlDelete { index_uid } => {
                self.by_index.remove(index_uid);
                None
            }
        }
    }

    /// The TTL field of `index_uid`, if it has TTL.
    pub fn field_of(&self, index_uid: &str) -> Option<&str> {
        self.by_index.get(index_uid).map(String::as_str)
    }

    /// Every index with TTL and its field, by index uid.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.by_index.iter().map(|(index, field)| (index.as_str(), field.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn field_names_users_may_choose() {
        assert_eq!(check_ttl_field("expiresAt"), Ok(()));
        assert_eq!(check_ttl_field("meta.expires"), Ok(()));
        assert_eq!(check_ttl_field(""), Err(TtlFieldError::Empty));
        assert_eq!(check_ttl_field("_miroir_until"), Err(TtlFieldError::Reserved("_miroir_until".into())));
        assert_eq!(check_ttl_field(&"a".repeat(MAX_TTL_FIELD_LEN + 1)), Err(TtlFieldError::TooLong));
    }

    fn change() -> impl Strategy<Value = TtlChange> {
        let index = prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned);
        let field = prop::sample::select(vec!["x", "y", "_miroir_x", ""]).prop_map(str::to_owned);
        prop_oneof![
            (index.clone(), field).prop_map(|(index_uid, field)| TtlChange::TtlSet { index_uid, field }),
            index.prop_map(|index_uid| TtlChange::TtlDelete { index_uid }),
        ]
    }

    proptest! {
        /// Each index's setting is the last valid change of that index, whatever came between
        /// for other indexes.
        #[test]
        fn the_last_valid_change_of_an_index_wins(changes in prop::collection::vec(change(), 0..30)) {
            let mut fields = TtlFields::default();
            for change in &changes {
                fields.apply(change);
            }
            for index in ["a", "b", "c"] {
                let expected = changes.iter().rev().find_map(|change| match change {
                    TtlChange::TtlSet { index_uid, field } if index_uid == index && check_ttl_field(field).is_ok() => Some(Some(field.as_str())),
                    TtlChange::TtlDelete { index_uid } if index_uid == index => Some(None),
                    _ => None,
                });
                prop_assert_eq!(fields.field_of(index), expected.flatten());
            }
        }

        #[test]
        fn changes_round_trip(change in change()) {
            let text = serde_json::to_string(&change).unwrap();
            prop_assert_eq!(serde_json::from_str::<TtlChange>(&text).unwrap(), change);
        }
    }
}

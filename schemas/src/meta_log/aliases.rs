//! Index aliases (`/_miroir/aliases`), kept in the `meta` log like API keys and webhooks: every
//! gateway folds the same changes in the same order, so every gateway resolves an alias to the
//! same indexes once it has folded the same records, and a switch is one record (atomic).
//!
//! The fold judges what depends on other aliases: an alias may not name another alias (no
//! chains), and a name some alias targets is an index name, so it cannot become an alias.
//! What depends on the index catalog (the alias's name is not an index, its targets exist) is
//! checked by the gateway against its catalog before it appends (the catalog folds another
//! log); a name that is both an index and an alias after a race resolves to the index.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Most indexes one alias names.
pub const MAX_ALIAS_INDEXES: usize = 100;

/// An alias as the fold keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alias {
    /// The indexes it names, in the order given (one for an alias that also takes writes).
    pub indexes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A change to the aliases, as one `meta` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum AliasChange {
    /// Creates the alias or switches it to `indexes`.
    AliasSet {
        name: String,
        indexes: Vec<String>,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    AliasDelete {
        name: String,
    },
}

/// What folding one change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasApplied {
    Set {
        name: String,
        alias: Alias,
    },
    Deleted(String),
    /// A delete of an alias that is not (or no longer) there.
    NotFound(String),
    /// A set naming an alias among its indexes (`target`): refused, nothing changed.
    TargetIsAlias {
        name: String,
        target: String,
    },
    /// A set whose name some other alias names as an index: refused, nothing changed.
    NameIsTarget {
        name: String,
        alias: String,
    },
}

/// Every alias, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases {
    aliases: BTreeMap<String, Alias>,
}

impl Aliases {
    pub fn get(&self, name: &str) -> Option<&Alias> {
        self.aliases.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Alias)> {
        self.aliases.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.aliases.is_empty()
    }

    /// The first alias (by name) naming `index`, if any.
    pub fn naming(&self, index: &str) -> Option<&str> {
        self.aliases.iter().find(|(_, alias)| alias.indexes.iter().any(|target| target == index)).map(|(name, _)| name.as_str())
    }

    /// Folds one change (see the module documentation).
    pub fn apply(&mut self, change: &AliasChange) -> AliasApplied {
        match change {
            AliasChange::AliasSet { name, indexes, at } => {
                if let Some(target) = indexes.iter().find(|target| self.aliases.contains_key(*target) || *target == name) {
                    return AliasApplied::TargetIsAlias { name: name.clone(), target: target.clone() };
                }
                if let Some(other) = self.naming(name) {
                    return AliasApplied::NameIsTarget { name: name.clone(), alias: other.to_owned() };
                }
                let created_at = self.aliases.get(name).map_or(*at, |alias| alias.created_at);
                let alias = Alias { indexes: indexes.clone(), created_at, updated_at: *at };
                self.aliases.insert(name.clone(), alias.clone());
                AliasApplied::Set { name: name.clone(), alias }
            }
            AliasChange::AliasDelete { name } => match self.aliases.remove(name) {
                Some(_) => AliasApplied::Deleted(name.clone()),
                None => AliasApplied::NotFound(name.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests;

//! Index uid patterns of API keys and tenant tokens: an index uid, optionally ending with
//! `*` (prefix match), or `*` alone (every index).

use std::fmt;

/// A validated index uid pattern (Meilisearch's `IndexUidPattern`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexPattern(String);

/// Meilisearch's message for a pattern that is not an index uid with an optional final `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidIndexPattern(pub String);

impl fmt::Display for InvalidIndexPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a valid index uid pattern. Index uid patterns can be an integer or a \
             string containing only alphanumeric characters, hyphens (-), underscores (_), and \
             optionally end with a star (*).",
            self.0
        )
    }
}

/// Meilisearch's index uid rule: 1–400 bytes of ASCII alphanumerics, `-` and `_`.
pub fn is_valid_index_uid(uid: &str) -> bool {
    !uid.is_empty() && uid.len() <= 400 && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl IndexPattern {
    /// Validates a pattern as key creation does.
    pub fn parse(pattern: &str) -> Result<IndexPattern, InvalidIndexPattern> {
        let valid = match pattern.strip_suffix('*') {
            Some("") => true,
            Some(prefix) => is_valid_index_uid(prefix),
            None => is_valid_index_uid(pattern),
        };
        if valid {
            Ok(IndexPattern(pattern.to_owned()))
        } else {
            Err(InvalidIndexPattern(pattern.to_owned()))
        }
    }

    /// Takes a pattern as is. Tenant token rules are not validated by Meilisearch either.
    pub fn new_unchecked(pattern: impl Into<String>) -> IndexPattern {
        IndexPattern(pattern.into())
    }

    pub fn all() -> IndexPattern {
        IndexPattern("*".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `*` alone.
    pub fn matches_all(&self) -> bool {
        self.0 == "*"
    }

    /// Names one index (no trailing `*`).
    pub fn is_exact(&self) -> bool {
        !self.0.ends_with('*')
    }

    pub fn matches(&self, index_uid: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => index_uid.starts_with(prefix),
            None => self.0 == index_uid,
        }
    }
}

impl fmt::Display for IndexPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of patterns grants an index when any pattern matches it.
pub fn any_matches<'a>(patterns: impl IntoIterator<Item = &'a IndexPattern>, index_uid: &str) -> bool {
    patterns.into_iter().any(|p| p.matches(index_uid))
}

#[cfg(test)]
mod tests;

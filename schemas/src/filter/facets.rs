//! Meilisearch's facet value normalization, shared by the merge (facet counts), facet search
//! and the filter tests' document oracle.

use unicode_normalization::UnicodeNormalization;

/// Meilisearch's facet normalization: trimmed, compatibility-decomposed (NFKD), lowercased.
pub fn normalize_facet(value: &str) -> String {
    value.trim().nfkd().collect::<String>().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_is_nfkd_trimmed_lowercase() {
        assert_eq!(normalize_facet("  ＡＢＣ "), "abc");
        assert_eq!(normalize_facet("Éa"), "e\u{301}a");
    }
}

//! Tokenization and word matching: lowercase words split on anything that is not alphanumeric,
//! prefix matching of the last query word, typo tolerance by Damerau-Levenshtein distance.

use serde_json::Value;

use crate::standin::settings::TypoSettings;

/// One word of a text: normalized form, and its byte range in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub start: usize,
    pub len: usize,
}

/// Splits text into lowercase words on every non-alphanumeric character.
pub fn tokenize(text: &str) -> Vec<Word> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                words.push(Word { text: text[s..i].to_lowercase(), start: s, len: i - s });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(Word { text: text[s..].to_lowercase(), start: s, len: text.len() - s });
    }
    words
}

/// The searchable text of a leaf value (strings, numbers and booleans are searchable).
pub fn searchable_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A word of the query with how loosely it may match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryTerm {
    pub word: String,
    /// Whether document words that merely start with this word match (last query word).
    pub prefix: bool,
    pub max_typos: u32,
}

/// Meilisearch reads at most this many words of a query.
const MAX_QUERY_WORDS: usize = 10;

pub fn query_terms(q: &str, typo: &TypoSettings) -> Vec<QueryTerm> {
    let mut words = tokenize(q);
    words.truncate(MAX_QUERY_WORDS);
    let ends_with_separator = q.chars().last().is_some_and(|c| !c.is_alphanumeric());
    let last = words.len().saturating_sub(1);
    words
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let chars = w.text.chars().count();
            let numeric = w.text.chars().all(|c| c.is_ascii_digit());
            let max_typos = if !typo.enabled
                || typo.disable_on_words.contains(&w.text)
                || (typo.disable_on_numbers && numeric)
            {
                0
            } else if chars >= typo.two_typos {
                2
            } else if chars >= typo.one_typo {
                1
            } else {
                0
            };
            QueryTerm { word: w.text, prefix: i == last && !ends_with_separator, max_typos }
        })
        .collect()
}

/// How a document word matches a query term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordMatch {
    pub typos: u32,
    /// The document word is exactly the query word (no typo, not just a prefix).
    pub exact: bool,
}

pub fn match_word(term: &QueryTerm, word: &str) -> Option<WordMatch> {
    if word == term.word {
        return Some(WordMatch { typos: 0, exact: true });
    }
    if term.prefix && word.starts_with(&term.word) {
        return Some(WordMatch { typos: 0, exact: false });
    }
    if term.max_typos == 0 {
        return None;
    }
    let mut best = distance(&term.word, word, term.max_typos);
    if term.prefix {
        let n = term.word.chars().count();
        let head: String = word.chars().take(n).collect();
        best = best.min(distance(&term.word, &head, term.max_typos));
    }
    (best <= term.max_typos).then_some(WordMatch { typos: best, exact: false })
}

/// Optimal-string-alignment distance (Damerau-Levenshtein with adjacent transpositions), or
/// `limit + 1` as soon as it is known to exceed `limit`.
pub fn distance(a: &str, b: &str, limit: u32) -> u32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if (a.len() as i64 - b.len() as i64).unsigned_abs() > limit as u64 {
        return limit + 1;
    }
    let width = b.len() + 1;
    let mut rows = vec![vec![0u32; width]; a.len() + 1];
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j as u32;
    }
    for i in 1..=a.len() {
        rows[i][0] = i as u32;
        for j in 1..=b.len() {
            let cost = u32::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()].min(limit + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn typo() -> TypoSettings {
        TypoSettings {
            enabled: true,
            one_typo: 5,
            two_typos: 9,
            disable_on_words: vec![],
            disable_on_attributes: vec![],
            disable_on_numbers: false,
        }
    }

    #[test]
    fn tokenizer_splits_on_separators_and_lowercases() {
        let words: Vec<String> = tokenize("D3-based, Library!").into_iter().map(|w| w.text).collect();
        assert_eq!(words, ["d3", "based", "library"]);
    }

    #[test]
    fn typo_budget_follows_word_length() {
        let terms = query_terms("cat kitten abcdefghij ", &typo());
        assert_eq!(terms.iter().map(|t| t.max_typos).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(terms.iter().all(|t| !t.prefix), "a trailing space disables the prefix");
        assert!(query_terms("cat kit", &typo())[1].prefix);
    }

    #[test]
    fn matching_handles_prefix_and_typos() {
        let terms = query_terms("librari", &typo());
        assert_eq!(match_word(&terms[0], "libraries"), Some(WordMatch { typos: 0, exact: false }));
        assert_eq!(match_word(&terms[0], "library").map(|m| m.typos), Some(1));
        assert_eq!(match_word(&terms[0], "linux"), None);
    }

    proptest! {
        #[test]
        fn distance_is_symmetric_and_zero_on_equal(a in "[a-d]{0,8}", b in "[a-d]{0,8}") {
            prop_assert_eq!(distance(&a, &b, 20), distance(&b, &a, 20));
            prop_assert_eq!(distance(&a, &a, 20), 0);
        }
    }
}

//! `_formatted` (highlight, crop) and `_matchesPosition` of a hit.

use serde_json::{json, Map, Value};

use super::params::SearchParams;
use super::text::{match_word, tokenize, QueryTerm};
use crate::standin::settings::pattern_covers;
use crate::standin::tasks::Document;

/// Byte ranges of the words of `text` that match a query term (prefix matches cover only as
/// many characters as the query word has, as Meilisearch highlights them).
fn matched_ranges(text: &str, terms: &[QueryTerm]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for (index, word) in tokenize(text).into_iter().enumerate() {
        let original = &text[word.start..word.start + word.len];
        for term in terms {
            if let Some(m) = match_word(term, &word.text) {
                let term_chars = term.word.chars().count();
                let len = if !m.exact && word.text.chars().count() > term_chars {
                    original.char_indices().nth(term_chars).map_or(word.len, |(i, _)| i)
                } else {
                    word.len
                };
                out.push((word.start, len, index));
                break;
            }
        }
    }
    out
}

fn highlight(text: &str, terms: &[QueryTerm], pre: &str, post: &str) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (start, len, _) in matched_ranges(text, terms) {
        out.push_str(&text[at..start]);
        out.push_str(pre);
        out.push_str(&text[start..start + len]);
        out.push_str(post);
        at = start + len;
    }
    out.push_str(&text[at..]);
    out
}

fn crop(text: &str, terms: &[QueryTerm], length: usize, marker: &str) -> String {
    let words = tokenize(text);
    if words.len() <= length || length == 0 {
        return text.to_owned();
    }
    let first = matched_ranges(text, terms).first().map_or(0, |m| m.2);
    let start = first.saturating_sub(length.saturating_sub(1) / 2).min(words.len() - length);
    let end = start + length;
    let from = words[start].start;
    let to = words[end - 1].start + words[end - 1].len;
    let mut out = String::new();
    if start > 0 {
        out.push_str(marker);
    }
    out.push_str(&text[from..to]);
    if end < words.len() {
        out.push_str(marker);
    }
    out
}

fn listed(list: &[String], field: &str) -> Option<Option<usize>> {
    list.iter().find_map(|entry| {
        let (name, len) = match entry.rsplit_once(':') {
            Some((n, l)) => (n, l.parse().ok()),
            None => (entry.as_str(), None),
        };
        pattern_covers(name, field).then_some(len)
    })
}

fn format_value(value: &Value, field: &str, p: &SearchParams, terms: &[QueryTerm]) -> Value {
    match value {
        Value::String(s) => {
            let mut text = s.clone();
            if let Some(len) = listed(&p.attributes_to_crop, field) {
                text = crop(&text, terms, len.unwrap_or(p.crop_length), &p.crop_marker);
            }
            if listed(&p.attributes_to_highlight, field).is_some() {
                text = highlight(&text, terms, &p.highlight_pre_tag, &p.highlight_post_tag);
            }
            Value::String(text)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| format_value(v, field, p, terms)).collect()),
        other => other.clone(),
    }
}

/// Adds `_formatted` and `_matchesPosition` to `hit` when the query asks for them.
pub fn add_formatting(
    hit: &mut Map<String, Value>,
    doc: &Document,
    displayed: &[String],
    p: &SearchParams,
    terms: &[QueryTerm],
    searchable: Option<&[String]>,
) {
    if !p.attributes_to_highlight.is_empty() || !p.attributes_to_crop.is_empty() {
        let mut formatted = Map::new();
        for (field, value) in doc {
            let shown = displayed.iter().any(|d| pattern_covers(d, field));
            let wanted = hit.contains_key(field)
                || listed(&p.attributes_to_highlight, field).is_some()
                || listed(&p.attributes_to_crop, field).is_some();
            if shown && wanted {
                formatted.insert(field.clone(), format_value(value, field, p, terms));
            }
        }
        hit.insert("_formatted".into(), Value::Object(formatted));
    }
    if p.show_matches_position {
        let mut positions = std::collections::BTreeMap::new();
        for (field, value) in doc {
            let is_searchable = searchable.is_none_or(|s| s.iter().any(|a| pattern_covers(a, field)));
            if !is_searchable {
                continue;
            }
            let mut found = Vec::new();
            match value {
                Value::String(s) => found.extend(matched_ranges(s, terms).into_iter().map(|(start, length, _)| json!({"start": start, "length": length}))),
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Value::String(s) = item {
                            found.extend(matched_ranges(s, terms).into_iter().map(|(start, length, _)| json!({"start": start, "length": length, "indices": [i]})));
                        }
                    }
                }
                _ => {}
            }
            if !found.is_empty() {
                positions.insert(field.clone(), Value::Array(found));
            }
        }
        hit.insert("_matchesPosition".into(), json!(positions));
    }
}

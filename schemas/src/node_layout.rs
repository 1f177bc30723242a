//! How a node holds an index: every shard it holds at one replica rank in one node index
//! (`movies__rank-0`), each document tagged with its shard in [`SHARD_FIELD`], Miroir's
//! filterable rule first in every node index's settings, requests narrowed to some shards, and
//! node messages turned back into what the client must see. Pure.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::topology::{parse_canonical_u32, ShardId};

mod expiry;
pub use expiry::{
    add_expiry, expired_condition, expiry_millis, is_expired, now_millis, unexpired_condition, with_unexpired, EXPIRY_FIELD,
    MAX_EXPIRY_MILLIS, MILLISECONDS_FROM,
};
pub mod edit_function;
mod reserved_field;
pub use reserved_field::{
    attribute_for_client, attribute_for_node, filter_for_node, is_reserved_field, multi_search_for_node, request_for_node,
    RESERVED_FIELD_PREFIX, SHARD_FIELD_STAND_IN,
};

/// Separator between the user's index uid and the rank in a node index uid.
const NODE_INDEX_SEPARATOR: &str = "__";

/// Which copy of a shard within its replica group (`0 … RF-1`). A node keeps every shard it
/// holds at one rank in one node index, so a search asks each node one index per rank it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReplicaRank(pub u32);

const RANK_PREFIX: &str = "rank-";

impl fmt::Display for ReplicaRank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{RANK_PREFIX}{}", self.0)
    }
}

/// The node index holding a node's rank-`rank` copies of user index `index_uid`:
/// `<index_uid>__rank-<r>`. Every shard the node holds at that rank lives in it, each document
/// carrying its shard in [`SHARD_FIELD`].
///
/// Meilisearch caps index uids at 400 bytes; the gateway must keep user uids short enough
/// for this suffix to fit.
pub fn node_index_uid(index_uid: &str, rank: ReplicaRank) -> String {
    format!("{index_uid}{NODE_INDEX_SEPARATOR}{rank}")
}

/// Prefix of the shard count in the node index uids of a resharded layout.
const LAYOUT_PREFIX: &str = "s";

/// The node index of `index_uid`'s rank-`rank` copies in `layout`: the launch layout
/// ([`node_index_uid`], `movies__rank-0`), or the layout an index was resharded to, which names
/// its shard count (`movies__s12-rank-0`). A reshard builds the new layout's node indexes beside
/// the old ones, so the two never share a name (resharding to the count an index has is refused,
/// and the old layout is deleted before the next reshard).
pub fn layout_node_index_uid(index_uid: &str, layout: Option<u32>, rank: ReplicaRank) -> String {
    match layout {
        None => node_index_uid(index_uid, rank),
        Some(shards) => format!("{index_uid}{NODE_INDEX_SEPARATOR}{LAYOUT_PREFIX}{shards}-{rank}"),
    }
}

/// The field of every document on the nodes that names its shard, so a node index holding
/// several shards can be searched, deleted from or counted for some of them. Miroir adds it as
/// documents reach the nodes and removes it from everything a client sees; a user document may
/// not have a field of that name.
pub const SHARD_FIELD: &str = "_miroir_shard";

/// Every field Miroir adds to documents on the nodes (the shard, the TTL expiry): filterable by
/// Miroir's rule and kept out of everything a client sees.
pub const MIROIR_DOCUMENT_FIELDS: [&str; 2] = [SHARD_FIELD, EXPIRY_FIELD];

/// Whether `name` is a field Miroir adds to documents on the nodes (one of
/// [`MIROIR_DOCUMENT_FIELDS`]); what answers leave out.
pub fn is_miroir_document_field(name: &str) -> bool {
    MIROIR_DOCUMENT_FIELDS.contains(&name)
}

/// The two characters [`ShardId::field_value`] writes a shard number with. Both are separators
/// for Meilisearch's tokenizer, so the value holds no word: no query can match a document by its
/// shard, and the field leaves ranking alone. (Measured on Meilisearch 1.50: `·`, `•`, `‧` and
/// `⁃` are separators; `¦` is not.)
const SHARD_DIGITS: [char; 2] = ['·', '•'];

/// Miroir's rule in every node index's `filterableAttributes`, always first (so the user's rules
/// keep their numbers, minus one, in node messages): Miroir's document fields (the shard, the
/// TTL expiry, compared as numbers) can be filtered on, and never show among facet-searchable
/// attributes. One rule for both, so the user's rules are numbered as with the shard alone.
pub fn shard_filter_rule() -> serde_json::Value {
    serde_json::json!({"attributePatterns": MIROIR_DOCUMENT_FIELDS, "features": {"facetSearch": false, "filter": {"equality": true, "comparison": true}}})
}

/// The rule node indexes created before the TTL field existed carry (the shard alone): still
/// Miroir's, so it is taken out of what clients see like [`shard_filter_rule`].
fn shard_only_filter_rule() -> serde_json::Value {
    serde_json::json!({"attributePatterns": [SHARD_FIELD], "features": {"facetSearch": false, "filter": {"equality": true, "comparison": false}}})
}

/// The user's `filterableAttributes` (a list, or `null` for the default) with Miroir's rule first.
pub fn with_shard_rule(user: &serde_json::Value) -> serde_json::Value {
    let rule = shard_filter_rule();
    let mut rules = vec![rule.clone()];
    if let serde_json::Value::Array(user_rules) = user {
        rules.extend(user_rules.iter().filter(|user_rule| **user_rule != rule).cloned());
    }
    serde_json::Value::Array(rules)
}

/// A node index's `filterableAttributes` as the user set them: Miroir's rule taken out (an
/// empty list stays an empty list, as the node would show the user's empty setting).
pub fn without_shard_rule(rules: &serde_json::Value) -> serde_json::Value {
    match rules {
        serde_json::Value::Array(rules) => {
            let miroir = [shard_filter_rule(), shard_only_filter_rule()];
            serde_json::Value::Array(rules.iter().filter(|r| !miroir.contains(r)).cloned().collect())
        }
        other => other.clone(),
    }
}

/// A filter (string, array or `null`, as the user sent it) narrowed to `shards`: Meilisearch
/// ANDs the elements of an array, and the shard condition goes last so a node prints the
/// user's part first in its errors (see [`client_message`]). A shard field the user's part
/// names is sent as its stand-in ([`filter_for_node`]), so only Miroir's condition reads shards.
pub fn narrowed_to_shards(filter: &serde_json::Value, shards: &[ShardId]) -> serde_json::Value {
    use serde_json::Value;
    let filter = &filter_for_node(filter);
    let quoted = |shard: &ShardId| format!("\"{}\"", shard.field_value());
    let condition = match shards {
        [one] => format!("{SHARD_FIELD} = {}", quoted(one)),
        many => format!("{SHARD_FIELD} IN [{}]", many.iter().map(quoted).collect::<Vec<_>>().join(", ")),
    };
    match filter {
        Value::Null => Value::Array(vec![Value::String(condition)]),
        Value::Array(parts) => Value::Array(parts.iter().cloned().chain([Value::String(condition)]).collect()),
        user => Value::Array(vec![user.clone(), Value::String(condition)]),
    }
}

impl ShardId {
    /// The shard's value in [`SHARD_FIELD`]: its number in binary, written with two separator
    /// characters (`0` → `·`, `5` → `•·•`).
    pub fn field_value(self) -> String {
        if self.0 == 0 {
            return SHARD_DIGITS[0].to_string();
        }
        let bits = 32 - self.0.leading_zeros();
        (0..bits).rev().map(|bit| SHARD_DIGITS[((self.0 >> bit) & 1) as usize]).collect()
    }

    /// The inverse of [`ShardId::field_value`].
    pub fn from_field_value(value: &str) -> Option<ShardId> {
        let mut number: u32 = 0;
        let mut digits = 0;
        for c in value.chars() {
            let digit = SHARD_DIGITS.iter().position(|&d| d == c)? as u32;
            number = number.checked_mul(2)?.checked_add(digit)?;
            digits += 1;
        }
        // Only the spelling `field_value` writes (no leading zero digit) reads back.
        (digits > 0 && ShardId(number).field_value() == value).then_some(ShardId(number))
    }
}

/// Characters of an index uid (Meilisearch allows `[A-Za-z0-9_-]`).
fn is_uid_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Replaces every word of `message` that is a node index uid (`movies__rank-1`) by its user
/// index uid (`movies`): node messages reach clients (search errors, failed tasks) only through
/// this, so node index names never leak.
pub fn rewrite_node_index_names(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut word_start: Option<usize> = None;
    let flush = |out: &mut String, word: &str| match parse_node_index_uid(word) {
        Some((index_uid, _)) => out.push_str(index_uid),
        None => out.push_str(word),
    };
    for (at, c) in message.char_indices() {
        if is_uid_char(c) {
            word_start.get_or_insert(at);
            continue;
        }
        if let Some(start) = word_start.take() {
            flush(&mut out, &message[start..at]);
        }
        out.push(c);
    }
    if let Some(start) = word_start {
        flush(&mut out, &message[start..]);
    }
    out
}

/// A node's message as the client must see it: node index names become the user's index uid,
/// and nothing of [`SHARD_FIELD`] shows: it leaves the lists of filterable attributes (an index
/// whose only filterable attribute is Miroir's says it has none, as the node would without it),
/// rule numbers in `filterableAttributes` count the user's rules only (Miroir's rule comes
/// first), a filter Miroir narrowed to some shards is printed as the user wrote it, and the
/// stand-in a node was sent for a shard field the client named is that name again.
pub fn client_message(message: &str) -> String {
    let renamed = rewrite_node_index_names(message);
    let mut lines: Vec<String> = renamed.split('\n').map(hide_shard_field).collect();
    if let Some(last) = lines.last_mut() {
        if let Some(unnarrowed) = without_shard_condition(last) {
            *last = unnarrowed;
        }
    }
    // After the narrowing condition is gone: that one names the field itself.
    lines.join("\n").replace(SHARD_FIELD_STAND_IN, SHARD_FIELD)
}

/// One line of a node message without Miroir's filterable attributes and rule.
fn hide_shard_field(line: &str) -> String {
    let mut line = line.to_owned();
    for (list, none) in [
        ("Available filterable attribute patterns are: ", "This index does not have configured filterable attributes."),
        ("Available filterable attributes patterns are: ", "This index does not have configured filterable attributes."),
    ] {
        // "…: `_miroir_shard`, `genre`." or "…: `_miroir_shard, genre`."
        if let Some(start) = line.find(list) {
            let items_start = start + list.len();
            let Some(end) = line[items_start..].find('.').map(|at| items_start + at) else { continue };
            let kept = without_miroir_fields(&line[items_start..end]);
            let replacement = if kept.is_empty() { none.to_owned() } else { format!("{list}{kept}.") };
            line = format!("{}{}{}", &line[..start], replacement, &line[end + 1..]);
        }
    }
    renumber_rules(&line)
}

/// A node's list of filterable patterns without Miroir's fields, in either form it prints:
/// one quoted name each (`` `_miroir_shard`, `genre` ``) or one quoted list
/// (`` `_miroir_shard, genre` ``). Empty when nothing else is left.
fn without_miroir_fields(items: &str) -> String {
    match items.strip_prefix('`').and_then(|inner| inner.strip_suffix('`')).filter(|inner| !inner.contains('`')) {
        Some(inner) => {
            let names: Vec<&str> = inner.split(", ").filter(|name| !is_miroir_document_field(name)).collect();
            if names.is_empty() {
                String::new()
            } else {
                format!("`{}`", names.join(", "))
            }
        }
        None => items
            .split(", ")
            .filter(|item| !item.strip_prefix('`').and_then(|name| name.strip_suffix('`')).is_some_and(is_miroir_document_field))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// `rule #N` → `rule #N-1`: Miroir's own rule is the first (#0) of every node index's list.
fn renumber_rules(line: &str) -> String {
    const RULE: &str = "rule #";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(RULE) {
        let after = &rest[at + RULE.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at + RULE.len()]);
        match after[..digits].parse::<u64>() {
            // Rule numbers count from 0 (Meilisearch 1.50); Miroir's own is #0.
            Ok(number) if number >= 1 => out.push_str(&(number - 1).to_string()),
            _ => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// A filter position line `start:end (<user filter>) AND ("_miroir_shard" …)` as the node
/// prints a filter Miroir narrowed to some shards (or `… AND (NOT ("_miroir_until" …))`, a
/// read of an index with TTL), back to `start-1:end-1 <user filter>`, what the user's filter
/// alone prints. `None` when the line is not such a line.
fn without_shard_condition(line: &str) -> Option<String> {
    let (span, expression) = line.split_once(' ')?;
    let (start, end) = span.split_once(':')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    // Miroir's conditions come after the user's: cut at the first of them.
    let suffix_at = [format!(") AND (\"{SHARD_FIELD}\" "), format!(") AND (NOT (\"{EXPIRY_FIELD}\" ")]
        .iter()
        .filter_map(|suffix| expression.rfind(suffix.as_str()))
        .min()?;
    let user = expression.strip_prefix('(')?.get(..suffix_at - 1)?;
    Some(format!("{}:{} {user}", start.saturating_sub(1).max(1), end.saturating_sub(1).max(1)))
}

/// The inverse of [`node_index_uid`]: `movies__rank-1` → `("movies", ReplicaRank(1))`, and of
/// [`layout_node_index_uid`] (`movies__s12-rank-1`, the layout left out). Splits at the last
/// `__`, so user uids that themselves contain `__` round-trip.
pub fn parse_node_index_uid(node_index_uid: &str) -> Option<(&str, ReplicaRank)> {
    parse_node_index_layout(node_index_uid).map(|(index, _, rank)| (index, rank))
}

/// A node index uid as `(user index, layout, rank)` (see [`layout_node_index_uid`]).
pub fn parse_node_index_layout(node_index_uid: &str) -> Option<(&str, Option<u32>, ReplicaRank)> {
    let (index_uid, tail) = node_index_uid.rsplit_once(NODE_INDEX_SEPARATOR)?;
    if index_uid.is_empty() {
        return None;
    }
    let (layout, rank) = match tail.strip_prefix(LAYOUT_PREFIX) {
        Some(rest) => {
            let (shards, rank) = rest.split_once('-')?;
            (Some(parse_canonical_u32(shards)?), rank)
        }
        None => (None, tail),
    };
    let rank = parse_canonical_u32(rank.strip_prefix(RANK_PREFIX)?)?;
    Some((index_uid, layout, ReplicaRank(rank)))
}

#[cfg(test)]
mod tests;

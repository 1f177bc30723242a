//! The cluster's shape, as every Miroir process reads it from its launch configuration:
//! which Meilisearch nodes exist and in which replica group, how many shards (`S`) every
//! index is split into, and how many nodes of each group hold a shard (`RF`).
//!
//! Also the naming rules that tie a user index to its node indexes (`movies` holds its rank-0
//! copies on each node as `movies__rank-0`), and the field that records a document's shard.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// One of the cluster's `S` shards, `shard-0 … shard-{S-1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct ShardId(pub u32);

const SHARD_PREFIX: &str = "shard-";
/// Separator between the user's index uid and the shard name in a node index uid.
const NODE_INDEX_SEPARATOR: &str = "__";

impl ShardId {
    /// The shard's name, which is what placement hashes: `shard-<k>`.
    pub fn name(self) -> String {
        format!("{SHARD_PREFIX}{}", self.0)
    }

    /// Parses `shard-<k>` (canonical decimal, no sign or leading zeros).
    pub fn parse(name: &str) -> Option<ShardId> {
        let digits = name.strip_prefix(SHARD_PREFIX)?;
        parse_canonical_u32(digits).map(ShardId)
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHARD_PREFIX}{}", self.0)
    }
}

/// Only canonical decimal spellings parse, so a name maps back to exactly one number.
fn parse_canonical_u32(digits: &str) -> Option<u32> {
    let canonical = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if canonical {
        digits.parse().ok()
    } else {
        None
    }
}

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

/// The field of every document on the nodes that names its shard, so a node index holding
/// several shards can be searched, deleted from or counted for some of them. Miroir adds it as
/// documents reach the nodes and removes it from everything a client sees; a user document may
/// not have a field of that name.
pub const SHARD_FIELD: &str = "_miroir_shard";

/// The two characters [`ShardId::field_value`] writes a shard number with. Both are separators
/// for Meilisearch's tokenizer, so the value holds no word: no query can match a document by its
/// shard, and the field leaves ranking alone. (Measured on Meilisearch 1.50: `·`, `•`, `‧` and
/// `⁃` are separators; `¦` is not.)
const SHARD_DIGITS: [char; 2] = ['·', '•'];

/// Miroir's rule in every node index's `filterableAttributes`, always first (so the user's rules
/// keep their numbers, minus one, in node messages): the shard can be filtered on by equality,
/// and never shows among facet-searchable attributes.
pub fn shard_filter_rule() -> serde_json::Value {
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
            let rule = shard_filter_rule();
            serde_json::Value::Array(rules.iter().filter(|r| **r != rule).cloned().collect())
        }
        other => other.clone(),
    }
}

/// A filter (string, array or `null`, as the user sent it) narrowed to `shards`: Meilisearch
/// ANDs the elements of an array, and the shard condition goes last so a node prints the
/// user's part first in its errors (see [`client_message`]).
pub fn narrowed_to_shards(filter: &serde_json::Value, shards: &[ShardId]) -> serde_json::Value {
    use serde_json::Value;
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
/// first), and a filter Miroir narrowed to some shards is printed as the user wrote it.
pub fn client_message(message: &str) -> String {
    let renamed = rewrite_node_index_names(message);
    let mut lines: Vec<String> = renamed.split('\n').map(hide_shard_field).collect();
    if let Some(last) = lines.last_mut() {
        if let Some(unnarrowed) = without_shard_condition(last) {
            *last = unnarrowed;
        }
    }
    lines.join("\n")
}

/// One line of a node message without Miroir's filterable attribute and rule.
fn hide_shard_field(line: &str) -> String {
    let field = format!("`{SHARD_FIELD}`");
    let mut line = line.to_owned();
    for (list, none) in [
        ("Available filterable attribute patterns are: ", "This index does not have configured filterable attributes."),
        ("Available filterable attributes patterns are: ", "This index does not have configured filterable attributes."),
    ] {
        // "…: `_miroir_shard`, `genre`." or "…: `_miroir_shard, genre`."
        if let Some(start) = line.find(list) {
            let items_start = start + list.len();
            let Some(end) = line[items_start..].find('.').map(|at| items_start + at) else { continue };
            let items = &line[items_start..end];
            let kept = if items.starts_with(&format!("`{SHARD_FIELD}, ")) {
                items.replacen(&format!("{SHARD_FIELD}, "), "", 1)
            } else {
                items.split(", ").filter(|item| *item != field).collect::<Vec<_>>().join(", ")
            };
            let replacement = if kept.is_empty() || kept == field { none.to_owned() } else { format!("{list}{kept}.") };
            line = format!("{}{}{}", &line[..start], replacement, &line[end + 1..]);
        }
    }
    renumber_rules(&line)
}

/// `rule #N` → `rule #N-1`: Miroir's own rule is the first of every node index's list.
fn renumber_rules(line: &str) -> String {
    const RULE: &str = "rule #";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(RULE) {
        let after = &rest[at + RULE.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at + RULE.len()]);
        match after[..digits].parse::<u64>() {
            Ok(number) if number > 1 => out.push_str(&(number - 1).to_string()),
            _ => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// A filter position line `start:end (<user filter>) AND ("_miroir_shard" …)` as the node
/// prints a filter Miroir narrowed to some shards, back to `start-1:end-1 <user filter>`, what
/// the user's filter alone prints. `None` when the line is not such a line.
fn without_shard_condition(line: &str) -> Option<String> {
    let (span, expression) = line.split_once(' ')?;
    let (start, end) = span.split_once(':')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    let suffix_at = expression.rfind(&format!(") AND (\"{SHARD_FIELD}\" "))?;
    let user = expression.strip_prefix('(')?.get(..suffix_at - 1)?;
    Some(format!("{}:{} {user}", start.saturating_sub(1).max(1), end.saturating_sub(1).max(1)))
}

/// The inverse of [`node_index_uid`]: `movies__rank-1` → `("movies", ReplicaRank(1))`.
/// Splits at the last `__rank-`, so user uids that themselves contain `__` round-trip.
pub fn parse_node_index_uid(node_index_uid: &str) -> Option<(&str, ReplicaRank)> {
    let marker = format!("{NODE_INDEX_SEPARATOR}{RANK_PREFIX}");
    let (index_uid, digits) = node_index_uid.rsplit_once(&marker)?;
    if index_uid.is_empty() {
        return None;
    }
    parse_canonical_u32(digits).map(|rank| (index_uid, ReplicaRank(rank)))
}

/// One Meilisearch node.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Stable name of the node; placement hashes it, so renaming a node moves its shards.
    pub id: String,
    /// Base URL of the node's HTTP API.
    pub url: String,
    /// The replica group the node belongs to. Every group holds every shard.
    pub replica_group: String,
    /// Key Miroir uses to talk to the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

// Hand-written so a node's key never ends up in logs.
impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("replica_group", &self.replica_group)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The cluster's shape. Build it with [`Topology::new`], which checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "UncheckedTopology")]
pub struct Topology {
    /// Bumped by the operator on every change, so processes can tell which shape they run.
    pub version: u64,
    /// `S`: the number of shards every index is split into.
    pub shard_count: u32,
    /// `RF`: how many nodes of each replica group hold a shard.
    pub replication_factor: u32,
    pub nodes: Vec<Node>,
}

/// Why a topology was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("the shard count must be at least 1")]
    NoShards,
    #[error("the replication factor must be at least 1")]
    NoReplication,
    #[error("the topology has no nodes")]
    NoNodes,
    #[error("node ids must not be empty")]
    EmptyNodeId,
    #[error("node `{0}` has an empty replica group")]
    EmptyReplicaGroup(String),
    #[error("node id `{0}` appears more than once")]
    DuplicateNode(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UncheckedTopology {
    version: u64,
    shard_count: u32,
    replication_factor: u32,
    nodes: Vec<Node>,
}

impl TryFrom<UncheckedTopology> for Topology {
    type Error = TopologyError;
    fn try_from(t: UncheckedTopology) -> Result<Self, Self::Error> {
        Topology::new(t.version, t.shard_count, t.replication_factor, t.nodes)
    }
}

impl Topology {
    pub fn new(version: u64, shard_count: u32, replication_factor: u32, nodes: Vec<Node>) -> Result<Topology, TopologyError> {
        if shard_count == 0 {
            return Err(TopologyError::NoShards);
        }
        if replication_factor == 0 {
            return Err(TopologyError::NoReplication);
        }
        if nodes.is_empty() {
            return Err(TopologyError::NoNodes);
        }
        let mut seen = HashSet::new();
        for node in &nodes {
            if node.id.is_empty() {
                return Err(TopologyError::EmptyNodeId);
            }
            if node.replica_group.is_empty() {
                return Err(TopologyError::EmptyReplicaGroup(node.id.clone()));
            }
            if !seen.insert(node.id.as_str()) {
                return Err(TopologyError::DuplicateNode(node.id.clone()));
            }
        }
        Ok(Topology { version, shard_count, replication_factor, nodes })
    }

    /// `shard-0 … shard-{S-1}`.
    pub fn shards(&self) -> impl Iterator<Item = ShardId> + Clone {
        (0..self.shard_count).map(ShardId)
    }

    /// Replica group names, sorted.
    pub fn replica_groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = self.nodes.iter().map(|n| n.replica_group.as_str()).collect();
        groups.sort_unstable();
        groups.dedup();
        groups
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn node(id: &str, group: &str) -> Node {
        Node { id: id.into(), url: format!("http://{id}:7700"), replica_group: group.into(), api_key: None }
    }

    #[test]
    fn shard_names() {
        assert_eq!(ShardId(0).name(), "shard-0");
        assert_eq!(ShardId(12).to_string(), "shard-12");
        assert_eq!(ShardId::parse("shard-12"), Some(ShardId(12)));
        for bad in ["shard-", "shard-01", "shard--1", "shard-+1", "shard-1a", "shard-99999999999", "s-1"] {
            assert_eq!(ShardId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn node_index_uids() {
        assert_eq!(node_index_uid("movies", ReplicaRank(1)), "movies__rank-1");
        assert_eq!(parse_node_index_uid("movies__rank-1"), Some(("movies", ReplicaRank(1))));
        assert_eq!(parse_node_index_uid("a__rank-1__rank-2"), Some(("a__rank-1", ReplicaRank(2))));
        assert_eq!(parse_node_index_uid("movies"), None);
        assert_eq!(parse_node_index_uid("__rank-1"), None);
        assert_eq!(parse_node_index_uid("movies__rank-01"), None);
        assert_eq!(parse_node_index_uid("movies_rank-1"), None);
    }

    #[test]
    fn client_messages_hide_the_shard_field_as_a_node_without_it_words_them() {
        // Each pair: what a node with Miroir's rule first answered, what a node without it answers
        // (Meilisearch 1.50, the same documents and user settings).
        let cases = [
            (
                "Index `t__rank-0`: Attribute `year` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `genre`.\n2:6 \"year\" = \"1\"",
                "Index `t`: Attribute `year` is not filterable. Available filterable attribute patterns are: `genre`.\n2:6 \"year\" = \"1\"",
            ),
            (
                "Index `v__rank-1`: Attribute `year` is not filterable. Available filterable attribute patterns are: `_miroir_shard`.\n2:6 \"year\" = \"1\"",
                "Index `v`: Attribute `year` is not filterable. This index does not have configured filterable attributes.\n2:6 \"year\" = \"1\"",
            ),
            (
                "Invalid facet distribution: Pattern `year` is not filterable. Available filterable attributes patterns are: `_miroir_shard, genre`.",
                "Invalid facet distribution: Pattern `year` is not filterable. Available filterable attributes patterns are: `genre`.",
            ),
            (
                "Invalid facet distribution: Pattern `year` is not filterable. Available filterable attributes patterns are: `_miroir_shard`.",
                "Invalid facet distribution: Pattern `year` is not filterable. This index does not have configured filterable attributes.",
            ),
            (
                "Index `t`: Attribute `year` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `genre`.\n3:7 (\"year\" = \"1\") AND (\"_miroir_shard\" = \"·\")",
                "Index `t`: Attribute `year` is not filterable. Available filterable attribute patterns are: `genre`.\n2:6 \"year\" = \"1\"",
            ),
            (
                "  - Note: field `genre` matched rule #2 in `filterableAttributes`\n  - Hint: enable comparison in rule #2 by modifying the features.filter object",
                "  - Note: field `genre` matched rule #1 in `filterableAttributes`\n  - Hint: enable comparison in rule #1 by modifying the features.filter object",
            ),
        ];
        for (node, client) in cases {
            assert_eq!(client_message(node), client);
        }
        assert_eq!(client_message("nothing to see: rule #x, 1:2 a"), "nothing to see: rule #x, 1:2 a");
    }

    #[test]
    fn shard_field_values_are_separators_in_binary() {
        let values: Vec<String> = (0..6).map(|k| ShardId(k).field_value()).collect();
        assert_eq!(values, ["·", "•", "•·", "••", "•··", "•·•"]);
        for (k, value) in values.iter().enumerate() {
            assert_eq!(ShardId::from_field_value(value), Some(ShardId(k as u32)));
        }
        for bad in ["", "··", "·•", "x", "•x"] {
            assert_eq!(ShardId::from_field_value(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn node_index_uid_round_trips(uid in "[A-Za-z0-9_-]{1,64}", r in any::<u32>()) {
            let rank = ReplicaRank(r);
            let node_uid = node_index_uid(&uid, rank);
            prop_assert_eq!(parse_node_index_uid(&node_uid), Some((uid.as_str(), rank)));
        }

        #[test]
        fn shard_field_value_round_trips(k in any::<u32>()) {
            prop_assert_eq!(ShardId::from_field_value(&ShardId(k).field_value()), Some(ShardId(k)));
        }
    }

    #[test]
    fn topology_validation() {
        let ok = Topology::new(1, 4, 2, vec![node("a", "g1"), node("b", "g1")]).unwrap();
        assert_eq!(ok.shards().map(ShardId::name).collect::<Vec<_>>(), ["shard-0", "shard-1", "shard-2", "shard-3"]);
        assert_eq!(Topology::new(1, 0, 1, vec![node("a", "g")]), Err(TopologyError::NoShards));
        assert_eq!(Topology::new(1, 1, 0, vec![node("a", "g")]), Err(TopologyError::NoReplication));
        assert_eq!(Topology::new(1, 1, 1, vec![]), Err(TopologyError::NoNodes));
        assert_eq!(Topology::new(1, 1, 1, vec![node("a", "g"), node("a", "h")]), Err(TopologyError::DuplicateNode("a".into())));
        assert_eq!(Topology::new(1, 1, 1, vec![node("a", "")]), Err(TopologyError::EmptyReplicaGroup("a".into())));
    }

    #[test]
    fn topology_json_is_checked_and_hides_keys_from_debug() {
        let json = r#"{"version":3,"shardCount":2,"replicationFactor":1,
            "nodes":[{"id":"n1","url":"http://n1","replicaGroup":"g","apiKey":"secret"}]}"#;
        let topology: Topology = serde_json::from_str(json).unwrap();
        assert_eq!(topology.nodes[0].api_key.as_deref(), Some("secret"));
        assert!(!format!("{topology:?}").contains("secret"));
        let zero_shards = json.replace("\"shardCount\":2", "\"shardCount\":0");
        let err = serde_json::from_str::<Topology>(&zero_shards).unwrap_err();
        assert!(err.to_string().contains("shard count"), "{err}");
    }
}

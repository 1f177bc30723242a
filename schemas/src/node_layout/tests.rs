use super::*;
use proptest::prelude::*;

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
            "  - Note: field `genre` matched rule #1 in `filterableAttributes`\n  - Hint: enable comparison in rule #1 by modifying the features.filter object\n  - Hint: prepend another rule matching `genre` with appropriate filter features before rule #1",
            "  - Note: field `genre` matched rule #0 in `filterableAttributes`\n  - Hint: enable comparison in rule #0 by modifying the features.filter object\n  - Hint: prepend another rule matching `genre` with appropriate filter features before rule #0",
        ),
        (
            "  - Note: field `tags` matched rule #12 in `filterableAttributes`",
            "  - Note: field `tags` matched rule #11 in `filterableAttributes`",
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

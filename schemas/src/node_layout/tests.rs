use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};

#[test]
fn node_index_uids() {
    assert_eq!(node_index_uid("movies", ReplicaRank(1)), "movies__rank-1");
    assert_eq!(parse_node_index_uid("movies__rank-1"), Some(("movies", ReplicaRank(1))));
    assert_eq!(parse_node_index_uid("a__rank-1__rank-2"), Some(("a__rank-1", ReplicaRank(2))));
    assert_eq!(parse_node_index_uid("movies"), None);
    assert_eq!(parse_node_index_uid("__rank-1"), None);
    assert_eq!(parse_node_index_uid("movies__rank-01"), None);
    assert_eq!(parse_node_index_uid("movies_rank-1"), None);
    assert_eq!(layout_node_index_uid("movies", Some(12), ReplicaRank(1)), "movies__s12-rank-1");
    assert_eq!(parse_node_index_layout("movies__s12-rank-1"), Some(("movies", Some(12), ReplicaRank(1))));
    assert_eq!(parse_node_index_layout("a__s3-rank-0__rank-2"), Some(("a__s3-rank-0", None, ReplicaRank(2))));
    assert_eq!(parse_node_index_layout("movies__s012-rank-1"), None);
    assert_eq!(parse_node_index_layout("movies__s12rank-1"), None);
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
    fn layout_node_index_uid_round_trips(uid in "[A-Za-z0-9_-]{1,64}", r in any::<u32>(), layout in proptest::option::of(1u32..1000)) {
        let rank = ReplicaRank(r);
        let node_uid = layout_node_index_uid(&uid, layout, rank);
        prop_assert_eq!(parse_node_index_layout(&node_uid), Some((uid.as_str(), layout, rank)));
    }

    #[test]
    fn shard_field_value_round_trips(k in any::<u32>()) {
        prop_assert_eq!(ShardId::from_field_value(&ShardId(k).field_value()), Some(ShardId(k)));
    }
}

#[test]
fn a_client_naming_the_shard_field_gets_what_one_node_without_it_answers() {
    // Each pair: a node index with Miroir's rule asked the stand-in, one node (filterable
    // `genre`, no document with the field) asked the shard field (Meilisearch 1.50).
    let cases = [
        (
            "Index `m__rank-0`: Attribute `_miroir_unset` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `genre`.\n23:36 (\"genre\" = \"a\") AND (\"_miroir_unset\" EXISTS)",
            "Index `m`: Attribute `_miroir_shard` is not filterable. Available filterable attribute patterns are: `genre`.\n23:36 (\"genre\" = \"a\") AND (\"_miroir_shard\" EXISTS)",
        ),
        (
            "Invalid facet distribution: Pattern `_miroir_unset` is not filterable. Available filterable attributes patterns are: `_miroir_shard, genre`.",
            "Invalid facet distribution: Pattern `_miroir_shard` is not filterable. Available filterable attributes patterns are: `genre`.",
        ),
        (
            "Index `m__rank-0`: Attribute `_miroir_unset` is not filterable and thus, cannot be used as distinct attribute. Available filterable attributes patterns are: `_miroir_shard, genre`.",
            "Index `m`: Attribute `_miroir_shard` is not filterable and thus, cannot be used as distinct attribute. Available filterable attributes patterns are: `genre`.",
        ),
        (
            "Index `m__rank-0`: Attribute `_miroir_unset` is not sortable. This index does not have configured sortable attributes.",
            "Index `m`: Attribute `_miroir_shard` is not sortable. This index does not have configured sortable attributes.",
        ),
        (
            "Attribute `_miroir_unset` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `genre`.\n1:14 _miroir_unset = 1",
            "Attribute `_miroir_shard` is not filterable. Available filterable attribute patterns are: `genre`.\n1:14 _miroir_shard = 1",
        ),
        (
            "Attribute `_miroir_unset` is not facet-searchable. Available facet-searchable attributes patterns are: `genre`. To make it facet-searchable add it to the `filterableAttributes` index settings.",
            "Attribute `_miroir_shard` is not facet-searchable. Available facet-searchable attributes patterns are: `genre`. To make it facet-searchable add it to the `filterableAttributes` index settings.",
        ),
    ];
    for (node, one_node) in cases {
        assert_eq!(client_message(node), one_node);
    }
}

#[test]
fn filters_name_the_stand_in_where_they_name_the_shard_field() {
    let node = |filter: Value| filter_for_node(&filter);
    assert_eq!(node(json!("_miroir_shard = 1")), json!("_miroir_unset = 1"));
    assert_eq!(node(json!("genre = a AND \"_miroir_shard\" EXISTS")), json!("genre = a AND \"_miroir_unset\" EXISTS"));
    assert_eq!(node(json!(["genre = a", ["_miroir_shard.x = 2", "b = 1"]])), json!(["genre = a", ["_miroir_unset.x = 2", "b = 1"]]));
    assert_eq!(node(json!("NOT _miroir_shard IN [a, _miroir_shard]")), json!("NOT _miroir_unset IN [a, _miroir_shard]"));
    // values, other fields and unparsable filters are left alone
    assert_eq!(node(json!("title = _miroir_shard")), json!("title = _miroir_shard"));
    assert_eq!(node(json!("_miroir_shards = 1")), json!("_miroir_shards = 1"));
    assert_eq!(node(json!("_miroir_shard = ")), json!("_miroir_shard = "));
    assert_eq!(node(Value::Null), Value::Null);
    // the user's part of a narrowed filter too, never Miroir's own condition
    assert_eq!(narrowed_to_shards(&json!("_miroir_shard EXISTS"), &[ShardId(1)]), json!(["_miroir_unset EXISTS", "_miroir_shard = \"•\""]));
}

#[test]
fn requests_name_the_stand_in_in_every_parameter_that_names_attributes() {
    let request = json!({"q": "_miroir_shard", "filter": "_miroir_shard = 1", "facets": ["genre", "_miroir_shard"], "sort": ["_miroir_shard:asc", "year:desc"], "distinct": "_miroir_shard", "facetName": "_miroir_shard", "attributesToRetrieve": ["_miroir_shard"]});
    let expected = json!({"q": "_miroir_shard", "filter": "_miroir_unset = 1", "facets": ["genre", "_miroir_unset"], "sort": ["_miroir_unset:asc", "year:desc"], "distinct": "_miroir_unset", "facetName": "_miroir_unset", "attributesToRetrieve": ["_miroir_shard"]});
    assert_eq!(Value::Object(request_for_node(request.as_object().unwrap()).into_owned()), expected);
    let untouched = json!({"q": "x", "filter": "genre = a", "facets": ["*"]});
    assert!(matches!(request_for_node(untouched.as_object().unwrap()), std::borrow::Cow::Borrowed(_)));

    let multi = json!({"federation": {"distinct": "_miroir_shard", "facetsByIndex": {"m": ["_miroir_shard", "genre"]}}, "queries": [{"indexUid": "m", "filter": "_miroir_shard = 1"}]});
    let expected = json!({"federation": {"distinct": "_miroir_unset", "facetsByIndex": {"m": ["_miroir_unset", "genre"]}}, "queries": [{"indexUid": "m", "filter": "_miroir_unset = 1"}]});
    assert_eq!(Value::Object(multi_search_for_node(multi.as_object().unwrap()).into_owned()), expected);
    assert_eq!(attribute_for_client("_miroir_unset"), "_miroir_shard");
    assert_eq!(attribute_for_client("_miroir_unsettled"), "_miroir_unsettled");
    assert!(is_reserved_field("_miroir_shard") && is_reserved_field("_miroir_unset") && !is_reserved_field("_miroi"));
}

proptest! {
    /// Whatever field names a filter uses, the node's copy names the shard field nowhere and
    /// keeps its length (so node positions are the user's), and names the same fields otherwise.
    #[test]
    fn no_filter_sent_to_a_node_reads_the_shard_field(
        fields in prop::collection::vec(prop_oneof![Just("_miroir_shard".to_owned()), Just("\"_miroir_shard\"".to_owned()), Just("_miroir_shard.a".to_owned()), "[a-z_]{1,8}"], 1..5)
    ) {
        let expression = fields.iter().enumerate().map(|(i, f)| format!("{f} = {i}")).collect::<Vec<_>>().join(" OR ");
        let Value::String(sent) = filter_for_node(&Value::String(expression.clone())) else { unreachable!() };
        prop_assert_eq!(sent.len(), expression.len());
        let parsed = crate::filter::parse(&sent).unwrap().unwrap();
        for field in parsed.fields_in_check_order() {
            prop_assert!(field.value() != SHARD_FIELD && !field.value().starts_with("_miroir_shard."), "{} still reads {}", sent, field.value());
        }
        prop_assert_eq!(sent.replace(SHARD_FIELD_STAND_IN, SHARD_FIELD), expression);
    }
}

#[test]
fn client_messages_hide_the_ttl_field_and_condition() {
    // What a Meilisearch 1.50 node with Miroir's rule (shard and expiry) answered, and what the
    // client must see: the node without Miroir's fields and conditions.
    let cases = [
        (
            "Index `t__rank-0`: Attribute `price` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `_miroir_until`, `genre`.\n3:8 (\"price\" > \"3\") AND (NOT (\"_miroir_until\" <= \"3000\"))",
            "Index `t`: Attribute `price` is not filterable. Available filterable attribute patterns are: `genre`.\n2:7 \"price\" > \"3\"",
        ),
        (
            "Index `t`: Attribute `price` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `_miroir_until`, `genre`.\n3:8 (\"price\" > \"3\") AND (NOT (\"_miroir_until\" <= \"3000\")) AND (\"_miroir_shard\" = \"·\")",
            "Index `t`: Attribute `price` is not filterable. Available filterable attribute patterns are: `genre`.\n2:7 \"price\" > \"3\"",
        ),
        (
            "Index `t`: Attribute `year` is not filterable. Available filterable attribute patterns are: `_miroir_shard`, `_miroir_until`.\n2:6 \"year\" = \"1\"",
            "Index `t`: Attribute `year` is not filterable. This index does not have configured filterable attributes.\n2:6 \"year\" = \"1\"",
        ),
        (
            "Invalid facet distribution: Pattern `year` is not filterable. Available filterable attributes patterns are: `_miroir_shard, _miroir_until, genre`.",
            "Invalid facet distribution: Pattern `year` is not filterable. Available filterable attributes patterns are: `genre`.",
        ),
        (
            "Invalid facet distribution: Pattern `year` is not filterable. Available filterable attributes patterns are: `_miroir_shard, _miroir_until`.",
            "Invalid facet distribution: Pattern `year` is not filterable. This index does not have configured filterable attributes.",
        ),
    ];
    for (node, client) in cases {
        assert_eq!(client_message(node), client, "{node}");
    }
}

#[test]
fn miroirs_rule_covers_both_fields_and_is_hidden_in_either_version() {
    let legacy =
        json!({"attributePatterns": [SHARD_FIELD], "features": {"facetSearch": false, "filter": {"equality": true, "comparison": false}}});
    let node = json!([shard_filter_rule(), "genre"]);
    assert_eq!(without_shard_rule(&node), json!(["genre"]));
    assert_eq!(without_shard_rule(&json!([legacy, "genre"])), json!(["genre"]));
    assert_eq!(shard_filter_rule()["attributePatterns"], json!(["_miroir_shard", "_miroir_until"]));
    assert!(MIROIR_DOCUMENT_FIELDS.iter().all(|field| is_reserved_field(field) && is_miroir_document_field(field)));
    assert!(!is_miroir_document_field("_miroir_other"));
}

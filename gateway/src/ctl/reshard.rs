//! `miroirctl reshard …` and the reshard lines of `miroirctl status` for people
//! (docs/resharding.md).

use serde_json::Value;

use super::text;

/// A reshard's plan (`POST /_miroir/indexes/{uid}/reshard`, dry run or not) for people.
pub fn render_reshard_plan(plan: &Value) -> String {
    let verb = if plan["dryRun"] == true { "would be resharded" } else { "is being resharded" };
    let known = |value: &Value| if value.is_null() { "unknown".to_owned() } else { text(value) };
    format!(
        "index {} {verb} from {} to {} shards: {} documents copied into the new layout, {} replicas each;\n\
         about {} extra bytes on the nodes until the old layout is released\n",
        text(&plan["index"]),
        text(&plan["fromShards"]),
        text(&plan["toShards"]),
        known(&plan["documentsToCopy"]),
        text(&plan["replicasPerDocument"]),
        known(&plan["extraDiskBytes"]),
    )
}

/// The reshard in progress (`reshard` of `/_miroir/status`) as one line, empty when none.
pub fn reshard_line(reshard: &Value) -> String {
    if !reshard.is_object() {
        return String::new();
    }
    let phase = match (reshard["phase"].as_str(), reshard["switchedAt"].as_u64()) {
        (Some("switched"), Some(position)) => format!("switched at ops position {position}, old layout not released yet"),
        (Some("building"), _) => "building the new layout".to_owned(),
        _ => text(&reshard["phase"]),
    };
    format!(
        "resharding {} from {} to {} shards: {phase} (proposed {})\n",
        text(&reshard["index"]),
        text(&reshard["fromShards"]),
        text(&reshard["toShards"]),
        text(&reshard["proposedAt"]),
    )
}

/// The indexes whose shard count is not the cluster's launch one (`shardCounts`), one line,
/// empty when none.
pub fn shard_counts_line(counts: &Value) -> String {
    let counts: Vec<String> =
        counts.as_object().into_iter().flatten().map(|(index, shards)| format!("{index} ({})", text(shards))).collect();
    if counts.is_empty() {
        return String::new();
    }
    format!("resharded indexes (shards): {}\n", counts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plan_says_what_the_reshard_copies() {
        let plan = json!({"index": "movies", "fromShards": 4, "toShards": 12, "documentsToCopy": 1000, "extraDiskBytes": null,
            "replicasPerDocument": 2, "dryRun": true});
        assert_eq!(
            render_reshard_plan(&plan),
            "index movies would be resharded from 4 to 12 shards: 1000 documents copied into the new layout, 2 replicas each;\n\
             about unknown extra bytes on the nodes until the old layout is released\n"
        );
    }

    #[test]
    fn status_lines_show_the_reshard_and_the_shard_counts() {
        let building =
            json!({"index": "movies", "fromShards": 4, "toShards": 12, "phase": "building", "proposedAt": "2026-12-07T15:00:00Z"});
        assert_eq!(
            reshard_line(&building),
            "resharding movies from 4 to 12 shards: building the new layout (proposed 2026-12-07T15:00:00Z)\n"
        );
        let switched = json!({"index": "movies", "fromShards": 4, "toShards": 12, "phase": "switched", "switchedAt": 41,
            "proposedAt": "2026-12-07T15:00:00Z"});
        assert!(reshard_line(&switched).contains(": switched at ops position 41, old layout not released yet ("));
        assert_eq!(reshard_line(&Value::Null), "");
        assert_eq!(shard_counts_line(&json!({"books": 2, "movies": 12})), "resharded indexes (shards): books (2), movies (12)\n");
        assert_eq!(shard_counts_line(&json!({})), "");
        let status = super::super::render_status(&json!({"reshard": building, "shardCounts": {"books": 2}}));
        assert!(status.contains("\nresharding movies from 4 to 12 shards: building"), "{status}");
        assert!(status.contains("\nresharded indexes (shards): books (2)\n"), "{status}");
    }
}

//! What `miroirctl` prints: the admin API's JSON turned into tables for people. Pure: the
//! binary (`src/bin/miroirctl.rs`) does the HTTP and prints `--json` answers as they are.

use serde_json::Value;

pub mod aliases;
pub mod reshard;
pub mod topology;

/// Columns padded to their widest cell, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(header.iter().map(|h| (*h).to_owned()).collect())];
    out.extend(rows.iter().map(|row| line(row.clone())));
    out.join("\n") + "\n"
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// `GET /_miroir/status` for people.
pub fn render_status(status: &Value) -> String {
    let mut out = format!(
        "topology v{}: {} shards, replication factor {}, replica groups {}\nready: {}   log reachable: {}\n",
        text(&status["version"]),
        text(&status["shardCount"]),
        text(&status["replicationFactor"]),
        text(&status["replicaGroups"]),
        text(&status["ready"]),
        text(&status["log"]["reachable"]),
    );
    if let Some(error) = status["log"]["error"].as_str() {
        out += &format!("log error: {error}\n");
    }
    out += &topology::move_line(&status["move"]);
    out += &reshard::reshard_line(&status["reshard"]);
    out += &reshard::shard_counts_line(&status["shardCounts"]);
    let draining: Vec<String> =
        status["nodes"].as_array().into_iter().flatten().filter(|node| node["draining"] == true).map(|node| text(&node["id"])).collect();
    if !draining.is_empty() {
        out += &format!("draining (giving up their replicas): {}\n", draining.join(", "));
    }
    let unreachable = status["shardsWithoutReachableReplica"].as_array().map_or(0, Vec::len);
    if unreachable > 0 {
        out += &format!("shards without a reachable replica: {}\n", text(&status["shardsWithoutReachableReplica"]));
    }
    let lagging: Vec<String> = status["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|node| node["laggingPartitions"].as_array().is_some_and(|partitions| !partitions.is_empty()))
        .map(|node| format!("{} (ops partitions {})", text(&node["id"]), text(&node["laggingPartitions"])))
        .collect();
    if !lagging.is_empty() {
        out += &format!("lagging replicas (read only when no other can answer): {}\n", lagging.join("; "));
    }
    let nodes: Vec<Vec<String>> = status["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| {
            vec![text(&node["id"]), text(&node["replicaGroup"]), text(&node["reachable"]), text(&node["reads"]), text(&node["shards"])]
        })
        .collect();
    out += "\n";
    out += &table(&["NODE", "GROUP", "REACHABLE", "READS", "SHARDS"], &nodes);
    let indexers = &status["indexers"];
    out += &format!("\nindexers (group {}):", text(&indexers["group"]));
    if let Some(error) = indexers["error"].as_str() {
        return out + &format!(" unknown: {error}\n");
    }
    out += &format!(" total lag {}\n", text(&indexers["totalLag"]));
    let partitions: Vec<Vec<String>> = indexers["partitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| vec![text(&p["partition"]), text(&p["endOffset"]), text(&p["committed"]), text(&p["lag"]), text(&p["owner"])])
        .collect();
    out += &table(&["PARTITION", "END", "COMMITTED", "LAG", "OWNER"], &partitions);
    out + "\n" + &table(&["INDEXER", "PARTITIONS", "LAG"], &indexer_rows(indexers))
}

/// One row per owner (`-` for partitions no live indexer holds): the partitions it holds and
/// their summed lag, so an operator sees at a glance how a rebalance split the work.
fn indexer_rows(indexers: &Value) -> Vec<Vec<String>> {
    let mut owners: std::collections::BTreeMap<String, (Vec<String>, u64)> = std::collections::BTreeMap::new();
    for partition in indexers["partitions"].as_array().into_iter().flatten() {
        let (held, lag) = owners.entry(text(&partition["owner"])).or_default();
        held.push(text(&partition["partition"]));
        *lag += partition["lag"].as_u64().unwrap_or(0);
    }
    owners.into_iter().map(|(owner, (held, lag))| vec![owner, held.join(","), lag.to_string()]).collect()
}

/// `GET /tasks` for people: one line per task, then where the next page starts.
pub fn render_tasks(page: &Value) -> String {
    let rows: Vec<Vec<String>> = page["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            vec![
                text(&t["uid"]),
                text(&t["indexUid"]),
                text(&t["type"]),
                text(&t["status"]),
                text(&t["enqueuedAt"]),
                text(&t["error"]["code"]),
            ]
        })
        .collect();
    let mut out = table(&["UID", "INDEX", "TYPE", "STATUS", "ENQUEUED", "ERROR"], &rows);
    out += &format!("{} of {} tasks", rows.len(), text(&page["total"]));
    if let Some(next) = page["next"].as_u64() {
        out += &format!("; next page: --from {next}");
    }
    out + "\n"
}

/// `POST /_miroir/verify` for people: the totals, then every shard that is not consistent,
/// every node index whose settings differ and every mismatch listed.
pub fn render_verify(report: &Value) -> String {
    let t = &report["totals"];
    let mut out = format!(
        "verify{}: {} documents scanned, {} mismatched, {} repaired, {} unresolved; {} stray, {} deleted; settings {} mismatched, {} repaired; {} shards skipped ({} ms)\n",
        if report["repair"] == true { " --repair" } else { "" },
        text(&t["scannedDocuments"]),
        text(&t["mismatchedDocuments"]),
        text(&t["repairedDocuments"]),
        text(&t["unresolvedDocuments"]),
        text(&t["strayDocuments"]),
        text(&t["deletedStrays"]),
        text(&t["mismatchedSettings"]),
        text(&t["repairedSettings"]),
        text(&t["skippedShards"]),
        text(&report["durationMs"]),
    );
    let (mut shards, mut settings, mut mismatches) = (Vec::new(), Vec::new(), Vec::new());
    for index in report["indexes"].as_array().into_iter().flatten() {
        let name = text(&index["index"]);
        if let Some(error) = index["error"].as_str() {
            out += &format!("index {name}: {error}\n");
        }
        if let Some(error) = index["settings"]["error"].as_str() {
            out += &format!("index {name} settings not compared: {error}\n");
        }
        for stray in index["strays"].as_array().into_iter().flatten() {
            mismatches.push(vec![name.clone(), "-".to_owned(), text(&stray["node"]), "stray".to_owned(), text(&stray["id"])]);
        }
        for divergent in index["settings"]["divergent"].as_array().into_iter().flatten() {
            settings.push(vec![name.clone(), text(&divergent["node"]), text(&divergent["nodeIndex"]), text(&divergent["settings"])]);
        }
        for shard in index["shards"].as_array().into_iter().flatten().filter(|s| s["status"] != "consistent") {
            let replicas: Vec<String> = shard["replicas"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| format!("{}:{}", text(&r["node"]), text(&r["documents"])))
                .collect();
            shards.push(vec![
                name.clone(),
                text(&shard["shard"]),
                text(&shard["status"]),
                replicas.join(","),
                text(&shard["mismatched"]),
                text(&shard["repaired"]),
                text(&shard["unresolved"]),
                text(&shard["reason"]),
            ]);
            for mismatch in shard["mismatches"].as_array().into_iter().flatten() {
                mismatches.push(vec![
                    name.clone(),
                    text(&shard["shard"]),
                    text(&mismatch["node"]),
                    text(&mismatch["kind"]),
                    text(&mismatch["id"]),
                ]);
            }
        }
    }
    if !shards.is_empty() {
        out += "\n";
        out += &table(&["INDEX", "SHARD", "STATUS", "DOCUMENTS", "MISMATCHED", "REPAIRED", "UNRESOLVED", "REASON"], &shards);
    }
    if !settings.is_empty() {
        out += "\n";
        out += &table(&["INDEX", "NODE", "NODE INDEX", "SETTINGS DIFFERING"], &settings);
    }
    if !mismatches.is_empty() {
        out += "\n";
        out += &table(&["INDEX", "SHARD", "NODE", "MISMATCH", "DOCUMENT"], &mismatches);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_shows_nodes_and_lag_in_columns() {
        let status = json!({
            "version": 1, "shardCount": 3, "replicationFactor": 2, "replicaGroups": ["g0"],
            "ready": false, "log": {"reachable": true}, "shardsWithoutReachableReplica": [2],
            "nodes": [
                {"id": "n0", "replicaGroup": "g0", "reachable": true, "reads": "serving", "shards": [0, 1]},
                {"id": "node-long", "replicaGroup": "g0", "reachable": false, "reads": "benched", "shards": [2], "laggingPartitions": [1, 3]},
            ],
            "indexers": {"group": "miroir-indexer", "totalLag": 7, "partitions": [
                {"partition": 0, "endOffset": 10, "committed": 6, "lag": 4, "owner": "indexer-1"},
                {"partition": 1, "endOffset": 0, "committed": 0, "lag": 0, "owner": null},
                {"partition": 2, "endOffset": 7, "committed": 4, "lag": 3, "owner": "indexer-1"},
            ]},
        });
        let expected = "\
topology v1: 3 shards, replication factor 2, replica groups g0
ready: no   log reachable: yes
shards without a reachable replica: 2
lagging replicas (read only when no other can answer): node-long (ops partitions 1,3)

NODE       GROUP  REACHABLE  READS    SHARDS
n0         g0     yes        serving  0,1
node-long  g0     no         benched  2

indexers (group miroir-indexer): total lag 7
PARTITION  END  COMMITTED  LAG  OWNER
0          10   6          4    indexer-1
1          0    0          0    -
2          7    4          3    indexer-1

INDEXER    PARTITIONS  LAG
-          1           0
indexer-1  0,2         7
";
        assert_eq!(render_status(&status), expected);
        let unknown = json!({"indexers": {"group": "g", "error": "timed out"}});
        assert!(render_status(&unknown).ends_with("indexers (group g): unknown: timed out\n"));
    }

    #[test]
    fn tasks_show_one_line_each_and_the_next_page() {
        let page = json!({"results": [
            {"uid": 5, "indexUid": "movies", "type": "documentAdditionOrUpdate", "status": "failed", "enqueuedAt": "2026-12-07T03:00:00Z", "error": {"code": "invalid_document_id"}},
            {"uid": 4, "indexUid": null, "type": "taskDeletion", "status": "succeeded", "enqueuedAt": "2026-12-07T02:59:00Z", "error": null},
        ], "total": 9, "next": 3});
        let rendered = render_tasks(&page);
        assert!(
            rendered.contains("5    movies  documentAdditionOrUpdate  failed     2026-12-07T03:00:00Z  invalid_document_id"),
            "{rendered}"
        );
        assert!(rendered.contains("4    -       taskDeletion              succeeded  2026-12-07T02:59:00Z  -"), "{rendered}");
        assert!(rendered.ends_with("2 of 9 tasks; next page: --from 3\n"));
    }

    #[test]
    fn verify_shows_totals_and_only_what_differs() {
        let report = json!({"repair": true, "durationMs": 12, "totals": {
            "scannedDocuments": 60, "mismatchedDocuments": 3, "repairedDocuments": 3, "unresolvedDocuments": 0, "strayDocuments": 1, "deletedStrays": 1,
            "mismatchedSettings": 1, "repairedSettings": 1, "skippedShards": 0},
            "indexes": [{"index": "movies", "strays": [{"id": "x", "node": "n2", "nodeIndex": "movies__rank-0"}],
                "settings": {"divergent": [{"node": "n1", "nodeIndex": "movies__rank-0", "settings": ["stopWords"]}], "unresolved": [], "repaired": 1},
                "shards": [
                    {"shard": 0, "status": "consistent", "replicas": [], "mismatched": 0, "mismatches": [], "unresolved": [], "repaired": 0},
                    {"shard": 1, "status": "repaired", "replicas": [{"node": "n0", "documents": 10}, {"node": "n1", "documents": 11}],
                     "mismatched": 1, "mismatches": [{"id": "7", "node": "n1", "kind": "extra"}], "unresolved": [], "repaired": 1}]}]});
        let rendered = render_verify(&report);
        assert!(rendered.starts_with("verify --repair: 60 documents scanned, 3 mismatched, 3 repaired, 0 unresolved; 1 stray, 1 deleted; settings 1 mismatched, 1 repaired; 0 shards skipped (12 ms)\n"), "{rendered}");
        assert!(rendered.contains("movies  1      repaired  n0:10,n1:11  1           1                     -"), "{rendered}");
        assert!(!rendered.contains("consistent"), "{rendered}");
        assert!(rendered.contains("movies  n1    movies__rank-0  stopWords"), "{rendered}");
        assert!(rendered.contains("movies  1      n1    extra     7"), "{rendered}");
        assert!(rendered.contains("movies  -      n2    stray     x"), "{rendered}");
    }
}

//! `miroirctl topology`, `miroirctl nodes …` and `miroirctl rebalance plan|run …` for people:
//! the topology with its draining nodes and move, and the plan of a change with the documents
//! each copy moves (docs/topology.md).

use serde_json::Value;

use super::{table, text};

/// `GET /_miroir/topology` for people: the nodes (draining or not), which nodes hold each
/// shard, and the move in progress.
pub fn render_topology(topology: &Value) -> String {
    let mut out = format!("topology v{}\n", text(&topology["version"]));
    out += &move_line(&topology["move"]);
    let nodes: Vec<Vec<String>> = topology["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| vec![text(&n["id"]), text(&n["replicaGroup"]), text(&n["draining"]), text(&n["shards"])])
        .collect();
    out += &table(&["NODE", "GROUP", "DRAINING", "SHARDS"], &nodes);
    let shards: Vec<Vec<String>> =
        topology["shards"].as_array().into_iter().flatten().map(|s| vec![text(&s["shard"]), text(&s["replicas"])]).collect();
    out + "\n" + &table(&["SHARD", "REPLICAS"], &shards)
}

/// One line on the move in progress (`move` of `/_miroir/topology` and `/_miroir/status`),
/// empty when there is none.
pub fn move_line(moving: &Value) -> String {
    if !moving.is_object() {
        return String::new();
    }
    let count = |field: &str| moving[field].as_array().map_or(0, Vec::len);
    format!(
        "moving to topology v{}: {} (copied {}/{} ops partitions, released {}/{})\n",
        text(&moving["version"]),
        text(&moving["phase"]),
        count("copiedPartitions"),
        text(&moving["partitions"]),
        count("releasedPartitions"),
        text(&moving["partitions"]),
    )
}

/// A change's plan (`POST`/`DELETE /_miroir/topology/nodes…`, dry run or not) for people.
pub fn render_plan(plan: &Value) -> String {
    let verb = if plan["dryRun"] == true { "would become" } else { "becomes" };
    let mut out = format!(
        "{} {}: topology {verb} v{}; {} replicas move (ideal {}), {} node indexes filled ({} documents to copy), {} released\n",
        text(&plan["change"]),
        text(&plan["node"]),
        text(&plan["version"]),
        text(&plan["moved"]),
        ideal(&plan["ideal"]),
        plan["copies"].as_array().map_or(0, Vec::len),
        documents(&plan["documentsToCopy"]),
        plan["releases"].as_array().map_or(0, Vec::len),
    );
    let rows = |field: &str, what: &str| -> Vec<Vec<String>> {
        plan[field]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let count = if field == "copies" { documents(&r["documents"]) } else { "-".to_owned() };
                vec![what.to_owned(), text(&r["shard"]), text(&r["node"]), text(&r["rank"]), count]
            })
            .collect()
    };
    let mut all = rows("copies", "copy");
    all.extend(rows("releases", "release"));
    if !all.is_empty() {
        out += "\n";
        out += &table(&["STEP", "SHARD", "NODE", "RANK", "DOCUMENTS"], &all);
    }
    out
}

/// A document count of the plan; `null` is a count no replica answered.
fn documents(value: &Value) -> String {
    if value.is_null() {
        "unknown".to_owned()
    } else {
        text(value)
    }
}

/// A replica count that may be fractional (a fair share), with at most two decimals.
fn ideal(value: &Value) -> String {
    match value.as_f64() {
        Some(number) if number.fract() == 0.0 => format!("{number:.0}"),
        Some(number) => format!("{number:.2}"),
        None => text(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plan_lists_its_copies_and_releases() {
        let plan = json!({"version": 2, "change": "addNode", "node": "n4", "moved": 2, "ideal": 2.6666666, "dryRun": true,
            "copies": [{"shard": 3, "node": "n4", "rank": 0, "documents": 1200}, {"shard": 5, "node": "n4", "rank": 1, "documents": null}],
            "documentsToCopy": null, "releases": [{"shard": 3, "node": "n1", "rank": 0}]});
        let expected = "\
addNode n4: topology would become v2; 2 replicas move (ideal 2.67), 2 node indexes filled (unknown documents to copy), 1 released

STEP     SHARD  NODE  RANK  DOCUMENTS
copy     3      n4    0     1200
copy     5      n4    1     unknown
release  3      n1    0     -
";
        assert_eq!(render_plan(&plan), expected);
        let accepted = json!({"version": 3, "change": "drainNode", "node": "n1", "moved": 0, "ideal": 0.0, "dryRun": false,
            "copies": [], "documentsToCopy": 0, "releases": []});
        assert_eq!(
            render_plan(&accepted),
            "drainNode n1: topology becomes v3; 0 replicas move (ideal 0), 0 node indexes filled (0 documents to copy), 0 released\n"
        );
    }

    #[test]
    fn the_topology_shows_draining_nodes_and_the_move() {
        let topology = json!({"version": 2, "nodes": [
                {"id": "n0", "replicaGroup": "g", "draining": false, "shards": [0, 1]},
                {"id": "n1", "replicaGroup": "g", "draining": true, "shards": []}],
            "shards": [{"shard": 0, "replicas": ["n0"]}, {"shard": 1, "replicas": ["n0"]}],
            "move": {"version": 2, "phase": "copying", "partitions": 4, "copiedPartitions": [0, 2], "releasedPartitions": []}});
        let expected = "\
topology v2
moving to topology v2: copying (copied 2/4 ops partitions, released 0/4)
NODE  GROUP  DRAINING  SHARDS
n0    g      no        0,1
n1    g      yes

SHARD  REPLICAS
0      n0
1      n0
";
        assert_eq!(render_topology(&topology), expected);
        assert_eq!(move_line(&Value::Null), "");
        let status = super::super::render_status(&topology);
        assert!(status.contains("\nmoving to topology v2: copying (copied 2/4 ops partitions, released 0/4)\n"), "{status}");
        assert!(status.contains("\ndraining (giving up their replicas): n1\n"), "{status}");
    }
}

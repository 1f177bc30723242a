//! Settings drift: the settings of every node index of an index compared setting by setting;
//! with `repair`, the settings that differ sent to the node indexes that differ.

use miroir_schemas::drift::plan::plan_settings;
use miroir_schemas::drift::report::{DivergentSettings, SettingsReport};
use serde_json::{Map, Value};

use super::{node_indexes, wait_applied, Cluster, DriftError, VerifyOptions};

pub(super) async fn verify_settings(cluster: &Cluster<'_>, index: &str, options: &VerifyOptions) -> SettingsReport {
    match compare(cluster, index, options).await {
        Ok(report) => report,
        Err(error) => SettingsReport { error: Some(error.to_string()), ..SettingsReport::default() },
    }
}

async fn compare(cluster: &Cluster<'_>, index: &str, options: &VerifyOptions) -> Result<SettingsReport, DriftError> {
    let mut held = Vec::new();
    for (node, rank) in node_indexes(cluster.placement) {
        let client = &cluster.nodes[&node];
        let node_index = cluster.node_index_uid(index, rank);
        let settings: Map<String, Value> = match client.get_settings(&node_index).await? {
            Value::Object(settings) => settings,
            other => return Err(DriftError::Repair(format!("node {node} answered settings that are not an object: {other}"))),
        };
        held.push((node, node_index, settings));
    }
    let all: Vec<Map<String, Value>> = held.iter().map(|(_, _, settings)| settings.clone()).collect();
    let plan = plan_settings(&all);
    let mut report = SettingsReport { unresolved: plan.unresolved.iter().cloned().collect(), ..SettingsReport::default() };
    for ((node, node_index, _), patch) in held.iter().zip(&plan.patches) {
        if patch.is_empty() {
            continue;
        }
        report.divergent.push(DivergentSettings {
            node: node.clone(),
            node_index: node_index.clone(),
            settings: patch.keys().cloned().collect(),
        });
        if options.repair {
            let client = &cluster.nodes[node];
            let task = client.update_settings(node_index, &Value::Object(patch.clone())).await?;
            wait_applied(client, task.task_uid, options).await?;
            report.repaired += patch.len() as u64;
            tracing::info!(%node, %node_index, settings = ?patch.keys().collect::<Vec<_>>(), "node index settings repaired");
        }
    }
    Ok(report)
}

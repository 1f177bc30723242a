//! `compose/` cannot be run here (no Docker), so this checks what can be checked without it:
//! every file parses; every `MIROIR_*` variable the stacks set is a flag some Miroir process
//! reads; Prometheus scrapes exactly the metrics addresses the services listen on; every metric
//! the Grafana dashboard plots is in the metrics spec (`docs/metrics.md`); the nodes run the
//! Meilisearch version the gateway answers as; each log profile has its broker.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the integration crate sits in the workspace").to_owned()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    let mut documents = YamlLoader::load_from_str(&read(path)).unwrap_or_else(|e| panic!("{path} does not parse: {e}"));
    assert_eq!(documents.len(), 1, "{path}: one document");
    documents.remove(0)
}

/// Every `env = "MIROIR_…"` of the processes' flags (gateway, indexer, reconciler, shared).
fn flag_variables() -> BTreeSet<String> {
    fn scan(dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                scan(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                for (at, _) in source.match_indices("env = \"MIROIR_") {
                    let name = &source[at + "env = \"".len()..];
                    out.insert(name[..name.find('"').unwrap()].to_owned());
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for dir in ["gateway/src", "indexer/src", "reconciler/src", "clients/src"] {
        scan(&root().join(dir), &mut out);
    }
    out
}

/// `name → value` of a service's environment, the shared `x-miroir-env` block included.
fn environment(compose: &Yaml, service: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut add = |block: &Yaml| {
        if let Some(map) = block.as_hash() {
            for (name, value) in map {
                let value = match value {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(n) => n.to_string(),
                    other => format!("{other:?}"),
                };
                out.push((name.as_str().unwrap_or("<<").to_owned(), value));
            }
        }
    };
    add(&compose["x-miroir-env"]);
    add(&compose["services"][service]["environment"]);
    out
}

#[test]
fn the_stacks_agree_with_the_processes_and_the_metrics_spec() {
    let compose = yaml("compose/docker-compose.yml");
    let services = compose["services"].as_hash().expect("services");
    let flags = flag_variables();
    let mut metrics_addresses = BTreeSet::new();
    for service in ["gateway", "indexer", "reconciler"] {
        assert!(services.contains_key(&Yaml::String(service.into())), "no {service} service");
        for (name, value) in environment(&compose, service) {
            if name.starts_with("MIROIR_") {
                assert!(flags.contains(&name), "{service} sets {name}, which no Miroir process reads");
            }
            if name.ends_with("_METRICS_LISTEN") {
                let port = value.rsplit(':').next().unwrap().to_owned();
                metrics_addresses.insert(format!("{service}:{port}"));
            }
        }
    }
    assert_eq!(metrics_addresses.len(), 3, "every process serves metrics: {metrics_addresses:?}");

    // Each log profile has its broker, and the Miroir services start without the other one.
    for (profile, broker) in [("nats", "nats"), ("kafka", "redpanda")] {
        let profiles = compose["services"][broker]["profiles"].as_vec().unwrap_or_else(|| panic!("{broker} has no profiles"));
        assert!(profiles.contains(&Yaml::String(profile.into())), "{broker} not in profile {profile}");
        assert_eq!(compose["x-miroir"]["depends_on"][broker]["required"], Yaml::Boolean(false), "{broker} must be optional");
    }
    let image = compose["x-meili"]["image"].as_str().unwrap();
    assert_eq!(image, format!("getmeili/meilisearch:v{}", miroir_gateway::routes::health::MEILISEARCH_API_VERSION));

    // Prometheus scrapes what the services serve.
    let prometheus = yaml("compose/prometheus.yml");
    let scraped: BTreeSet<String> = prometheus["scrape_configs"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|job| job["static_configs"].as_vec().unwrap().iter().flat_map(|c| c["targets"].as_vec().unwrap()))
        .map(|target| target.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(scraped, metrics_addresses);
    for file in ["compose/grafana/provisioning/datasources/prometheus.yml", "compose/grafana/provisioning/dashboards/miroir.yml"] {
        yaml(file);
    }

    // Every metric the dashboard plots is specified.
    let spec = read("docs/metrics.md");
    let dashboard: serde_json::Value = serde_json::from_str(&read("compose/grafana/dashboards/miroir.json")).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    for panel in panels {
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        let names: Vec<&str> =
            expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|word| word.starts_with("miroir_")).collect();
        assert!(!names.is_empty(), "{expr} plots no Miroir metric");
        for name in names {
            assert!(spec.contains(&format!("| `{name}` |")), "the dashboard plots {name}, which docs/metrics.md does not list");
        }
    }
}

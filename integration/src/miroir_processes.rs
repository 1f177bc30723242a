//! Miroir's own processes (gateway, indexer, reconciler) as [`ManagedProcess`]es, configured
//! through the `MIROIR_*` environment every process of one cluster shares ([`ClusterSpec`]).

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use miroir_schemas::topology::Node;

use crate::brokers::LogKind;
use crate::locate::MiroirBinaries;
use crate::process::ManagedProcess;
use crate::wait::{wait_until, Deadline};

/// Nodes `node-0…` at `urls`, dealt into `groups` replica groups (node i joins `group-<i mod
/// groups>`), reached with the cluster's node key.
pub fn grouped_nodes(urls: &[String], groups: usize) -> Vec<Node> {
    urls.iter()
        .enumerate()
        .map(|(i, url)| Node { id: format!("node-{i}"), url: url.clone(), replica_group: format!("group-{}", i % groups), api_key: None })
        .collect()
}

/// The configuration every Miroir process of one cluster shares.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub nodes: Vec<Node>,
    /// The key Miroir sends to the nodes.
    pub node_key: Option<String>,
    pub shards: u32,
    pub replication_factor: u32,
    pub log: LogKind,
    /// NATS URL or Kafka bootstrap servers.
    pub log_url: String,
    pub topic_prefix: String,
    /// The key clients use with the gateway.
    pub master_key: Option<String>,
    /// Further `MIROIR_*` settings (partition counts, timeouts) for every process.
    pub extra_env: Vec<(String, String)>,
}

impl ClusterSpec {
    /// The `MIROIR_*` variables that carry this spec to every process.
    pub fn env(&self) -> Vec<(String, String)> {
        let nodes: Vec<String> = self.nodes.iter().map(|n| format!("{}={}@{}", n.id, n.url, n.replica_group)).collect();
        let mut env = vec![
            ("MIROIR_NODES", nodes.join(",")),
            ("MIROIR_SHARDS", self.shards.to_string()),
            ("MIROIR_REPLICATION_FACTOR", self.replication_factor.to_string()),
            ("MIROIR_LOG_BACKEND", self.log.as_str().to_owned()),
            ("MIROIR_LOG_URL", self.log_url.clone()),
            ("MIROIR_TOPIC_PREFIX", self.topic_prefix.clone()),
        ];
        if let Some(key) = &self.node_key {
            env.push(("MIROIR_NODE_KEY", key.clone()));
        }
        if let Some(key) = &self.master_key {
            env.push(("MIROIR_MASTER_KEY", key.clone()));
        }
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).chain(self.extra_env.iter().cloned()).collect()
    }

    /// `binary` with this spec's environment and the caller's `RUST_LOG` (default `info`).
    pub fn command(&self, binary: &Path) -> Command {
        let mut command = Command::new(binary);
        command.envs(self.env()).env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        command
    }
}

/// A running gateway, indexer and reconciler. Fields drop in declaration order: the gateway
/// stops first, so no new write is accepted while the workers stop.
pub struct MiroirProcesses {
    pub gateway: ManagedProcess,
    pub indexer: ManagedProcess,
    pub reconciler: ManagedProcess,
    pub gateway_url: String,
    /// The gateway's operations listener: `/metrics` and `/ready`.
    pub gateway_metrics_url: String,
}

impl MiroirProcesses {
    /// Starts the three processes with `spec`, the gateway listening on `gateway_port` (and
    /// serving metrics and readiness on a free port); their output goes to `<log_dir>/<name>.log`.
    pub fn start(binaries: &MiroirBinaries, spec: &ClusterSpec, gateway_port: u16, log_dir: &Path) -> Result<Self> {
        fs::create_dir_all(log_dir)?;
        let metrics_port = crate::nodes::free_port()?;
        let mut gateway = spec.command(&binaries.gateway);
        gateway.env("MIROIR_LISTEN", format!("127.0.0.1:{gateway_port}"));
        gateway.env("MIROIR_GATEWAY_METRICS_LISTEN", format!("127.0.0.1:{metrics_port}"));
        Ok(MiroirProcesses {
            gateway: ManagedProcess::spawn("gateway", gateway, &log_dir.join("gateway.log"))?,
            indexer: ManagedProcess::spawn("indexer", spec.command(&binaries.indexer), &log_dir.join("indexer.log"))?,
            reconciler: ManagedProcess::spawn("reconciler", spec.command(&binaries.reconciler), &log_dir.join("reconciler.log"))?,
            gateway_url: format!("http://127.0.0.1:{gateway_port}"),
            gateway_metrics_url: format!("http://127.0.0.1:{metrics_port}"),
        })
    }

    /// The three processes, gateway first.
    pub fn all(&self) -> [&ManagedProcess; 3] {
        [&self.gateway, &self.indexer, &self.reconciler]
    }

    /// The three processes, to supervise them.
    pub fn all_mut(&mut self) -> [&mut ManagedProcess; 3] {
        [&mut self.gateway, &mut self.indexer, &mut self.reconciler]
    }

    /// Fails with the output of the first process that exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for process in [&mut self.gateway, &mut self.indexer, &mut self.reconciler] {
            process.check_alive()?;
        }
        Ok(())
    }

    /// Waits until the gateway answers `/health` with 200, failing early (with the process's
    /// output) if any process exits.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let url = self.gateway_url.clone();
        wait_gateway_healthy(&url, timeout, || self.check_alive()).await
    }
}

/// Waits until the gateway at `url` answers `/health` with 200; `alive` fails early (with a
/// process's output) when a process it watches exited.
pub async fn wait_gateway_healthy(url: &str, timeout: Duration, mut alive: impl FnMut() -> Result<()>) -> Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let health = format!("{url}/health");
    let message = format!("the gateway did not answer {health}");
    wait_until(Deadline::after(timeout), message, async || {
        alive()?;
        let healthy = client.get(&health).send().await.is_ok_and(|response| response.status().is_success());
        Ok(if healthy { Some(()) } else { None }.into())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_travels_as_miroir_environment() {
        let spec = ClusterSpec {
            nodes: vec![Node { id: "n0".into(), url: "http://127.0.0.1:1".into(), replica_group: "g0".into(), api_key: None }],
            node_key: Some("nk".into()),
            shards: 3,
            replication_factor: 1,
            log: LogKind::Kafka,
            log_url: "127.0.0.1:9092".into(),
            topic_prefix: "dev".into(),
            master_key: None,
            extra_env: vec![("MIROIR_POLL_MAX".into(), "10".into())],
        };
        let env = spec.env();
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MIROIR_NODES"), Some("n0=http://127.0.0.1:1@g0"));
        assert_eq!(get("MIROIR_LOG_BACKEND"), Some("kafka"));
        assert_eq!(get("MIROIR_NODE_KEY"), Some("nk"));
        assert_eq!(get("MIROIR_MASTER_KEY"), None);
        assert_eq!(get("MIROIR_POLL_MAX"), Some("10"));
    }
}

//! The one way tests, benchmarks and the `miroir-dev` launcher start a whole cluster on
//! loopback: a broker, real Meilisearch nodes and (unless a test starts its own) the gateway,
//! indexer and reconciler.
//!
//! ```ignore
//! let cluster = Cluster::builder(LogKind::Nats).nodes(3).shards(7).replication_factor(2).start().await?;
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use miroir_clients::node::{NodeClient, NodeClientConfig};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::Topology;

use crate::brokers::{Broker, LogKind};
use crate::delay_proxy::DelayProxy;
use crate::locate::{meilisearch_binary, MiroirBinaries};
use crate::miroir_processes::{grouped_nodes, wait_gateway_healthy, ClusterSpec, MiroirProcesses};
use crate::nodes::{free_port, MeiliNodes};
use crate::process::ManagedProcess;

/// How long a freshly started cluster may take to answer `/health`.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// What [`ClusterBuilder::start`] starts; every setting has a default that suits a test.
pub struct ClusterBuilder {
    log: LogKind,
    nodes: usize,
    replica_groups: usize,
    shards: u32,
    replication_factor: u32,
    node_key: String,
    master_key: Option<String>,
    topic_prefix: String,
    extra_env: Vec<(String, String)>,
    start_miroir: bool,
    gateway_port: Option<u16>,
    data_dir: Option<PathBuf>,
    meilisearch: Option<PathBuf>,
    binaries: Option<MiroirBinaries>,
    slowed_node: Option<usize>,
}

impl ClusterBuilder {
    /// Meilisearch nodes (default 3).
    pub fn nodes(self, nodes: usize) -> Self {
        ClusterBuilder { nodes, ..self }
    }

    /// Replica groups the nodes are dealt into (default 1).
    pub fn replica_groups(self, replica_groups: usize) -> Self {
        ClusterBuilder { replica_groups, ..self }
    }

    /// `S`, shards per index (default 3).
    pub fn shards(self, shards: u32) -> Self {
        ClusterBuilder { shards, ..self }
    }

    /// `RF`, replicas of each shard in each group (default 1).
    pub fn replication_factor(self, replication_factor: u32) -> Self {
        ClusterBuilder { replication_factor, ..self }
    }

    /// The nodes' master key, which Miroir sends them (default: a distinctive random one, so
    /// any place it shows up can be found).
    pub fn node_key(self, key: &str) -> Self {
        ClusterBuilder { node_key: key.to_owned(), ..self }
    }

    /// The key clients give the gateway (default: none).
    pub fn master_key(self, key: &str) -> Self {
        ClusterBuilder { master_key: Some(key.to_owned()), ..self }
    }

    /// The log's topic prefix (default `miroir`).
    pub fn topic_prefix(self, prefix: &str) -> Self {
        ClusterBuilder { topic_prefix: prefix.to_owned(), ..self }
    }

    /// One more `MIROIR_*` setting for every Miroir process.
    pub fn env(mut self, key: &str, value: impl ToString) -> Self {
        self.extra_env.push((key.to_owned(), value.to_string()));
        self
    }

    /// Starts no gateway, indexer or reconciler: the test starts its own indexers
    /// ([`Cluster::spawn_indexer`]).
    pub fn without_miroir(self) -> Self {
        ClusterBuilder { start_miroir: false, ..self }
    }

    /// The gateway's port (default: a free one).
    pub fn gateway_port(self, port: u16) -> Self {
        ClusterBuilder { gateway_port: Some(port), ..self }
    }

    /// Where node data and process output go (default: a temporary directory, kept when
    /// `MIROIR_KEEP_LOGS` is set).
    pub fn data_dir(self, dir: &Path) -> Self {
        ClusterBuilder { data_dir: Some(dir.to_owned()), ..self }
    }

    /// The Meilisearch binary (default: [`meilisearch_binary`]).
    pub fn meilisearch(self, binary: &Path) -> Self {
        ClusterBuilder { meilisearch: Some(binary.to_owned()), ..self }
    }

    /// Miroir's binaries (default: those beside the running executable).
    pub fn binaries(self, binaries: MiroirBinaries) -> Self {
        ClusterBuilder { binaries: Some(binaries), ..self }
    }

    /// Puts a [`DelayProxy`] in front of node `node`: Miroir reaches it only through the proxy,
    /// whose delay ([`Cluster::delay_proxy`]) starts at zero.
    pub fn slowed_node(self, node: usize) -> Self {
        ClusterBuilder { slowed_node: Some(node), ..self }
    }

    /// Starts the broker, the nodes and the Miroir processes, and waits until the gateway
    /// answers `/health`.
    pub async fn start(self) -> Result<Cluster> {
        let binaries = match self.binaries {
            Some(binaries) => binaries,
            None => MiroirBinaries::beside_current_exe()?,
        };
        let meilisearch = match self.meilisearch {
            Some(binary) => binary,
            None => meilisearch_binary()?,
        };
        let (dir, temp) = match self.data_dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new().prefix("miroir-cluster-").tempdir()?;
                (temp.path().to_owned(), Some(temp))
            }
        };
        let temp = match temp {
            Some(temp) if std::env::var_os("MIROIR_KEEP_LOGS").is_some() => {
                eprintln!("process output kept in {}", temp.keep().display());
                None
            }
            temp => temp,
        };
        let broker = Broker::start(self.log)?;
        let nodes = MeiliNodes::start(&meilisearch, self.nodes, &dir.join("nodes"), &self.node_key).await?;
        let mut urls = nodes.urls().to_vec();
        let delay_proxy = match self.slowed_node {
            Some(node) => {
                let proxy = DelayProxy::start(urls[node].trim_start_matches("http://")).await?;
                urls[node] = proxy.url().to_owned();
                Some(proxy)
            }
            None => None,
        };
        let spec = ClusterSpec {
            nodes: grouped_nodes(&urls, self.replica_groups),
            node_key: Some(self.node_key),
            shards: self.shards,
            replication_factor: self.replication_factor,
            log: self.log,
            log_url: broker.url().to_owned(),
            topic_prefix: self.topic_prefix,
            master_key: self.master_key,
            extra_env: self.extra_env,
        };
        let log_dir = dir.join("logs");
        let miroir = if self.start_miroir {
            let port = match self.gateway_port {
                Some(port) => port,
                None => free_port()?,
            };
            let mut miroir = MiroirProcesses::start(&binaries, &spec, port, &log_dir)?;
            miroir.wait_healthy(HEALTH_TIMEOUT).await?;
            Some(miroir)
        } else {
            std::fs::create_dir_all(&log_dir)?;
            None
        };
        Ok(Cluster { miroir, delay_proxy, nodes, broker, spec, binaries, log_dir, _temp: temp })
    }
}

/// A running cluster. Fields drop in declaration order: Miroir's processes, then the nodes,
/// then the broker, then the directory holding data and logs.
pub struct Cluster {
    /// `None` when built [`ClusterBuilder::without_miroir`].
    pub miroir: Option<MiroirProcesses>,
    /// In front of the node [`ClusterBuilder::slowed_node`] named.
    pub delay_proxy: Option<DelayProxy>,
    pub nodes: MeiliNodes,
    pub broker: Broker,
    pub spec: ClusterSpec,
    binaries: MiroirBinaries,
    log_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// A cluster on `log` with the defaults of [`ClusterBuilder`].
    pub fn builder(log: LogKind) -> ClusterBuilder {
        ClusterBuilder {
            log,
            nodes: 3,
            replica_groups: 1,
            shards: 3,
            replication_factor: 1,
            node_key: format!("node-secret-{}", uuid::Uuid::new_v4().simple()),
            master_key: None,
            topic_prefix: "miroir".into(),
            extra_env: Vec::new(),
            start_miroir: true,
            gateway_port: None,
            data_dir: None,
            meilisearch: None,
            binaries: None,
            slowed_node: None,
        }
    }

    /// The proxy in front of the slowed node ([`ClusterBuilder::slowed_node`]).
    pub fn delay_proxy(&self) -> &DelayProxy {
        self.delay_proxy.as_ref().expect("the cluster was built without a slowed node")
    }

    /// The gateway, indexer and reconciler.
    pub fn miroir(&mut self) -> &mut MiroirProcesses {
        self.miroir.as_mut().expect("the cluster was built without Miroir processes")
    }

    pub fn gateway_url(&self) -> &str {
        &self.miroir.as_ref().expect("the cluster was built without Miroir processes").gateway_url
    }

    /// The Miroir binaries this cluster runs (and `miroirctl` beside them).
    pub fn binaries(&self) -> &MiroirBinaries {
        &self.binaries
    }

    /// Runs `miroirctl` against the gateway with the cluster's master key; its standard output,
    /// after checking it succeeded.
    pub fn miroirctl(&self, args: &[&str]) -> String {
        let mut command = std::process::Command::new(&self.binaries().miroirctl);
        command.args(["--url", self.gateway_url()]);
        if let Some(key) = &self.spec.master_key {
            command.args(["--master-key", key]);
        }
        let output = command.args(args).output().expect("running miroirctl");
        assert!(output.status.success(), "miroirctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("miroirctl prints UTF-8")
    }

    /// The gateway's operations listener (`/metrics`, `/ready`).
    pub fn gateway_metrics_url(&self) -> &str {
        &self.miroir.as_ref().expect("the cluster was built without Miroir processes").gateway_metrics_url
    }

    /// The nodes' master key, which only Miroir may know.
    pub fn node_key(&self) -> &str {
        self.spec.node_key.as_deref().expect("a cluster always has a node key")
    }

    /// Where the processes' output goes (`gateway.log`, `indexer.log`, …).
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// Everything process `name` (`gateway`, `indexer`, `reconciler`) wrote so far.
    pub fn process_output(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_dir.join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Where every shard lives, as every Miroir process of the cluster computes it.
    pub fn placement(&self) -> Placement {
        Placement::new(Topology::new(1, self.spec.shards, self.spec.replication_factor, self.spec.nodes.clone()).expect("a valid topology"))
    }

    /// A client of every node, with the node key, in node order.
    pub fn node_clients(&self) -> Vec<NodeClient> {
        let config =
            |node: &miroir_schemas::topology::Node| NodeClientConfig::new(node.id.clone(), node.url.clone(), Some(self.node_key().into()));
        self.spec.nodes.iter().map(|node| NodeClient::new(config(node)).expect("a node client")).collect()
    }

    /// Starts one more `miroir-gateway` with the cluster's configuration on a free port; returns
    /// it and its URL (wait for its `/health` before use). Its output goes to `<name>.log`.
    pub fn spawn_gateway(&self, name: &str) -> Result<(ManagedProcess, String)> {
        self.spawn_gateway_with(name, &[])
    }

    /// [`Cluster::spawn_gateway`] with `env` on top of the cluster's configuration.
    pub fn spawn_gateway_with(&self, name: &str, env: &[(&str, String)]) -> Result<(ManagedProcess, String)> {
        let port = free_port()?;
        let mut command = self.spec.command(&self.binaries.gateway);
        command.envs(env.iter().map(|(key, value)| (key, value)));
        command.env("MIROIR_LISTEN", format!("127.0.0.1:{port}"));
        let process = ManagedProcess::spawn(name, command, &self.log_dir.join(format!("{name}.log"))).context("starting miroir-gateway")?;
        Ok((process, format!("http://127.0.0.1:{port}")))
    }

    /// [`Cluster::spawn_gateway_with`], then waits until it answers `/health`.
    pub async fn start_gateway_with(&self, name: &str, env: &[(&str, String)]) -> Result<(ManagedProcess, String)> {
        let (mut process, url) = self.spawn_gateway_with(name, env)?;
        wait_gateway_healthy(&url, HEALTH_TIMEOUT, || process.check_alive()).await?;
        Ok((process, url))
    }

    /// Starts one more `miroir-indexer` with the cluster's configuration and `env`; its output
    /// goes to `<name>.log`.
    pub fn spawn_indexer(&self, name: &str, env: &[(&str, String)]) -> Result<ManagedProcess> {
        let mut command = self.spec.command(&self.binaries.indexer);
        command.envs(env.iter().map(|(key, value)| (key, value)));
        ManagedProcess::spawn(name, command, &self.log_dir.join(format!("{name}.log"))).context("starting miroir-indexer")
    }
}

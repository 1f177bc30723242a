//! A whole Miroir cluster for the write-path end-to-end tests: a broker (nats-server behind a
//! fixed-port forwarder, or Tansu), 3 real Meilisearch nodes,
//! and the gateway, indexer and reconciler as child processes, with hooks to crash and
//! restart the indexer, pause a node and crash the broker.
#![allow(dead_code)] // each test file uses a different part

pub mod contents;
pub mod corpus;
pub mod gateway;
pub mod proxy;
pub mod scenarios;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use miroir_clients::node::{NodeClient, NodeClientConfig};
use miroir_integration::brokers::{NatsServer, Tansu};
use miroir_integration::cluster::{ClusterSpec, LogKind, ManagedProcess, MiroirBinaries, MiroirProcesses, HEALTH_TIMEOUT};
use miroir_integration::nodes::{find_meilisearch, free_port, MeiliNodes};
use miroir_schemas::placement::Placement;
use miroir_schemas::topology::{Node, Topology};

use gateway::Gateway;
use proxy::Forwarder;

/// The key clients give the gateway.
pub const MASTER_KEY: &str = "e2e-write-master-key";
/// The nodes' master key, which Miroir sends to them.
pub const NODE_KEY: &str = "e2e-write-node-key";
pub const NODE_COUNT: usize = 3;
pub const SHARDS: u32 = 7;
/// Bound on waiting for one task: turns a hang into a failure, not a speed claim.
pub const TASK_BOUND: Duration = Duration::from_secs(300);

/// The broker and what must stay alive with it.
enum Broker {
    Nats { server: NatsServer, forwarder: Forwarder },
    Kafka(Tansu),
}

/// Fields drop in declaration order: Miroir's processes, then the nodes, then the broker.
pub struct Cluster {
    pub miroir: MiroirProcesses,
    pub nodes: MeiliNodes,
    broker: Broker,
    pub spec: ClusterSpec,
    binaries: MiroirBinaries,
    pub gateway: Gateway,
    pub node_clients: Vec<NodeClient>,
    pub placement: Placement,
    log_dir: PathBuf,
    /// `None` when `MIROIR_E2E_KEEP_LOGS` asks to keep the processes' output after the test.
    _logs: Option<tempfile::TempDir>,
}

/// The cargo profile directory of this test executable (`target/<profile>`, the parent of `deps`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_owned()
}

/// The gateway, indexer and reconciler of this profile; they belong to other packages, so cargo
/// does not build them for this test.
fn binaries() -> MiroirBinaries {
    MiroirBinaries::in_dir(&profile_dir())
        .unwrap_or_else(|e| panic!("{e:#}\n(run `cargo build --workspace --bins` with the same profile and CARGO_TARGET_DIR first)"))
}

impl Cluster {
    /// Starts a cluster of [`NODE_COUNT`] nodes in one replica group, [`SHARDS`] shards and
    /// replication factor `rf` on `log`, and waits for the gateway's `/health`.
    pub async fn start(log: LogKind, rf: u32) -> Cluster {
        let binaries = binaries();
        let logs = tempfile::Builder::new().prefix("miroir-e2e-write-").tempdir().expect("a temp dir");
        let log_dir = logs.path().to_owned();
        let logs = if std::env::var_os("MIROIR_E2E_KEEP_LOGS").is_some() {
            eprintln!("process output kept in {}", logs.keep().display());
            None
        } else {
            Some(logs)
        };
        let meilisearch = find_meilisearch().expect("the Meilisearch binary");
        let nodes = MeiliNodes::start(&meilisearch, NODE_COUNT, &log_dir.join("nodes"), NODE_KEY).await.expect("starting the nodes");
        let (broker, log_url) = match log {
            LogKind::Nats => {
                let server = NatsServer::start().expect("starting nats-server");
                let forwarder = Forwarder::start(host_port(server.url())).await;
                let url = format!("nats://127.0.0.1:{}", forwarder.port());
                (Broker::Nats { server, forwarder }, url)
            }
            LogKind::Kafka => {
                let tansu = Tansu::start().expect("starting Tansu");
                let url = tansu.bootstrap().to_owned();
                (Broker::Kafka(tansu), url)
            }
        };
        let topology_nodes: Vec<Node> = nodes
            .urls()
            .iter()
            .enumerate()
            .map(|(i, url)| Node { id: format!("node-{i}"), url: url.clone(), replica_group: "g0".into(), api_key: Some(NODE_KEY.into()) })
            .collect();
        let spec = ClusterSpec {
            nodes: topology_nodes.clone(),
            node_key: Some(NODE_KEY.into()),
            shards: SHARDS,
            replication_factor: rf,
            log,
            log_url,
            topic_prefix: "e2e".into(),
            master_key: Some(MASTER_KEY.into()),
        };
        let port = free_port().expect("a free port");
        let mut miroir = MiroirProcesses::start(&binaries, &spec, port, &log_dir).expect("starting gateway, indexer and reconciler");
        miroir.wait_healthy(HEALTH_TIMEOUT).await.expect("the gateway answers /health");
        let gateway = Gateway::new(&miroir.gateway_url, MASTER_KEY);
        let node_clients = topology_nodes
            .iter()
            .map(|n| NodeClient::new(NodeClientConfig::new(n.id.clone(), n.url.clone(), Some(NODE_KEY.into()))).expect("a node client"))
            .collect();
        let placement = Placement::new(Topology::new(1, SHARDS, rf, topology_nodes).expect("a valid topology"));
        Cluster { miroir, nodes, broker, spec, binaries, gateway, node_clients, placement, log_dir, _logs: logs }
    }

    /// Where the processes' output goes (`gateway.log`, `indexer.log`, …).
    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// SIGKILL to the indexer, as in a crash (no shutdown work happens), and reaps it.
    pub fn kill9_indexer(&mut self) {
        let pid = self.miroir.indexer.pid();
        signal(pid, "KILL");
        while self.miroir.indexer.exited().is_none() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts a new indexer with the cluster's configuration (its output appended to the same log).
    pub fn restart_indexer(&mut self) {
        let mut command = Command::new(&self.binaries.indexer);
        command.envs(self.spec.env()).env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        let indexer = ManagedProcess::spawn("indexer", command, &self.log_dir.join("indexer.log")).expect("restarting the indexer");
        // Replacing the handle drops (and reaps) the dead one.
        self.miroir.indexer = indexer;
    }

    /// Freezes node `i` with SIGSTOP: it keeps its port and data but answers nothing, like a
    /// hung or partitioned node: the worst case for an HTTP client, which connects and then
    /// waits.
    pub fn pause_node(&self, i: usize) {
        signal(self.node_pid(i), "STOP");
    }

    /// Resumes node `i` after [`Cluster::pause_node`].
    pub fn resume_node(&self, i: usize) {
        signal(self.node_pid(i), "CONT");
    }

    /// The pid of node `i`, found by its `--http-addr` (the node harness keeps pids private).
    fn node_pid(&self, i: usize) -> u32 {
        let address = self.nodes.urls()[i].trim_start_matches("http://").to_owned();
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            if args.windows(2).any(|w| w[0] == b"--http-addr" && w[1] == address.as_bytes()) {
                found.push(pid);
            }
        }
        assert_eq!(found.len(), 1, "expected one process serving {address}, found {found:?}");
        found[0]
    }

    /// SIGKILL to nats-server (a crash: nothing is flushed beyond what JetStream already synced).
    pub fn kill9_broker(&mut self) {
        match &mut self.broker {
            Broker::Nats { server, .. } => server.kill9(),
            Broker::Kafka(_) => panic!("the Kafka broker (Tansu, memory storage) cannot be restarted with its data"),
        }
    }

    /// Starts nats-server again on its store directory and points the forwarder at it.
    pub fn restart_broker(&mut self) {
        match &mut self.broker {
            Broker::Nats { server, forwarder } => {
                server.restart().expect("restarting nats-server");
                forwarder.retarget(host_port(server.url()));
            }
            Broker::Kafka(_) => panic!("the Kafka broker (Tansu, memory storage) cannot be restarted with its data"),
        }
    }

    /// Fails with the processes' output if one of them died.
    pub fn assert_processes_alive(&mut self) {
        for process in [&mut self.miroir.gateway, &mut self.miroir.indexer, &mut self.miroir.reconciler] {
            if let Some(status) = process.exited() {
                panic!("{} exited with {status}:\n{}", process.name(), process.log_tail());
            }
        }
    }
}

fn host_port(url: &str) -> &str {
    url.trim_start_matches("nats://")
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status().expect("running kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

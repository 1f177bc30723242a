//! Miroir's own processes (gateway, indexer, reconciler) as children of a test or of the
//! `miroir-dev` launcher, configured through the shared `MIROIR_*` environment.
//!
//! Every child runs in its own process group, so stopping it also stops anything it spawned;
//! stopping is SIGTERM to the group, a wait, then SIGKILL to the group, and always a `wait()` so
//! no zombie or orphan is left. Dropping a handle stops it (also when a test panics).

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use miroir_schemas::topology::Node;

/// How long a child gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a freshly started cluster may take to answer `/health`.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// A child process in its own process group, with its output in a log file.
pub struct ManagedProcess {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl ManagedProcess {
    /// Starts `command` in a new process group, stdout and stderr appended to `log_path`.
    pub fn spawn(name: &str, mut command: Command, log_path: &Path) -> Result<Self> {
        let log = File::options().create(true).append(true).open(log_path).with_context(|| format!("opening {}", log_path.display()))?;
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(ManagedProcess { name: name.to_owned(), child, log_path: log_path.to_owned() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Process id, which is also the id of its process group.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of the process's output, for error messages.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log_path).unwrap_or_default();
        let start = text.char_indices().rev().nth(3000).map_or(0, |(i, _)| i);
        text[start..].to_owned()
    }

    /// SIGTERM to the group, wait up to [`STOP_TIMEOUT`], then SIGKILL to the group; reaps the
    /// child either way. Idempotent.
    pub fn stop(&mut self) {
        self.stop_within(STOP_TIMEOUT);
    }

    /// [`ManagedProcess::stop`] with `grace` between SIGTERM and SIGKILL.
    pub fn stop_within(&mut self, grace: Duration) {
        let group = self.child.id();
        if self.exited().is_none() {
            signal_group(group, "TERM");
            let deadline = Instant::now() + grace;
            while self.exited().is_none() && Instant::now() < deadline {
                sleep(Duration::from_millis(10));
            }
        }
        // Grandchildren may outlive their parent; the group kill reaches them too.
        signal_group(group, "KILL");
        let _ = self.child.wait();
    }
}

/// Sends `signal` to every process of group `group` (std can only SIGKILL one process).
fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([format!("-{signal}"), "--".to_owned(), format!("-{group}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether process `pid` is running; a zombie (exited, not yet reaped by its parent) is not.
pub fn is_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name, which may contain spaces.
        Ok(stat) => {
            stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()).is_some_and(|state| state != 'Z' && state != 'X')
        }
        Err(_) => false,
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Paths of the Miroir binaries.
#[derive(Debug, Clone)]
pub struct MiroirBinaries {
    pub gateway: PathBuf,
    pub indexer: PathBuf,
    pub reconciler: PathBuf,
}

impl MiroirBinaries {
    /// The binaries in `dir`.
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let find = |name: &str| {
            let path = dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                bail!(
                    "{} not found; build the binaries first: cargo build --workspace --bins (add --release for target/release)",
                    path.display()
                )
            }
        };
        Ok(MiroirBinaries { gateway: find("miroir-gateway")?, indexer: find("miroir-indexer")?, reconciler: find("miroir-reconciler")? })
    }

    /// The binaries of the cargo profile directory the running executable belongs to: next to
    /// it (the launcher) or one level up (a test executable lives in `<profile>/deps`).
    pub fn beside_current_exe() -> Result<Self> {
        let exe = std::env::current_exe().context("locating the running executable")?;
        let dir = exe.parent().context("executable without a directory")?;
        Self::in_dir(dir).or_else(|first| match dir.parent() {
            Some(parent) if dir.ends_with("deps") => Self::in_dir(parent),
            _ => Err(first),
        })
    }
}

/// Nodes `node-0…` at `urls`, all in replica group `group-0`, reached with the cluster's node key.
pub fn one_group_nodes(urls: &[String]) -> Vec<Node> {
    urls.iter()
        .enumerate()
        .map(|(i, url)| Node { id: format!("node-{i}"), url: url.clone(), replica_group: "group-0".into(), api_key: None })
        .collect()
}

/// Which log the cluster uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Nats,
    Kafka,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Nats => "nats",
            LogKind::Kafka => "kafka",
        }
    }
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
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }
}

/// A running gateway, indexer and reconciler. Dropping it stops them, gateway first so no new
/// write is accepted while the workers stop.
pub struct MiroirProcesses {
    pub gateway: ManagedProcess,
    pub indexer: ManagedProcess,
    pub reconciler: ManagedProcess,
    pub gateway_url: String,
}

impl MiroirProcesses {
    /// Starts the three processes with `spec`, the gateway listening on `gateway_port`;
    /// their output goes to `<log_dir>/<name>.log`.
    pub fn start(binaries: &MiroirBinaries, spec: &ClusterSpec, gateway_port: u16, log_dir: &Path) -> Result<Self> {
        fs::create_dir_all(log_dir)?;
        let command = |binary: &Path| {
            let mut command = Command::new(binary);
            command.envs(spec.env()).env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
            command
        };
        let mut gateway = command(&binaries.gateway);
        gateway.env("MIROIR_LISTEN", format!("127.0.0.1:{gateway_port}"));
        let gateway = ManagedProcess::spawn("gateway", gateway, &log_dir.join("gateway.log"))?;
        let indexer = ManagedProcess::spawn("indexer", command(&binaries.indexer), &log_dir.join("indexer.log"))?;
        let reconciler = ManagedProcess::spawn("reconciler", command(&binaries.reconciler), &log_dir.join("reconciler.log"))?;
        Ok(MiroirProcesses { gateway, indexer, reconciler, gateway_url: format!("http://127.0.0.1:{gateway_port}") })
    }

    /// Process ids of every child.
    pub fn pids(&self) -> Vec<u32> {
        vec![self.gateway.pid(), self.indexer.pid(), self.reconciler.pid()]
    }

    /// Waits until the gateway answers `/health` with 200, failing early (with the process's
    /// output) if any process exits.
    pub async fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let deadline = Instant::now() + timeout;
        let health = format!("{}/health", self.gateway_url);
        loop {
            for process in [&mut self.gateway, &mut self.indexer, &mut self.reconciler] {
                if let Some(status) = process.exited() {
                    bail!("{} exited with {status} during start:\n{}", process.name(), process.log_tail());
                }
            }
            if let Ok(response) = client.get(&health).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("the gateway did not answer {health} within {timeout:?}:\n{}", self.gateway.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every process (gateway first).
    pub fn stop(&mut self) {
        self.gateway.stop();
        self.indexer.stop();
        self.reconciler.stop();
    }
}

impl Drop for MiroirProcesses {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopping_reaps_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        // The shell ignores TERM and leaves a grandchild behind: only the group kill ends both.
        command.args(["-c", "trap '' TERM; sleep 300 & echo $! > grandchild; wait"]);
        command.current_dir(dir.path());
        let mut process = ManagedProcess::spawn("sh", command, &dir.path().join("sh.log")).unwrap();
        let grandchild_file = dir.path().join("grandchild");
        while !grandchild_file.exists() || fs::read_to_string(&grandchild_file).unwrap().trim().is_empty() {
            sleep(Duration::from_millis(10));
        }
        let grandchild: u32 = fs::read_to_string(&grandchild_file).unwrap().trim().parse().unwrap();
        let pid = process.pid();
        assert!(is_running(pid) && is_running(grandchild));
        process.stop_within(Duration::from_millis(200));
        assert!(process.exited().is_some());
        // SIGKILL reaches the reparented grandchild asynchronously: poll (the bound only turns a
        // hang into a failure).
        let give_up = Instant::now() + Duration::from_secs(30);
        while is_running(grandchild) && Instant::now() < give_up {
            sleep(Duration::from_millis(10));
        }
        assert!(!is_running(grandchild), "the grandchild survived the group kill");
        assert!(!is_running(pid));
    }

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
        };
        let env = spec.env();
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MIROIR_NODES"), Some("n0=http://127.0.0.1:1@g0"));
        assert_eq!(get("MIROIR_LOG_BACKEND"), Some("kafka"));
        assert_eq!(get("MIROIR_NODE_KEY"), Some("nk"));
        assert_eq!(get("MIROIR_MASTER_KEY"), None);
    }
}

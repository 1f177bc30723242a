//! Real Meilisearch nodes, each a [`ManagedProcess`] on a free loopback port with its own data
//! directory, started with Meilisearch's command line. Dropping them kills them (SIGKILL: their
//! data is thrown away anyway, and a paused node would not see a SIGTERM).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::ManagedProcess;
use crate::wait::{wait_until, Deadline};

/// How long a node may take to answer `/health` after a start.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

/// The Meilisearch binary tests and benchmarks run ([`crate::locate::meilisearch_binary`]).
pub fn find_meilisearch() -> Result<std::path::PathBuf> {
    crate::locate::meilisearch_binary()
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Running nodes; every process is killed when this is dropped.
pub struct MeiliNodes {
    master_key: String,
    nodes: Vec<ManagedProcess>,
    urls: Vec<String>,
    /// Node `i` keeps its data in `node-<i>` under it.
    data_dir: std::path::PathBuf,
    /// Keeps the data directories alive when the caller gave none.
    _temp: Option<tempfile::TempDir>,
}

impl MeiliNodes {
    /// Starts `count` nodes of `binary` with data (and output, `node-<i>.log`) under `data_dir`,
    /// all with `master_key`, and waits until each answers `/health`.
    pub async fn start(binary: &Path, count: usize, data_dir: &Path, master_key: &str) -> Result<Self> {
        let mut nodes = MeiliNodes {
            master_key: master_key.to_owned(),
            nodes: Vec::new(),
            urls: Vec::new(),
            data_dir: data_dir.to_owned(),
            _temp: None,
        };
        for i in 0..count {
            let port = free_port()?;
            let db_path = data_dir.join(format!("node-{i}"));
            std::fs::create_dir_all(&db_path).with_context(|| format!("creating {}", db_path.display()))?;
            let mut command = Command::new(binary);
            command.arg("--http-addr").arg(format!("127.0.0.1:{port}")).arg("--master-key").arg(master_key);
            command.arg("--db-path").arg(&db_path).arg("--no-analytics").current_dir(&db_path);
            nodes.nodes.push(ManagedProcess::spawn(&format!("node {i}"), command, &data_dir.join(format!("node-{i}.log")))?);
            nodes.urls.push(format!("http://127.0.0.1:{port}"));
        }
        for i in 0..count {
            nodes.wait_healthy(i).await?;
        }
        Ok(nodes)
    }

    /// Like [`MeiliNodes::start`] with a fresh temporary data directory.
    pub async fn start_temp(binary: &Path, count: usize, master_key: &str) -> Result<Self> {
        let temp = tempfile::Builder::new().prefix("miroir-nodes-").tempdir()?;
        let mut nodes = Self::start(binary, count, temp.path(), master_key).await?;
        nodes._temp = Some(temp);
        Ok(nodes)
    }

    /// Where the nodes keep their data (node `i` in `node-<i>`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    pub fn master_key(&self) -> &str {
        &self.master_key
    }

    /// Node `i`'s process, for signals ([`crate::process::Signal::Stop`] freezes it: it keeps
    /// its port and data but answers nothing, like a hung or partitioned node).
    pub fn process(&self, i: usize) -> &ManagedProcess {
        &self.nodes[i]
    }

    /// The process ids of the nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(ManagedProcess::pid).collect()
    }

    async fn wait_healthy(&mut self, i: usize) -> Result<()> {
        let url = format!("{}/health", self.urls[i]);
        let client = reqwest::Client::new();
        let node = &mut self.nodes[i];
        wait_until(Deadline::after(HEALTH_TIMEOUT).polling_every(Duration::from_millis(100)), format!("{url} never answered"), async || {
            node.check_alive().context("a node exited during startup")?;
            Ok(client.get(&url).send().await.is_ok_and(|r| r.status().is_success()).then_some(()).into())
        })
        .await
    }

    /// Kills node `i` (SIGKILL); its port and data stay reserved for [`MeiliNodes::restart`].
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill9();
    }

    /// Starts node `i` again on the same port and data directory (its data survives) and waits
    /// for `/health`.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.nodes[i].kill9();
        self.nodes[i].restart()?;
        self.wait_healthy(i).await
    }

    /// Kills node `i`, deletes everything it stored (a disk replaced, a pod rescheduled without
    /// its volume) and starts it again on the same port.
    pub async fn restart_empty(&mut self, i: usize) -> Result<()> {
        self.nodes[i].kill9();
        let db_path = self.data_dir.join(format!("node-{i}"));
        std::fs::remove_dir_all(&db_path).with_context(|| format!("removing {}", db_path.display()))?;
        std::fs::create_dir_all(&db_path)?;
        self.nodes[i].restart()?;
        self.wait_healthy(i).await
    }
}

impl Drop for MeiliNodes {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill9();
        }
    }
}

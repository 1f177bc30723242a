//! Real Meilisearch nodes for tests, benchmarks and the local cluster, each on a free loopback
//! port with its own data directory, started with Meilisearch's command line, stopped on drop
//! (also on panic).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// How many times (100 ms apart) a node's `/health` is polled before giving up on it.
const HEALTH_ATTEMPTS: u32 = 300;

/// The Meilisearch binary tests and benchmarks run ([`crate::shared_files::meilisearch_binary`]).
pub fn find_meilisearch() -> Result<PathBuf> {
    crate::shared_files::meilisearch_binary()
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

struct Node {
    port: u16,
    db_path: PathBuf,
    child: Option<Child>,
}

/// Running nodes; every process is killed when this is dropped.
pub struct MeiliNodes {
    binary: PathBuf,
    master_key: String,
    nodes: Vec<Node>,
    urls: Vec<String>,
    /// Keeps the data directories alive when the caller gave none.
    _temp: Option<tempfile::TempDir>,
}

impl MeiliNodes {
    /// Starts `count` nodes of `binary` with data under `data_dir`, all with `master_key`, and
    /// waits until each answers `/health`.
    pub async fn start(binary: &Path, count: usize, data_dir: &Path, master_key: &str) -> Result<Self> {
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let mut nodes =
            MeiliNodes { binary: binary.to_owned(), master_key: master_key.to_owned(), nodes: Vec::new(), urls: Vec::new(), _temp: None };
        for i in 0..count {
            let port = free_port()?;
            nodes.nodes.push(Node { port, db_path: data_dir.join(format!("node-{i}")), child: None });
            nodes.urls.push(format!("http://127.0.0.1:{port}"));
        }
        for i in 0..count {
            nodes.spawn(i)?;
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

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    pub fn master_key(&self) -> &str {
        &self.master_key
    }

    /// The process ids of the running nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(|node| node.child.as_ref().map(Child::id)).collect()
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let node = &mut self.nodes[i];
        std::fs::create_dir_all(&node.db_path)?;
        let child = Command::new(&self.binary)
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{}", node.port))
            .arg("--master-key")
            .arg(&self.master_key)
            .arg("--db-path")
            .arg(&node.db_path)
            .arg("--no-analytics")
            .current_dir(&node.db_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        node.child = Some(child);
        Ok(())
    }

    async fn wait_healthy(&mut self, i: usize) -> Result<()> {
        let url = format!("{}/health", self.urls[i]);
        let client = reqwest::Client::new();
        for _ in 0..HEALTH_ATTEMPTS {
            if let Some(child) = self.nodes[i].child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("node {i} ({}) exited during startup: {status}", self.binary.display());
                }
            }
            if let Ok(r) = client.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("node {i} did not become healthy at {url}")
    }

    /// Kills node `i` (SIGKILL); its port stays reserved for [`MeiliNodes::restart`].
    pub fn kill(&mut self, i: usize) -> Result<()> {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill().ok();
            child.wait().context("reaping a killed node")?;
        }
        Ok(())
    }

    /// Starts node `i` again on the same port and data directory (its data survives) and waits
    /// for `/health`.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.kill(i)?;
        self.spawn(i)?;
        self.wait_healthy(i).await
    }

    pub fn is_running(&mut self, i: usize) -> bool {
        matches!(self.nodes[i].child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for MeiliNodes {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                child.kill().ok();
                child.wait().ok();
            }
        }
    }
}

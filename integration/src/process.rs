//! The one wrapper for every child process the harness starts: brokers, Meilisearch nodes and
//! Miroir's binaries. Each child runs in its own process group with its output appended to a
//! log file; signals reach the whole group (a wrapper script's real server too); it can be
//! restarted with the same command; dropping the handle stops it, also when a test panics.
//!
//! Stopping is SIGTERM to the group, a grace period, then SIGKILL to the group, and always a
//! `wait()`, so no zombie or orphan is left behind.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// How long a child gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The signals the scenarios send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Asks for a clean shutdown.
    Term,
    /// A crash: nothing runs on the way out.
    Kill,
    /// A hang: the process keeps its sockets and data but answers nothing.
    Stop,
    /// Ends a [`Signal::Stop`].
    Cont,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        }
    }
}

/// A child process in its own process group, with its output in a log file.
pub struct ManagedProcess {
    name: String,
    /// Kept to start the process again ([`ManagedProcess::restart`]); it already carries the
    /// process group and the log file as stdout and stderr.
    command: Command,
    child: Child,
    log_path: PathBuf,
}

impl ManagedProcess {
    /// Starts `command` in a new process group, stdout and stderr appended to `log_path`.
    pub fn spawn(name: &str, mut command: Command, log_path: &Path) -> Result<Self> {
        let log = File::options().create(true).append(true).open(log_path).with_context(|| format!("opening {}", log_path.display()))?;
        command.process_group(0).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        let child = command.spawn().with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(ManagedProcess { name: name.to_owned(), command, child, log_path: log_path.to_owned() })
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

    /// Fails with the process's output if it exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.exited() {
            Some(status) => bail!("{} exited with {status}:\n{}", self.name, self.log_tail()),
            None => Ok(()),
        }
    }

    /// Everything the process wrote so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last lines of the process's output, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail_of(&self.log_path)
    }

    /// Sends `signal` to the process group.
    pub fn signal(&self, signal: Signal) {
        signal_group(self.pid(), signal);
    }

    /// SIGKILL, as in a crash (no shutdown work happens), and reaps the process.
    pub fn kill9(&mut self) {
        self.signal(Signal::Kill);
        let _ = self.child.wait();
    }

    /// SIGTERM to the group, wait up to 10 s, then SIGKILL to the group; reaps the child either
    /// way. Idempotent.
    pub fn stop(&mut self) {
        self.stop_within(STOP_TIMEOUT);
    }

    /// [`ManagedProcess::stop`] with `grace` between SIGTERM and SIGKILL.
    pub fn stop_within(&mut self, grace: Duration) {
        if self.exited().is_none() {
            // A stopped process only sees SIGTERM once it runs again.
            self.signal(Signal::Cont);
            self.signal(Signal::Term);
            let deadline = Instant::now() + grace;
            while self.exited().is_none() && Instant::now() < deadline {
                sleep(Duration::from_millis(10));
            }
        }
        // Grandchildren may outlive their parent; the group kill reaches them too.
        self.kill9();
    }

    /// Stops the process if it runs and starts the same command again; its output goes on in
    /// the same log.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.child = self.command.spawn().with_context(|| format!("restarting {}", self.name))?;
        Ok(())
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last 4000 characters of the log at `path`.
pub(crate) fn log_tail_of(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.char_indices().rev().nth(4000).map_or(0, |(i, _)| i);
    text[start..].to_owned()
}

/// Sends `signal` to every process of group `group` (std can only SIGKILL one process).
fn signal_group(group: u32, signal: Signal) {
    let _ = Command::new("kill")
        .args([format!("-{}", signal.name()), "--".to_owned(), format!("-{group}")])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(dir: &Path, script: &str) -> ManagedProcess {
        let mut command = Command::new("sh");
        command.args(["-c", script]).current_dir(dir);
        ManagedProcess::spawn("sh", command, &dir.join("sh.log")).unwrap()
    }

    #[test]
    fn stopping_reaps_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        // The shell ignores TERM and leaves a grandchild behind: only the group kill ends both.
        let mut process = shell(dir.path(), "trap '' TERM; sleep 300 & echo $! > grandchild; wait");
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
    fn a_restart_runs_the_same_command_into_the_same_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut process = shell(dir.path(), "echo started; sleep 300");
        let first = process.pid();
        // Killed before its echo ran, the first run would leave nothing in the log.
        let give_up = Instant::now() + Duration::from_secs(30);
        while process.log_text().is_empty() && Instant::now() < give_up {
            sleep(Duration::from_millis(10));
        }
        process.kill9();
        assert!(process.exited().is_some() && process.check_alive().is_err());
        process.restart().unwrap();
        assert_ne!(process.pid(), first);
        process.check_alive().unwrap();
        let give_up = Instant::now() + Duration::from_secs(30);
        while process.log_text().lines().count() < 2 && Instant::now() < give_up {
            sleep(Duration::from_millis(10));
        }
        assert_eq!(process.log_text(), "started\nstarted\n");
    }
}

//! `miroir-dev` end to end: with the real Meilisearch binary it starts NATS, the nodes, the
//! gateway, an indexer and a reconciler, prints the ready line, serves the API, and on SIGTERM
//! leaves no process behind.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use miroir_integration::process::is_running;
use miroir_integration::wait::{wait_until, Deadline, Progress};
use serde_json::{json, Value};

const KEY: &str = "launcher-test-key";
/// Bounds that turn a hang into a failure (not speed claims).
const READY_BOUND: Duration = Duration::from_secs(120);
const EXIT_BOUND: Duration = Duration::from_secs(60);

/// The cargo profile directory holding this test's binaries (`target/<profile>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|deps| deps.parent()).unwrap().to_owned()
}

/// The gateway, indexer and reconciler belong to other packages, so cargo does not build them
/// for this test: build them into the same profile directory (a no-op when up to date).
fn build_miroir_binaries() {
    let profile = profile_dir();
    let target = profile.parent().unwrap();
    let cargo_profile = match profile.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => "dev".to_owned(),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--profile", &cargo_profile, "--workspace", "--bins"])
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("running cargo build");
    assert!(status.success(), "building the Miroir binaries failed");
}

/// Processes (other than this test) whose environment carries `marker`.
fn marked_processes(marker: &str) -> Vec<u32> {
    let needle = format!("MIROIR_DEV_TEST_MARKER={marker}");
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && is_running(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

struct Launcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    marker: String,
    _data: tempfile::TempDir,
}

impl Launcher {
    fn start(extra_args: &[&str]) -> Launcher {
        build_miroir_binaries();
        let data = tempfile::tempdir().unwrap();
        let marker = uuid::Uuid::new_v4().simple().to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_miroir-dev"))
            .args(["--nodes", "2", "--shards", "3", "--replication-factor", "1", "--port", "0", "--master-key", KEY])
            .arg("--data-dir")
            .arg(data.path())
            .arg("--bin-dir")
            .arg(profile_dir())
            .args(extra_args)
            .env("MEILISEARCH_BIN", miroir_integration::nodes::find_meilisearch().expect("the Meilisearch binary"))
            .env("MIROIR_DEV_TEST_MARKER", &marker)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Launcher { child, lines, marker, _data: data }
    }

    fn next_line(&self) -> String {
        self.lines.recv_timeout(READY_BOUND).expect("the launcher printed nothing (see its stderr above)")
    }

    /// SIGTERM, then waits for the launcher to exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = std::time::Instant::now() + EXIT_BOUND;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "the launcher did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.terminate();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn launcher_serves_and_stops_everything_on_sigterm() {
    let mut launcher = Launcher::start(&[]);
    let ready = launcher.next_line();
    let url = ready.strip_prefix("ready: ").unwrap_or_else(|| panic!("first line is not the ready line: {ready}")).to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(launcher.next_line(), format!("key: {KEY}"));

    let client = reqwest::Client::new();
    let health: Value = client.get(format!("{url}/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health, json!({"status": "available"}));
    let unauthorized = client.get(format!("{url}/indexes")).send().await.unwrap();
    assert_eq!(unauthorized.status(), 401);

    // The launcher, nats-server, 2 nodes, gateway, indexer and reconciler.
    let running = marked_processes(&launcher.marker);
    assert!(running.len() >= 7, "expected at least 7 processes, found {running:?}");

    let status = launcher.terminate();
    assert!(status.success(), "launcher exit status {status}");
    let left = marked_processes(&launcher.marker);
    assert!(left.is_empty(), "processes left running after SIGTERM: {left:?}");
}

/// Creates index `uid` (primary key `id`) and returns its finished task.
async fn create_index(client: &reqwest::Client, url: &str, uid: &str) -> Value {
    let created: Value = client
        .post(format!("{url}/indexes"))
        .bearer_auth(KEY)
        .json(&json!({"uid": uid, "primaryKey": "id"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], "enqueued", "{created}");
    finished_task(client, url, created["taskUid"].as_u64().unwrap()).await
}

/// Polls `GET /tasks/{uid}` until the task finishes (the bound only turns a hang into a failure).
async fn finished_task(client: &reqwest::Client, url: &str, uid: u64) -> Value {
    let deadline = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(50));
    wait_until(deadline, format!("task {uid} never finished"), async || {
        let task: Value = client.get(format!("{url}/tasks/{uid}")).bearer_auth(KEY).send().await?.json().await?;
        let finished = task["status"] == "succeeded" || task["status"] == "failed";
        Ok(if finished { Progress::Done(task) } else { Progress::Waiting(task.to_string()) })
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_flow_through_the_log_and_the_indexer_to_the_nodes() {
    let launcher = Launcher::start(&[]);
    let url = launcher.next_line().strip_prefix("ready: ").expect("ready line").to_owned();
    let client = reqwest::Client::new();

    let task = create_index(&client, &url, "movies").await;
    assert_eq!(task["status"], "succeeded", "{task}");

    let documents: Vec<Value> = (0..30).map(|i| json!({"id": i, "title": format!("movie {i}")})).collect();
    let added: Value = client
        .post(format!("{url}/indexes/movies/documents"))
        .bearer_auth(KEY)
        .json(&documents)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let task = finished_task(&client, &url, added["taskUid"].as_u64().unwrap()).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["details"], json!({"receivedDocuments": 30, "indexedDocuments": 30}));

    let settings: Value = client
        .put(format!("{url}/indexes/movies/settings/filterable-attributes"))
        .bearer_auth(KEY)
        .json(&json!(["title"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(finished_task(&client, &url, settings["taskUid"].as_u64().unwrap()).await["status"], "succeeded");
    let filterable: Value = client
        .get(format!("{url}/indexes/movies/settings/filterable-attributes"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(filterable, json!(["title"]));

    let deleted: Value =
        client.delete(format!("{url}/indexes/movies/documents/3")).bearer_auth(KEY).send().await.unwrap().json().await.unwrap();
    let task = finished_task(&client, &url, deleted["taskUid"].as_u64().unwrap()).await;
    assert_eq!(task["details"], json!({"providedIds": 1, "deletedDocuments": 1, "originalFilter": null}));

    // Reads see the writes across every shard.
    let found: Value = client
        .post(format!("{url}/indexes/movies/search"))
        .bearer_auth(KEY)
        .json(&json!({"q": "movie", "limit": 100}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["estimatedTotalHits"], 29, "{found}");
    let mut ids: Vec<u64> = found["hits"].as_array().unwrap().iter().map(|hit| hit["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..30).filter(|&i| i != 3).collect::<Vec<_>>());
    let document: Value =
        client.get(format!("{url}/indexes/movies/documents/5")).bearer_auth(KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(document, json!({"id": 5, "title": "movie 5"}));
}

/// The marked process whose command line names `program`, if one runs.
fn marked_process_running(marker: &str, program: &str) -> Option<u32> {
    marked_processes(marker).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|cmdline| cmdline.split(|&b| b == 0).next().is_some_and(|arg0| String::from_utf8_lossy(arg0).ends_with(program)))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_miroir_process_that_dies_is_restarted_and_the_cluster_keeps_working() {
    let mut launcher = Launcher::start(&[]);
    let url = launcher.next_line().strip_prefix("ready: ").expect("ready line").to_owned();
    let killed = marked_process_running(&launcher.marker, "miroir-indexer").expect("the indexer runs");
    assert!(Command::new("kill").args(["-KILL", &killed.to_string()]).status().unwrap().success());

    let deadline = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(100));
    let marker = launcher.marker.clone();
    let restarted = wait_until(deadline, "the launcher did not restart the indexer", async || {
        Ok(match marked_process_running(&marker, "miroir-indexer") {
            Some(pid) if pid != killed => Progress::Done(pid),
            _ => Progress::Waiting(String::new()),
        })
    })
    .await
    .unwrap_or_else(|error| panic!("{error:#}"));
    assert_ne!(restarted, killed);
    assert!(launcher.child.try_wait().unwrap().is_none(), "the launcher kept running");

    // The restarted indexer applies writes.
    let client = reqwest::Client::new();
    let task = create_index(&client, &url, "after_restart").await;
    assert_eq!(task["status"], "succeeded", "{task}");
}

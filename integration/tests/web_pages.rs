//! The gateway's web pages in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core (`gateway/web/browser-tests/pages.mjs`) against a real cluster (NATS, three
//! Meilisearch nodes, S = 6, RF = 2). The admin console logs in and shows the cluster's shard map,
//! tasks, indexes and a sandbox query as the API answers them; the search page refuses the master
//! key, says when no key is configured, and with the operator's search-only key shows the API's
//! hits after typing, picking a facet and paging, with keyboard navigation and the state in the
//! URL. The run writes the screenshots of `docs/web-pages.md` into `docs/screenshots/`.
//!
//! Needs `cargo build --workspace --bins`, Chromium (`MIROIR_CHROMIUM` or `chromium` on `PATH`)
//! and `npm ci` in `gateway/web` (.ci/run does both). Nothing missing is skipped: the test fails
//! and says what to install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use miroir_integration::brokers::LogKind;
use miroir_integration::cluster::Cluster;
use miroir_integration::locate::find_binary;
use miroir_integration::nodes::free_port;
use miroir_integration::process::ManagedProcess;
use miroir_integration::recorded::{http_client, MASTER_KEY};
use miroir_integration::wait::{wait_until, Deadline};
use serde_json::{json, Value};

const INDEX: &str = "movies";
/// What the browser checks write into `docs/screenshots/` (shown in `docs/web-pages.md`).
const SCREENSHOTS: [&str; 6] =
    ["admin-topology.png", "admin-indexes.png", "admin-sandbox.png", "search.png", "search-phone.png", "search-refuses-master-key.png"];
/// How long the browser checks may take (about 5 s alone on an idle machine).
const BROWSER_BOUND: Duration = Duration::from_secs(180);
/// The search key's uid: its value follows from the master key (Meilisearch's rule), so the
/// second gateway can be given it before the key is created.
const SEARCH_KEY_UID: &str = "5f0c2b3a-9d4e-4c7b-8a61-3e2f1d0c9b8a";

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gateway/web")
}

fn node() -> PathBuf {
    find_binary("MIROIR_NODE", "node", Some("/usr/bin/node"), "install Node.js 20").unwrap()
}

/// Fails, saying how to install them, when playwright-core or esbuild are not installed.
fn check_node_modules() {
    for package in ["playwright-core", "esbuild", "meilisearch"] {
        let path = web_dir().join("node_modules").join(package);
        assert!(path.is_dir(), "{} is missing: run `npm ci` in gateway/web (.ci/run does this)", path.display());
    }
}

/// 60 movies, every overview containing "film"; genres cycle so each has 20.
fn movies() -> Vec<Value> {
    let adjectives = ["Silent", "Golden", "Broken", "Last", "Hidden", "Crimson"];
    let nouns = ["Star", "River", "Night", "Garden", "Storm", "Harbor", "Echo", "Mirror", "Summer", "Winter"];
    let genres = ["Drama", "Comedy", "Science fiction"];
    (0..60)
        .map(|i| {
            let (adjective, noun) = (adjectives[i % adjectives.len()], nouns[i / adjectives.len()]);
            let year = 1950 + (i * 7) % 70;
            json!({
                "id": i,
                "title": format!("The {adjective} {noun}"),
                "overview": format!("A film about a {} {} in {year}.", adjective.to_lowercase(), noun.to_lowercase()),
                "genre": genres[i % genres.len()],
                "decade": year / 10 * 10,
            })
        })
        .collect()
}

async fn call(base: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = http_client().request(method, format!("{base}{path}")).bearer_auth(MASTER_KEY).json(&body).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

async fn wait_for_task(base: &str, enqueued: Value) {
    let uid = enqueued["taskUid"].as_u64().unwrap_or_else(|| panic!("a task: {enqueued}"));
    let deadline = Deadline::after(Duration::from_secs(60));
    wait_until(deadline, format!("task {uid} did not succeed"), async || {
        let task = call(base, reqwest::Method::GET, &format!("/tasks/{uid}"), Value::Null).await;
        assert_ne!(task["status"], "failed", "{task}");
        Ok((task["status"] == "succeeded").then_some(()).into())
    })
    .await
    .unwrap();
}

/// A second gateway of `cluster` with `--search-page-key`; its URL once it answers.
async fn gateway_with_search_key(cluster: &Cluster, key: &str) -> (ManagedProcess, String) {
    let port = free_port().unwrap();
    let mut command = cluster.spec.command(&cluster.binaries().gateway);
    command.env("MIROIR_LISTEN", format!("127.0.0.1:{port}")).env("MIROIR_SEARCH_PAGE_KEY", key);
    let process = ManagedProcess::spawn("gateway-search-page", command, &cluster.log_dir().join("gateway-search-page.log")).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Deadline::after(Duration::from_secs(60)).polling_every(Duration::from_millis(100));
    wait_until(deadline, "the second gateway did not answer /health", async || {
        Ok(http_client().get(format!("{url}/health")).send().await.is_ok_and(|r| r.status().is_success()).then_some(()).into())
    })
    .await
    .unwrap();
    (process, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_and_the_search_page_in_headless_chromium() {
    let chromium = find_binary("MIROIR_CHROMIUM", "chromium", Some("/usr/bin/chromium"), "apt-get install chromium").unwrap();
    let node = node();
    check_node_modules();
    let started = Instant::now();

    let cluster = Cluster::builder(LogKind::Nats).nodes(3).shards(6).replication_factor(2).master_key(MASTER_KEY).start().await.unwrap();
    let base = cluster.gateway_url().to_owned();
    let search_key = miroir_gateway::auth::key_value(MASTER_KEY, SEARCH_KEY_UID.parse().unwrap());
    let (_second_gateway, url_with_key) = gateway_with_search_key(&cluster, &search_key).await;

    use reqwest::Method;
    let settings = json!({"filterableAttributes": ["genre", "decade"]});
    wait_for_task(&base, call(&base, Method::PATCH, &format!("/indexes/{INDEX}/settings"), settings).await).await;
    wait_for_task(&base, call(&base, Method::POST, &format!("/indexes/{INDEX}/documents"), json!(movies())).await).await;
    let key = json!({"uid": SEARCH_KEY_UID, "actions": ["search"], "indexes": [INDEX], "expiresAt": null, "name": "search page"});
    assert_eq!(call(&base, Method::POST, "/keys", key).await["key"], search_key.as_str());
    println!("cluster ready in {:?}", started.elapsed());

    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let browser = tokio::process::Command::new(node)
        .arg(web_dir().join("browser-tests/pages.mjs"))
        .current_dir(web_dir())
        .env("MIROIR_URL", &base)
        .env("MIROIR_URL_WITH_KEY", &url_with_key)
        .env("MIROIR_MASTER_KEY", MASTER_KEY)
        .env("MIROIR_SEARCH_KEY", &search_key)
        .env("MIROIR_INDEX", INDEX)
        .env("MIROIR_CHROMIUM", &chromium)
        .env("MIROIR_SCREENSHOTS", &screenshots)
        .kill_on_drop(true)
        .output();
    // A bound, so a hung browser fails the test instead of holding it (each step has its own 15 s).
    let output = tokio::time::timeout(BROWSER_BOUND, browser).await.expect("the browser checks did not finish in time").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    println!("{stdout}");
    assert!(output.status.success(), "the browser checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("every check passed"), "{stdout}");
    for shot in SCREENSHOTS {
        let path = screenshots.join(shot);
        assert!(std::fs::metadata(&path).is_ok_and(|m| m.len() > 5_000), "{} was not written", path.display());
    }
    println!("done in {:?}", started.elapsed());
}

/// `gateway/web/dist/` (embedded in the gateway) is what `gateway/web/src/` builds with the
/// pinned esbuild and Meilisearch client.
#[test]
fn the_embedded_bundle_is_what_the_sources_build() {
    check_node_modules();
    let output = Command::new(node()).args(["build.mjs", "--check"]).current_dir(web_dir()).output().unwrap();
    assert!(output.status.success(), "{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
}

//! Running an official Meilisearch client's suite (`integration/sdk/`) against a cluster and one
//! real Meilisearch 1.50 node: the cluster (NATS, 3 real nodes, S = 3, RF = 2) and the lone
//! node are started here, the suite gets their URLs and the master key in its environment
//! (`MIROIR_GATEWAY_URL`, `MEILI_NODE_URL`, `MEILI_MASTER_KEY`), makes every call on both and
//! compares the answers itself. The test fails with the suite's whole output.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use miroir_integration::locate::meilisearch_binary;
use miroir_integration::nodes::MeiliNodes;
use miroir_integration::recorded::{start_cluster, MASTER_KEY};

/// Bound on one suite's run: it makes a few hundred calls on each side.
const SUITE_BOUND: Duration = Duration::from_secs(240);

/// The folder of the suites, `integration/sdk/`.
pub fn sdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk")
}

/// Runs `program args…` in `dir` against a fresh cluster and a fresh node; panics with the
/// suite's output unless it exits 0.
pub async fn run_suite(dir: &Path, program: &str, args: &[&str]) {
    let cluster = start_cluster(3, 3, 2).await;
    let reference = MeiliNodes::start_temp(&meilisearch_binary().unwrap(), 1, MASTER_KEY).await.unwrap();
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env("MIROIR_GATEWAY_URL", cluster.gateway_url())
        .env("MEILI_NODE_URL", &reference.urls()[0])
        .env("MEILI_MASTER_KEY", MASTER_KEY)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let run = tokio::time::timeout(SUITE_BOUND, command.output())
        .await
        .unwrap_or_else(|_| panic!("{program} {args:?} ran longer than {SUITE_BOUND:?}"))
        .unwrap_or_else(|e| panic!("{program} could not be started (installed by .ci/run): {e}"));
    let output = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{program} {args:?} exited with {}:\n{output}", run.status);
    println!("{output}");
}

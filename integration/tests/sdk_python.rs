//! The official Python client (`meilisearch` from PyPI, pinned in .ci/run) makes every call of
//! `integration/sdk/python/suite.py` on a cluster and on one real Meilisearch 1.50 node; the
//! answers must be the same once times, uids and sizes are blanked (integration/sdk/README.md).
//! Needs `cargo build --workspace --bins` first.

mod sdk_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_gets_the_answers_of_one_node() {
    sdk_support::run_suite(&sdk_support::sdk_dir().join("python"), "python3", &["suite.py"]).await;
}

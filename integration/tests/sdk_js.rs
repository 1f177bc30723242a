//! The official JavaScript client (`meilisearch` from npm, pinned by
//! `integration/sdk/js/package-lock.json`, installed by `npm ci` in .ci/run) makes every call of
//! `integration/sdk/js/suite.mjs` on a cluster and on one real Meilisearch 1.50 node; the answers
//! must be the same once times, uids and sizes are blanked (integration/sdk/README.md). Needs
//! `cargo build --workspace --bins` first.

mod sdk_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_client_gets_the_answers_of_one_node() {
    let dir = sdk_support::sdk_dir().join("js");
    assert!(
        dir.join("node_modules/meilisearch/package.json").is_file(),
        "the JavaScript client is not installed: run `npm ci` in {} (.ci/run does)",
        dir.display()
    );
    sdk_support::run_suite(&dir, "node", &["suite.mjs"]).await;
}

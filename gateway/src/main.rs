//! `miroir-gateway`: reads its configuration, opens the log, serves the Meilisearch API.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use miroir_gateway::app::authenticated_router;
use miroir_gateway::auth::{KeysOptions, KeysService};
use miroir_gateway::config::GatewayConfig;
use miroir_gateway::serve::{serve, shutdown_signal, TlsFiles};
use miroir_gateway::state::AppState;

/// mimalloc returns freed memory to the system, so a gateway that parsed large document batches
/// or search answers does not keep the peak resident (glibc's per-thread arenas largely do).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = GatewayConfig::parse();
    config.logging.init();
    let topology = config.cluster.topology().context("invalid topology")?;
    let log = config.cluster.log.open_log(config.cluster.log.log_config()).await.context("cannot open the write log")?;
    let log: Arc<dyn miroir_clients::log::WriteLog> = Arc::from(log);
    let state = AppState::with_read_config(topology, log.clone(), config.master_key.clone(), config.payload_limit, config.read_config())
        .with_idempotency_window(config.idempotency.window())
        .with_dump_dir(config.dump_dir.clone());
    state.catalog().set_task_limit(config.task_limit);
    let mut snapshots = config.snapshots.restore(&config.cluster.log, state.log(), state.catalog(), config.task_limit).await;
    miroir_gateway::watch::check_the_log_holds_what_follows(state.log(), state.catalog()).await.context("cannot start")?;
    let options = KeysOptions { payload_limit: config.payload_limit, ..KeysOptions::default() };
    let restored_keys = snapshots.as_mut().and_then(|snapshots| snapshots.take_keys());
    let keys = KeysService::start_from(log, config.master_key.clone(), options, restored_keys)
        .await
        .context("cannot read the API keys from the log")?;
    let _watchers = state.start_watching();
    let _snapshot_writer = snapshots.map(|snapshots| snapshots.spawn_writer(state.catalog().clone(), Some(keys.clone())));
    // Every node of every topology, including those a topology change adds later.
    state.enable_network_on_every_node();
    // One gateway at a time (the log's election) posts finished tasks to the webhooks.
    tokio::spawn(miroir_gateway::webhooks::caller::run(state.clone()));
    if let Some(listen) = config.metrics_listen {
        let ops = miroir_gateway::ops_listener::bind(listen, state.clone()).await?;
        tokio::spawn(async move {
            if let Err(error) = ops.await {
                tracing::error!(%error, "the metrics and readiness listener stopped");
            }
        });
    }
    let tls = config.tls_cert.clone().zip(config.tls_key.clone()).map(|(cert, key)| TlsFiles { cert, key });
    let router = miroir_gateway::web::with_pages(authenticated_router(state, keys), &config.web, config.master_key.as_deref())?;
    serve(router, config.listen, tls, shutdown_signal()).await
}

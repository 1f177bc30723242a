//! `miroir-indexer`: see `miroir_indexer::run`.

use clap::Parser;
use miroir_indexer::config::IndexerArgs;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = IndexerArgs::parse();
    args.logging.init();
    if let Some(listen) = args.metrics_listen {
        metrics_exporter_prometheus::PrometheusBuilder::new().with_http_listener(listen).install()?;
    }
    tracing::info!(?args, "starting indexer");
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    miroir_indexer::run(args, shutdown).await
}

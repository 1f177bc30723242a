//! `miroir-indexer`: see `miroir_indexer::run`.

use clap::Parser;
use miroir_indexer::config::IndexerArgs;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = IndexerArgs::parse();
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

//! `miroir-reconciler`: publishes CDC events until Ctrl-C or SIGTERM.

use clap::Parser;
use miroir_reconciler::config::ReconcilerArgs;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ReconcilerArgs::parse();
    args.logging.init();
    if let Some(listen) = args.metrics_listen {
        metrics_exporter_prometheus::PrometheusBuilder::new().with_http_listener(listen).install()?;
    }
    let log: std::sync::Arc<dyn miroir_clients::log::WriteLog> = args.open_log().await?.into();
    let member = format!("reconciler-{}", uuid::Uuid::new_v4().simple());
    tracing::info!(group = %args.group, %member, "reconciler publishing CDC events");
    let stop = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    miroir_reconciler::cdc::run_cdc(log, &args.group, &member, args.cdc_options(), stop).await?;
    Ok(())
}

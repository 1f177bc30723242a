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
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    };
    let verifier = match args.verify_plan()? {
        Some((interval, placement, options)) => {
            tracing::info!(?interval, repair = options.repair, "verifying replicas periodically");
            let run = miroir_reconciler::verify::run_verify(placement, log.clone(), interval, options, stop(stopped.clone()));
            Some(tokio::spawn(run))
        }
        None => None,
    };
    let sweeper = match args.ttl_sweep_plan()? {
        Some((placement, options)) => {
            tracing::info!(interval = ?options.interval, batch = options.batch, "sweeping expired documents periodically");
            Some(tokio::spawn(miroir_reconciler::ttl_sweep::run_ttl_sweep(placement, log.clone(), options, stop(stopped.clone()))))
        }
        None => None,
    };
    let retention = args.retention_plan().map(|options| {
        tracing::info!(window = ?options.window, interval = ?options.interval, groups = ?options.groups, "trimming ops periodically");
        tokio::spawn(miroir_reconciler::retention::run_retention(log.clone(), options, stop(stopped.clone())))
    });
    let task_log_retention = match args.task_log_retention_plan() {
        Some(options) => match miroir_clients::snapshots::open_snapshot_store(&args.log, log.config()).await? {
            Some(snapshots) => {
                tracing::info!(window = ?options.window, interval = ?options.interval, "trimming tasks and task-events periodically");
                let run =
                    miroir_reconciler::retention::task_logs::run_task_log_retention(log.clone(), snapshots, options, stop(stopped.clone()));
                Some(tokio::spawn(run))
            }
            None => anyhow::bail!("--task-log-retention-records needs a log with snapshots (NATS or Kafka)"),
        },
        None => None,
    };
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = stopping.send(true);
    });
    miroir_reconciler::cdc::run_cdc(log, &args.group, &member, args.cdc_options(), stop(stopped)).await?;
    if let Some(verifier) = verifier {
        verifier.await??;
    }
    if let Some(sweeper) = sweeper {
        sweeper.await??;
    }
    if let Some(retention) = retention {
        retention.await?;
    }
    if let Some(retention) = task_log_retention {
        retention.await?;
    }
    Ok(())
}

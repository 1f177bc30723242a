//! `meili-standin`: the Meilisearch stand-in, launched with Meilisearch's own command line so the
//! harness can start either binary the same way.

use clap::Parser;

/// The subset of Meilisearch's options the harness passes (the rest are accepted and ignored).
#[derive(Parser, Debug)]
#[command(name = "meili-standin", about = "In-memory Meilisearch 1.50 stand-in for tests")]
struct Options {
    #[arg(long, env = "MEILI_HTTP_ADDR", default_value = "localhost:7700")]
    http_addr: String,
    #[arg(long, env = "MEILI_MASTER_KEY")]
    master_key: Option<String>,
    /// Accepted for compatibility; the stand-in keeps everything in memory.
    #[arg(long, env = "MEILI_DB_PATH", default_value = "./data.ms")]
    db_path: String,
    #[arg(long, env = "MEILI_NO_ANALYTICS")]
    no_analytics: bool,
    #[arg(long, env = "MEILI_ENV", default_value = "development")]
    env: String,
    #[arg(long, env = "MEILI_LOG_LEVEL", default_value = "INFO")]
    log_level: String,
    #[arg(long, env = "MEILI_EXPERIMENTAL_ENABLE_METRICS")]
    experimental_enable_metrics: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind(&options.http_addr).await?;
    eprintln!("meili-standin listening on {}", listener.local_addr()?);
    let key = options.master_key.filter(|k| !k.is_empty());
    miroir_integration::standin::serve(listener, key).await?;
    Ok(())
}

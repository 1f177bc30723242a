//! How every Miroir process writes its log: to stderr, filtered by `RUST_LOG` (default `info`),
//! as text for people or as one JSON object per line for log shippers (`--log-format json`).

/// The shape of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event: `timestamp`, `level`, `target`, `fields` and the spans it
    /// happened in (a request's `request_id` among them).
    Json,
}

/// The logging flag every process takes (flattened into its arguments).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LoggingArgs {
    /// `text` or `json` (one JSON object per line).
    #[arg(long, env = "MIROIR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl LoggingArgs {
    /// Installs the process-wide subscriber. Call once, first thing after parsing arguments.
    pub fn init(self) {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
        let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Text => builder.init(),
            LogFormat::Json => builder.json().with_current_span(true).with_span_list(true).init(),
        }
    }
}

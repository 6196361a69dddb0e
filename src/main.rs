//! The `keymint` binary: parse the command line, set up logging (and traces, when
//! the `OTEL_*` variables ask for them), run the command.

use std::io::IsTerminal;

use keymint::cli::{self, LogFormat};
use keymint::telemetry::Tracing;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Every allocation, the C libraries' (SQLite, aws-lc) included, goes to jemalloc:
/// under the same load its peak is lower than glibc's, whose per-thread arenas keep
/// what a burst freed (docs/performance.md, "The allocator").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Log lines on stderr, so that stdout carries only command output (e.g. --json).
fn log_lines<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => lines.json().boxed(),
        LogFormat::Text => lines.boxed(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::parse();
    // PostgreSQL's notices ("relation ... already exists, skipping") are not news.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let format = cli.shared.log_format;
    let tracing = match Tracing::start() {
        Ok(tracing) => tracing,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match &tracing {
        // Traces need spans the log lines leave out: each layer filters for itself.
        Some(traces) => tracing_subscriber::registry()
            .with(log_lines(format).with_filter(filter))
            .with(traces.layer())
            .init(),
        // Otherwise the log lines alone, as a build without traces sets them up: one
        // filter for the whole process, so disabled spans cost nothing.
        None => {
            let lines = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr);
            match format {
                LogFormat::Json => lines.json().init(),
                LogFormat::Text => lines.init(),
            }
        }
    }
    let result = cli::run(cli).await;
    if let Some(tracing) = tracing {
        tracing.shutdown();
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! The `keymint` command line: `serve` (the default) and the admin commands, which
//! work on the database directly through the same services as the API, acting as `cli`.

mod audit;
mod bootstrap;
mod keys;
mod output;
mod serve;
pub mod settings;
mod signing_keys;
mod usage;
mod workspaces;

use clap::{Parser, Subcommand};

use crate::config::Config;
pub use settings::{LogFormat, Settings};

/// keymint: an OAuth 2.0 authorization server that turns API keys into short-lived JWTs.
#[derive(Debug, Parser)]
#[command(name = "keymint", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Create a platform-admin key and print its credentials once.
    Bootstrap(bootstrap::Args),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Manage workspaces.
    #[command(subcommand)]
    Workspaces(workspaces::WorkspacesCommand),
    /// Read the audit log, newest first.
    Audit(audit::Args),
    /// Token exchanges by outcome across a workspace, and its top keys.
    Usage(usage::Args),
    /// Manage token signing keys.
    #[command(subcommand)]
    SigningKeys(signing_keys::SigningKeysCommand),
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.settings.into_config();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(config).await,
        Command::Migrate => {
            crate::store::open(&config.database_url).await?;
            eprintln!("migrations applied to {}", crate::store::redact_url(&config.database_url));
            Ok(())
        }
        Command::Bootstrap(args) => bootstrap::run(config, args).await,
        Command::Keys(cmd) => keys::run(config, cmd).await,
        Command::Workspaces(cmd) => workspaces::run(config, cmd).await,
        Command::Audit(args) => audit::run(config, args).await,
        Command::Usage(args) => usage::run(config, args).await,
        Command::SigningKeys(cmd) => signing_keys::run(config, cmd).await,
    }
}

/// Opens the app for an admin command: only an existing database (`serve`,
/// `migrate` and `bootstrap` are the commands that may create one).
async fn open(config: Config) -> anyhow::Result<std::sync::Arc<crate::app::App>> {
    crate::app::App::open_existing(config, std::sync::Arc::new(crate::clock::SystemClock)).await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        // Catches clashing flags (e.g. a subcommand flag shadowing a global one).
        super::Cli::command().debug_assert();
    }
}

//! The `keymint` command line: `serve` (the default) and the admin commands, which
//! work on the database directly through the same services as the API, acting as `cli`.

mod audit;
mod bootstrap;
mod errors;
mod keys;
mod output;
mod serve;
pub mod settings;
mod signing_keys;
mod usage;
mod workspaces;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Config;
pub use settings::{LogFormat, Server, Settings, Shared};

/// keymint: an OAuth 2.0 authorization server that turns API keys into short-lived JWTs.
#[derive(Debug, Parser)]
#[command(name = "keymint", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub shared: Shared,

    /// For `keymint` alone, which serves.
    #[command(flatten)]
    pub server: Server,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `keymint serve`'s options: the server settings.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub server: Server,
}

impl Cli {
    /// The settings of this run: `serve`'s server settings when it was named.
    pub fn settings(&self) -> Settings {
        let server = match &self.command {
            Some(Command::Serve(args)) => args.server.clone(),
            _ => self.server.clone(),
        };
        Settings { shared: self.shared.clone(), server }
    }
}

/// Parses the command line like [`Cli::parse`], and refuses a server setting given
/// to an admin command on the command line (`keymint --audience X keys create` would
/// otherwise be accepted and mean nothing).
pub fn parse() -> Cli {
    let matches = Cli::command().get_matches();
    if let Some((name, _)) = matches.subcommand() {
        let given = settings::SERVER_FLAGS
            .iter()
            .find(|id| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine));
        if let Some(id) = given {
            let flag = id.replace('_', "-");
            let message = if name == "serve" {
                format!("--{flag} goes after `serve`: keymint serve --{flag} ...")
            } else {
                format!(
                    "--{flag} is a server setting, for `keymint serve`; `keymint {name}` does \
                     not take it"
                )
            };
            Cli::command().error(clap::error::ErrorKind::ArgumentConflict, message).exit();
        }
    }
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.shared.master_key_from_flag =
        matches.value_source("master_key") == Some(clap::parser::ValueSource::CommandLine);
    cli
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
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
    let config = cli.settings().into_config();
    match cli.command {
        None | Some(Command::Serve(_)) => serve::run(config).await,
        Some(Command::Migrate) => {
            crate::store::open(&config.database_url).await?;
            eprintln!("migrations applied to {}", crate::store::redact_url(&config.database_url));
            Ok(())
        }
        Some(Command::Bootstrap(args)) => bootstrap::run(config, args).await,
        Some(Command::Keys(cmd)) => {
            let id = cmd.id().map(str::to_string);
            keys::run(config, cmd).await.map_err(|e| errors::in_flags(e, id.as_deref()))
        }
        Some(Command::Workspaces(cmd)) => {
            let id = cmd.id().map(str::to_string);
            workspaces::run(config, cmd).await.map_err(|e| errors::in_flags(e, id.as_deref()))
        }
        Some(Command::Audit(args)) => {
            audit::run(config, args).await.map_err(|e| errors::in_flags(e, None))
        }
        Some(Command::Usage(args)) => {
            usage::run(config, args).await.map_err(|e| errors::in_flags(e, None))
        }
        Some(Command::SigningKeys(cmd)) => signing_keys::run(config, cmd).await,
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

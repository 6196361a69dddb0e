//! The `keymint` command line: `serve` (the default), the local commands
//! (`migrate`, `bootstrap`), and the admin commands, which speak the `/v1` API
//! either to a running server (`--server`, as the admin's key) or in process on the
//! database (as `cli`); see [`api`](crate::cli::api).

/// `println!` for what a command prints on stdout: a closed stdout (`keymint audit
/// | head -1`) ends the command quietly, as it ends every Unix tool, instead of
/// panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}

pub mod api;
mod audit;
mod bootstrap;
mod config_file;
mod device_login;
mod errors;
mod keys;
mod login;
mod output;
pub mod remote;
mod role_bindings;
mod secret_scanning;
mod serve;
pub mod settings;
mod signing_keys;
mod usage;
mod webhooks;
mod workspaces;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::Config;
pub use settings::{LogFormat, Server, Settings, Shared};

/// keymint: an OAuth 2.0 authorization server that turns API keys into short-lived JWTs.
#[derive(Debug, Parser)]
#[command(
    name = "keymint",
    version = concat!(env!("CARGO_PKG_VERSION"), " (schema ", env!("KEYMINT_SCHEMA_VERSION"), ")"),
    about,
    propagate_version = true
)]
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
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = Cli::command();
    let file = match config_file::named(&args) {
        Some(path) => config_file::read(&path, &command).unwrap_or_else(|e| {
            // Exit status 2, as for a bad flag.
            eprintln!("error: {e:#}");
            std::process::exit(2)
        }),
        None => config_file::FileSettings::default(),
    };
    let command = config_file::apply(command, &file);
    let matches = command.clone().get_matches_from(&args);
    // `config check` shows what a server would run with: server settings are its input.
    if let Some((name, _)) = matches.subcommand().filter(|(name, _)| *name != "config") {
        let given = settings::SERVER_FLAGS
            .iter()
            .find(|id| matches.value_source(id) == Some(ValueSource::CommandLine));
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
    let source = |id: &str| matches.value_source(id);
    cli.shared.master_key_origin = match source("master_key") {
        Some(ValueSource::CommandLine) => "--master-key",
        Some(ValueSource::DefaultValue) => "master-key in the configuration file",
        _ => "KEYMINT_MASTER_KEY",
    };
    cli.shared.database_url_given =
        matches!(source("database_url"), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
            || file.sets("database-url");
    cli.shared.sources = config_file::sources(&command, &matches, &file);
    if let Some(Command::Config(ConfigCommand::Check { file: Some(path), .. })) = &cli.command {
        cli.shared.config = Some(path.clone());
    }
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
    /// Give people rights: roles bound to identity-provider groups or addresses.
    #[command(subcommand)]
    RoleBindings(role_bindings::RoleBindingsCommand),
    /// What secret scanners need to find this deployment's leaked secrets.
    #[command(subcommand)]
    SecretScanning(secret_scanning::SecretScanningCommand),
    /// Manage webhook endpoints: where keymint POSTs its events, signed.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Read the audit log, newest first.
    Audit(audit::Args),
    /// Token exchanges by outcome across a workspace, and its top keys.
    Usage(usage::Args),
    /// Manage token signing keys.
    #[command(subcommand)]
    SigningKeys(signing_keys::SigningKeysCommand),
    /// Configuration files (`--config keymint.toml`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Save an admin key's credentials for --server (asks for its secret, which is
    /// not shown); admin commands then use that server by default.
    ///
    /// Example: `keymint login --server https://keymint.example.com --client-id PcyU0ZyJPo3Qxpd1`
    Login(login::LoginArgs),
    /// Forget the credentials `keymint login` saved for --server (default: the
    /// default server).
    Logout,
    /// Say where admin commands act (a server or a database) and as whom, with
    /// which scopes; remotely, check the credentials.
    Whoami {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file (or --config's): every key a setting, every
    /// value valid, the settings consistent; then print each setting's effective
    /// value and where it came from (flag, environment, file, default), secrets
    /// masked.
    Check {
        /// The file (default: --config, KEYMINT_CONFIG).
        file: Option<std::path::PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Command {
    /// The name of a command that works on the database itself, never remotely.
    fn local_only(&self) -> Option<&'static str> {
        match self {
            Command::Serve(_) => Some("serve"),
            Command::Migrate => Some("migrate"),
            Command::Bootstrap(_) => Some("bootstrap"),
            _ => None,
        }
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.settings().into_config();
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs { server: cli.server }));
    if let (Some(name), Some(_)) = (command.local_only(), &cli.shared.server) {
        anyhow::bail!(
            "`keymint {name}` works on the database itself: run it where the database is, \
             with --database-url, not --server"
        );
    }
    let admin = match command {
        Command::Serve(_) => return serve::run(config).await,
        Command::Migrate => {
            crate::store::open(&config.database_url).await?.close().await;
            eprintln!(
                "migrations applied to {} (this keymint's schema: version {})",
                crate::store::redact_url(&config.database_url),
                crate::store::schema::VERSION
            );
            return Ok(());
        }
        Command::Bootstrap(args) => return bootstrap::run(config, args).await,
        Command::Login(args) => return login::login(cli.shared.server, args).await,
        Command::Logout => return login::logout(cli.shared.server),
        Command::Config(ConfigCommand::Check { json, .. }) => {
            let file = cli.shared.config.as_deref();
            return config_file::check_command(&config, file, &cli.shared.sources, json);
        }
        Command::SecretScanning(cmd) => {
            return secret_scanning::run(
                cmd,
                &config.secret_prefix,
                &config.retired_secret_prefixes,
            )
        }
        admin => admin,
    };
    let api = connect(&cli.shared, config).await?;
    let place = api.place();
    let (id, done) = match admin {
        Command::Keys(cmd) => (cmd.id().map(str::to_string), keys::run(&api, cmd).await),
        Command::Workspaces(cmd) => {
            (cmd.id().map(str::to_string), workspaces::run(&api, cmd).await)
        }
        Command::RoleBindings(cmd) => {
            (cmd.id().map(str::to_string), role_bindings::run(&api, cmd).await)
        }
        Command::Webhooks(cmd) => (cmd.id().map(str::to_string), webhooks::run(&api, cmd).await),
        Command::Audit(args) => (None, audit::run(&api, args).await),
        Command::Usage(args) => (None, usage::run(&api, args).await),
        Command::SigningKeys(cmd) => (None, signing_keys::run(&api, cmd).await),
        Command::Whoami { json } => (None, whoami(&api, json).await),
        _ => unreachable!("the other commands returned above"),
    };
    done.map_err(|e| errors::in_flags(e, id.as_deref(), &place))
}

/// `keymint whoami`.
async fn whoami(api: &api::Api, json: bool) -> anyhow::Result<()> {
    let me = api.whoami().await?;
    if json {
        return output::json(&me);
    }
    let text = |name: &str| output::text(&me, name);
    match me["mode"].as_str() {
        Some("remote") => outln!(
            "remote: {} as {} (credentials from {})",
            text("server"),
            text("actor"),
            text("credentials")
        ),
        _ => outln!("local: {} as cli", text("database")),
    }
    outln!("scopes: {}", text("scopes"));
    Ok(())
}

/// Where admin commands act: the server of `--server` (or of `keymint login`, when
/// no database is named), else the database.
async fn connect(shared: &Shared, config: Config) -> anyhow::Result<api::Api> {
    let server = match (&shared.server, shared.database_url_given) {
        (Some(_), true) => anyhow::bail!(
            "give --server (a running keymint) or --database-url (its database), not both"
        ),
        (Some(server), false) => Some(server.clone()),
        (None, true) => None,
        (None, false) => login::default_server()?,
    };
    match server {
        Some(server) => {
            let remote = remote::Remote::new(&server, login::credentials_for(&server)?)?;
            Ok(api::Api::remote(remote))
        }
        None => api::Api::local(config).await,
    }
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

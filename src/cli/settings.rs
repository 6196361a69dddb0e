//! The command-line face of [`Config`]: every setting as a flag and a `KEYMINT_*`
//! environment variable of the same name (documented in docs/configuration.md).
//! Only this module and its siblings know clap; the rest of keymint reads `Config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use ipnet::IpNet;

use crate::apikeys::hashing::HashPolicy;
use crate::apikeys::secret::Secret;
use crate::config::Config;
use crate::signing::Algorithm;
use crate::sso::SsoConfig;

/// The help heading of the settings local commands read (remote ones ignore them).
const LOCAL: &str = "Shared settings (local commands)";

/// Settings every command reads: where commands act (a database, or a running
/// server), where the master key is, and how secrets and signing keys are made (an
/// admin command creating a key must store it as the server would).
#[derive(Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct Shared {
    /// A running keymint to manage over its API, e.g. `https://keymint.example.com`,
    /// as the admin key of KEYMINT_CLIENT_ID with KEYMINT_CLIENT_SECRET (or
    /// KEYMINT_CLIENT_KEY_FILE), or of `keymint login` (whose server is the
    /// default once logged in).
    #[arg(long, env = "KEYMINT_SERVER", global = true, value_name = "URL")]
    pub server: Option<String>,

    /// Database URL: `sqlite:<file>` or `postgres://user@host/db` (only `serve`,
    /// `migrate` and `bootstrap` create it). Admin commands act on it directly.
    #[arg(
        long,
        env = "KEYMINT_DATABASE_URL",
        default_value = "sqlite://keymint.db",
        global = true
    )]
    pub database_url: String,

    /// Whether `database_url` was given (set by [`super::parse`]), not the default.
    #[arg(skip)]
    pub database_url_given: bool,

    /// File holding the master key (base64 of 32 bytes); created on first start.
    #[arg(
        long,
        env = "KEYMINT_MASTER_KEY_FILE",
        default_value = "keys/master.key",
        global = true,
        help_heading = LOCAL
    )]
    pub master_key_file: PathBuf,

    /// The master key itself (base64 of 32 bytes); overrides the file.
    #[arg(long, env = "KEYMINT_MASTER_KEY", hide_env_values = true, global = true, help_heading = LOCAL)]
    pub master_key: Option<String>,

    /// Where `master_key` came from, for messages (set by [`super::parse`]).
    #[arg(skip = "KEYMINT_MASTER_KEY")]
    pub master_key_origin: &'static str,

    /// A TOML file of settings, each under the name of its flag (`token-ttl = 300`):
    /// flags and `KEYMINT_*` variables override it. See docs/configuration.md.
    #[arg(long, env = "KEYMINT_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Where each setting came from (set by [`super::parse`]).
    #[arg(skip)]
    pub sources: std::collections::BTreeMap<String, &'static str>,

    /// Signing algorithm for new signing keys.
    #[arg(long, env = "KEYMINT_SIGNING_ALG", value_parser = named(Algorithm::ALL, Algorithm::name),
          default_value = "ES256", global = true, help_heading = LOCAL)]
    pub signing_alg: Algorithm,

    /// How secrets are stored: `by-entropy` (SHA-256 for generated, argon2id for imported)
    /// or `argon2id-for-all`.
    #[arg(
        long,
        env = "KEYMINT_SECRET_HASHING",
        value_parser = named(HashPolicy::ALL, HashPolicy::name),
        default_value = "by-entropy",
        global = true,
        help_heading = LOCAL
    )]
    pub secret_hashing: HashPolicy,

    /// How long a signing key signs before the next one takes over, in seconds
    /// (default 30 days). The next key is published one JWKS max-age before.
    #[arg(long, env = "KEYMINT_SIGNING_KEY_ROTATION", default_value_t = 30 * 86_400,
          value_parser = clap::value_parser!(u32).range(3600..), global = true, help_heading = LOCAL)]
    pub signing_key_rotation: u32,

    /// Log format: `text` or `json`. Levels come from `RUST_LOG` (default `info`).
    #[arg(long, env = "KEYMINT_LOG_FORMAT", default_value = "text", global = true, help_heading = LOCAL)]
    pub log_format: LogFormat,

    /// Let keys' `jwks_uri`, and the issuers of their federated credentials
    /// (workload federation), point at loopback and private addresses, over
    /// `http` too (development and tests; never on a server reachable from outside).
    #[arg(long, env = "KEYMINT_ALLOW_PRIVATE_JWKS_URI", global = true, help_heading = LOCAL)]
    pub allow_private_jwks_uri: bool,

    /// Let webhook endpoints be on loopback and private addresses, over `http`
    /// too (development and tests; never on a server reachable from outside).
    #[arg(long, env = "KEYMINT_ALLOW_PRIVATE_WEBHOOK_URLS", global = true, help_heading = LOCAL)]
    pub allow_private_webhook_urls: bool,

    /// The prefix of this deployment's secrets (`<prefix>_live_...`), so secret
    /// scanners can tell its keys from any other keymint's: 2-16 lowercase
    /// letters and digits.
    #[arg(long, env = "KEYMINT_SECRET_PREFIX", default_value = "km", global = true, help_heading = LOCAL)]
    pub secret_prefix: String,

    /// Earlier prefixes whose secrets keep working, comma-separated (after a
    /// change of --secret-prefix).
    #[arg(long, env = "KEYMINT_RETIRED_SECRET_PREFIXES", value_delimiter = ',', global = true, help_heading = LOCAL)]
    pub retired_secret_prefixes: Vec<String>,
}

/// Settings of the running server, given to `keymint serve` (or to `keymint` alone,
/// which serves). Admin commands do not take them.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server settings")]
pub struct Server {
    /// Address to listen on: `host:port`, the host an IP address or a name
    /// (`localhost:8080`, `[::1]:8080`, `0.0.0.0:8080`).
    #[arg(long, env = "KEYMINT_LISTEN", default_value = "127.0.0.1:8080",
          value_parser = listen_address)]
    pub listen: SocketAddr,

    /// A second address, for operations only: `/metrics`, `/healthz` and `/readyz`
    /// are served there and no longer on --listen (keep it off the public network).
    /// Off by default: the public port serves them.
    #[arg(long, env = "KEYMINT_ADMIN_LISTEN", value_parser = listen_address)]
    pub admin_listen: Option<SocketAddr>,

    /// The issuer URL (`iss`), as clients reach this server. Default `http://<listen>`.
    #[arg(long, env = "KEYMINT_ISSUER")]
    pub issuer: Option<String>,

    /// The default `aud` of tokens, when neither the request nor the key names one.
    /// Default: the issuer URL.
    #[arg(long, env = "KEYMINT_AUDIENCE")]
    pub audience: Option<String>,

    /// Access token lifetime in seconds (60 to 86400).
    #[arg(long, env = "KEYMINT_TOKEN_TTL", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(60..=86_400))]
    pub token_ttl: u32,

    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed (comma-separated CIDRs).
    #[arg(long, env = "KEYMINT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpNet>,

    /// Concurrent argon2id verifications (default: half the CPUs, at least one).
    #[arg(long, env = "KEYMINT_ARGON2_WORKERS")]
    pub argon2_workers: Option<usize>,

    /// Failed client authentications allowed per key id in each window; then 429.
    #[arg(long, env = "KEYMINT_AUTH_FAILURES_PER_KEY", default_value_t = 20)]
    pub auth_failures_per_key: u32,

    /// Failed client authentications allowed per client address in each window; then 429.
    #[arg(long, env = "KEYMINT_AUTH_FAILURES_PER_IP", default_value_t = 100)]
    pub auth_failures_per_ip: u32,

    /// Length of the failed-authentication window, in seconds.
    #[arg(long, env = "KEYMINT_AUTH_FAILURE_WINDOW", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub auth_failure_window: u32,

    /// Milliseconds a refused client authentication waits before it is answered,
    /// counted from the request's start (0 to 5000).
    #[arg(long, env = "KEYMINT_AUTH_FAILURE_DELAY", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(0..=5_000))]
    pub auth_failure_delay: u32,

    /// Seconds a request with a body may take (reading it included) before it is
    /// answered 408.
    #[arg(long, env = "KEYMINT_REQUEST_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=300))]
    pub request_timeout: u32,

    /// Memory for key records held by this instance, in MiB: the keys in use stay,
    /// the rest are read from the database when presented.
    #[arg(long, env = "KEYMINT_KEY_CACHE_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub key_cache_mb: u32,

    /// Seconds between flushes of usage counters and last-use times to the usage log
    /// (also at shutdown and before every usage read).
    #[arg(long, env = "KEYMINT_USAGE_FLUSH_INTERVAL", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub usage_flush_interval: u32,

    /// `Cache-Control: max-age` of the JWKS, in seconds.
    #[arg(long, env = "KEYMINT_JWKS_MAX_AGE", default_value_t = 300)]
    pub jwks_max_age: u32,

    /// Require a server nonce in every DPoP proof (RFC 9449 section 8): proofs are
    /// fresh by this server's word, not the client's clock. Every instance sharing
    /// the master key issues and accepts the same nonces.
    #[arg(long, env = "KEYMINT_DPOP_NONCES")]
    pub dpop_nonces: bool,

    /// Where GitHub publishes the keys that sign its secret-scanning reports
    /// (`POST /secret-scanning/github`).
    #[arg(
        long,
        env = "KEYMINT_GITHUB_SECRET_SCANNING_KEYS_URL",
        default_value = "https://api.github.com/meta/public_keys/secret_scanning"
    )]
    pub github_secret_scanning_keys_url: String,

    /// Do not migrate the database at start: `keymint migrate` upgrades it, and a
    /// server on an older schema refuses to start (for fleets that upgrade the
    /// schema as a step of its own; docs/upgrading.md).
    #[arg(long, env = "KEYMINT_NO_MIGRATE")]
    pub no_migrate: bool,

    /// The issuer URL of the organisation's OpenID provider: people sign in to the
    /// console through it ("Sign in with SSO"). https, or http on loopback only.
    /// keymint's redirect URI is `<issuer>/console/sso/callback`.
    #[arg(long, env = "KEYMINT_SSO_ISSUER", help_heading = SSO)]
    pub sso_issuer: Option<String>,

    /// keymint's client id at the OpenID provider.
    #[arg(long, env = "KEYMINT_SSO_CLIENT_ID", help_heading = SSO)]
    pub sso_client_id: Option<String>,

    /// keymint's client secret at the OpenID provider (prefer the file, or the
    /// environment, to a flag other users can read).
    #[arg(long, env = "KEYMINT_SSO_CLIENT_SECRET", hide_env_values = true, help_heading = SSO)]
    pub sso_client_secret: Option<String>,

    /// A file holding the client secret.
    #[arg(long, env = "KEYMINT_SSO_CLIENT_SECRET_FILE", help_heading = SSO)]
    pub sso_client_secret_file: Option<PathBuf>,

    /// The ID token claim that lists a person's groups.
    #[arg(long, env = "KEYMINT_SSO_GROUPS_CLAIM", default_value = "groups", help_heading = SSO)]
    pub sso_groups_claim: String,

    /// Groups (comma-separated) whose members are platform admins, with no role
    /// binding needed: how the first person gets in.
    #[arg(long, env = "KEYMINT_SSO_ADMIN_GROUPS", value_delimiter = ',', help_heading = SSO)]
    pub sso_admin_groups: Vec<String>,

    /// Whether the console offers sign-in with an admin key's secret, the
    /// break-glass door beside SSO (`false` for organisations that require SSO).
    #[arg(long, env = "KEYMINT_CONSOLE_KEY_SIGN_IN", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub console_key_sign_in: bool,
}

/// The help heading of the SSO settings.
const SSO: &str = "Sign-in through the organisation's OpenID provider";

/// The ids of [`Server`]'s flags, to tell an admin command given one of them.
pub const SERVER_FLAGS: [&str; 25] = [
    "listen",
    "admin_listen",
    "issuer",
    "audience",
    "token_ttl",
    "trusted_proxies",
    "argon2_workers",
    "auth_failures_per_key",
    "auth_failures_per_ip",
    "auth_failure_window",
    "auth_failure_delay",
    "request_timeout",
    "key_cache_mb",
    "usage_flush_interval",
    "jwks_max_age",
    "dpop_nonces",
    "no_migrate",
    "github_secret_scanning_keys_url",
    "sso_issuer",
    "sso_client_id",
    "sso_client_secret",
    "sso_client_secret_file",
    "sso_groups_claim",
    "sso_admin_groups",
    "console_key_sign_in",
];

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings of one run: the shared ones and the server's.
#[derive(Clone)]
pub struct Settings {
    pub shared: Shared,
    pub server: Server,
}

impl Settings {
    /// The settings the service runs with.
    pub fn config(&self) -> Config {
        let this = self.clone();
        this.into_config()
    }

    /// The settings the service runs with, consuming the flags.
    pub fn into_config(self) -> Config {
        let Settings { shared, server } = self;
        Config {
            listen: server.listen,
            admin_listen: server.admin_listen,
            database_url: shared.database_url,
            issuer: server.issuer,
            audience: server.audience,
            master_key_file: shared.master_key_file,
            master_key: shared.master_key,
            master_key_origin: shared.master_key_origin,
            token_ttl: server.token_ttl,
            trusted_proxies: server.trusted_proxies,
            signing_alg: shared.signing_alg,
            secret_hashing: shared.secret_hashing,
            argon2_workers: server.argon2_workers,
            auth_failures_per_key: server.auth_failures_per_key,
            auth_failures_per_ip: server.auth_failures_per_ip,
            auth_failure_window: server.auth_failure_window,
            auth_failure_delay: server.auth_failure_delay,
            signing_key_rotation: shared.signing_key_rotation,
            request_timeout: server.request_timeout,
            key_cache_mb: server.key_cache_mb,
            usage_flush_interval: server.usage_flush_interval,
            jwks_max_age: server.jwks_max_age,
            dpop_nonces: server.dpop_nonces,
            github_secret_scanning_keys_url: server.github_secret_scanning_keys_url,
            allow_private_jwks_uri: shared.allow_private_jwks_uri,
            allow_private_webhook_urls: shared.allow_private_webhook_urls,
            secret_prefix: shared.secret_prefix,
            retired_secret_prefixes: shared.retired_secret_prefixes,
            sso: server.sso_issuer.map(|issuer| SsoConfig {
                issuer: issuer.trim_end_matches('/').to_string(),
                client_id: server.sso_client_id.unwrap_or_default(),
                client_secret: server.sso_client_secret.map(Secret::new),
                client_secret_file: server.sso_client_secret_file,
                groups_claim: server.sso_groups_claim,
                admin_groups: server
                    .sso_admin_groups
                    .into_iter()
                    .map(|g| g.trim().to_string())
                    .filter(|g| !g.is_empty())
                    .collect(),
            }),
            console_key_sign_in: server.console_key_sign_in,
            migrate: !server.no_migrate,
        }
    }
}

/// Never prints the master key, nor a database password.
impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("database_url", &crate::store::redact_url(&self.database_url))
            .field("master_key_file", &self.master_key_file)
            .field("master_key", &self.master_key.as_ref().map(|_| "<redacted>"))
            .field("secret_hashing", &self.secret_hashing.name())
            .field("signing_alg", &self.signing_alg.name())
            .field("signing_key_rotation", &self.signing_key_rotation)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// Prints what `Config` prints: never the master key.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.config(), f)
    }
}

/// A `host:port` to listen on; a host name is resolved now, its first address
/// (IPv4 first) taken.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} has no port: give host:port, e.g. localhost:8080"));
    };
    if port.parse::<u16>().is_err() {
        return Err(format!("{port:?} is not a port (0-65535)"));
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> =
        text.to_socket_addrs().map_err(|e| format!("cannot resolve {host:?}: {e}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("{host:?} has no address"))
}

/// The command-line face of a domain enum: its values by name, listed in `--help`.
fn named<T: Copy + Send + Sync + 'static, const N: usize>(
    all: [T; N],
    name: fn(T) -> &'static str,
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(all.map(name)).try_map(move |chosen: String| {
        all.into_iter().find(|v| name(*v) == chosen).ok_or("unknown value")
    })
}

#[cfg(test)]
mod tests {
    use super::listen_address;

    #[test]
    fn a_listen_address_may_name_its_host() {
        assert_eq!(listen_address("127.0.0.1:8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(listen_address("[::1]:9").unwrap().to_string(), "[::1]:9");
        let local = listen_address("localhost:8080").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 8080, "{local}");
        assert!(listen_address("localhost").unwrap_err().contains("has no port"));
        assert!(listen_address("localhost:http").unwrap_err().contains("is not a port"));
        assert!(listen_address("no-such-host.invalid:80").unwrap_err().contains("cannot resolve"));
    }
}

//! The command-line face of [`Config`]: every setting as a flag and a `KEYMINT_*`
//! environment variable of the same name (documented in docs/configuration.md).
//! Only this module and its siblings know clap; the rest of keymint reads `Config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use ipnet::IpNet;

use crate::apikeys::hashing::HashPolicy;
use crate::config::Config;
use crate::signing::Algorithm;

/// Settings shared by `serve` and every admin command.
#[derive(Clone, Args)]
pub struct Settings {
    /// Address to listen on: `host:port`, the host an IP address or a name
    /// (`localhost:8080`, `[::1]:8080`, `0.0.0.0:8080`).
    #[arg(long, env = "KEYMINT_LISTEN", default_value = "127.0.0.1:8080",
          value_parser = listen_address, global = true)]
    pub listen: SocketAddr,

    /// Database URL: `sqlite:<file>` (created if missing) or `postgres://user@host/db`.
    #[arg(
        long,
        env = "KEYMINT_DATABASE_URL",
        default_value = "sqlite://keymint.db",
        global = true
    )]
    pub database_url: String,

    /// The issuer URL (`iss`), as clients reach this server. Default `http://<listen>`.
    #[arg(long, env = "KEYMINT_ISSUER", global = true)]
    pub issuer: Option<String>,

    /// The default `aud` of tokens, when neither the request nor the key names one.
    /// Default: the issuer URL.
    #[arg(long, env = "KEYMINT_AUDIENCE", global = true)]
    pub audience: Option<String>,

    /// File holding the master key (base64 of 32 bytes); created on first start.
    #[arg(long, env = "KEYMINT_MASTER_KEY_FILE", default_value = "keys/master.key", global = true)]
    pub master_key_file: PathBuf,

    /// The master key itself (base64 of 32 bytes); overrides the file.
    #[arg(long, env = "KEYMINT_MASTER_KEY", hide_env_values = true, global = true)]
    pub master_key: Option<String>,

    /// Access token lifetime in seconds (60 to 86400).
    #[arg(long, env = "KEYMINT_TOKEN_TTL", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(60..=86_400), global = true)]
    pub token_ttl: u32,

    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed (comma-separated CIDRs).
    #[arg(long, env = "KEYMINT_TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<IpNet>,

    /// Signing algorithm for new signing keys.
    #[arg(long, env = "KEYMINT_SIGNING_ALG", value_parser = named(Algorithm::ALL, Algorithm::name),
          default_value = "ES256", global = true)]
    pub signing_alg: Algorithm,

    /// How secrets are stored: `by-entropy` (SHA-256 for generated, argon2id for imported)
    /// or `argon2id-for-all`.
    #[arg(
        long,
        env = "KEYMINT_SECRET_HASHING",
        value_parser = named(HashPolicy::ALL, HashPolicy::name),
        default_value = "by-entropy",
        global = true
    )]
    pub secret_hashing: HashPolicy,

    /// Concurrent argon2id verifications (default: half the CPUs, at least one).
    #[arg(long, env = "KEYMINT_ARGON2_WORKERS", global = true)]
    pub argon2_workers: Option<usize>,

    /// Failed client authentications allowed per key id in each window; then 429.
    #[arg(long, env = "KEYMINT_AUTH_FAILURES_PER_KEY", default_value_t = 20, global = true)]
    pub auth_failures_per_key: u32,

    /// Failed client authentications allowed per client address in each window; then 429.
    #[arg(long, env = "KEYMINT_AUTH_FAILURES_PER_IP", default_value_t = 100, global = true)]
    pub auth_failures_per_ip: u32,

    /// Length of the failed-authentication window, in seconds.
    #[arg(long, env = "KEYMINT_AUTH_FAILURE_WINDOW", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=86_400), global = true)]
    pub auth_failure_window: u32,

    /// How long a signing key signs before the next one takes over, in seconds
    /// (default 30 days). The next key is published one JWKS max-age before.
    #[arg(long, env = "KEYMINT_SIGNING_KEY_ROTATION", default_value_t = 30 * 86_400,
          value_parser = clap::value_parser!(u32).range(3600..), global = true)]
    pub signing_key_rotation: u32,

    /// Seconds a request with a body may take (reading it included) before it is
    /// answered 408.
    #[arg(long, env = "KEYMINT_REQUEST_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=300), global = true)]
    pub request_timeout: u32,

    /// Seconds between writes of usage counters and last-use times (also written at
    /// shutdown and before every usage read).
    #[arg(long, env = "KEYMINT_USAGE_FLUSH_INTERVAL", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600), global = true)]
    pub usage_flush_interval: u32,

    /// `Cache-Control: max-age` of the JWKS, in seconds.
    #[arg(long, env = "KEYMINT_JWKS_MAX_AGE", default_value_t = 300, global = true)]
    pub jwks_max_age: u32,

    /// Log format: `text` or `json`. Levels come from `RUST_LOG` (default `info`).
    #[arg(long, env = "KEYMINT_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    /// The settings the service runs with.
    pub fn config(&self) -> Config {
        let this = self.clone();
        this.into_config()
    }

    /// The settings the service runs with, consuming the flags.
    pub fn into_config(self) -> Config {
        Config {
            listen: self.listen,
            database_url: self.database_url,
            issuer: self.issuer,
            audience: self.audience,
            master_key_file: self.master_key_file,
            master_key: self.master_key,
            token_ttl: self.token_ttl,
            trusted_proxies: self.trusted_proxies,
            signing_alg: self.signing_alg,
            secret_hashing: self.secret_hashing,
            argon2_workers: self.argon2_workers,
            auth_failures_per_key: self.auth_failures_per_key,
            auth_failures_per_ip: self.auth_failures_per_ip,
            auth_failure_window: self.auth_failure_window,
            signing_key_rotation: self.signing_key_rotation,
            request_timeout: self.request_timeout,
            usage_flush_interval: self.usage_flush_interval,
            jwks_max_age: self.jwks_max_age,
        }
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

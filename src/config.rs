//! Configuration: the settings the service runs with. Every setting is a flag and
//! a `KEYMINT_*` environment variable of the same name (`cli::settings`,
//! documented in docs/configuration.md). `Debug` never prints secrets.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use crate::apikeys::hashing::HashPolicy;
use crate::signing::{Algorithm, MasterKeySource};
use crate::sso::SsoConfig;

/// Settings shared by `serve` and every admin command (see `cli::settings` for
/// their flags and defaults).
#[derive(Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,

    /// Where `/metrics`, `/healthz` and `/readyz` are served instead of `listen`.
    pub admin_listen: Option<SocketAddr>,

    /// Database URL: `sqlite:<file>` (created if missing) or `postgres://user@host/db`.
    pub database_url: String,

    /// The issuer URL (`iss`), as clients reach this server. Default `http://<listen>`.
    pub issuer: Option<String>,

    /// The default `aud` of tokens, when neither the request nor the key names one.
    /// Default: the issuer URL.
    pub audience: Option<String>,

    /// File holding the master key (base64 of 32 bytes); created on first start.
    pub master_key_file: PathBuf,

    /// The master key itself (base64 of 32 bytes); overrides the file.
    pub master_key: Option<String>,

    /// Where `master_key` was given (`--master-key` or `KEYMINT_MASTER_KEY`), so
    /// messages name what the operator actually set.
    pub master_key_origin: &'static str,

    /// Access token lifetime in seconds (60 to 86400).
    pub token_ttl: u32,

    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers are believed (comma-separated CIDRs).
    pub trusted_proxies: Vec<IpNet>,

    /// Signing algorithm for new signing keys.
    pub signing_alg: Algorithm,

    /// How secrets are stored: `by-entropy` (SHA-256 for generated, argon2id for imported)
    /// or `argon2id-for-all`.
    pub secret_hashing: HashPolicy,

    /// Concurrent argon2id verifications (default: half the CPUs, at least one).
    pub argon2_workers: Option<usize>,

    /// Failed client authentications allowed per key id in each window; then 429.
    pub auth_failures_per_key: u32,

    /// Failed client authentications allowed per client address in each window; then 429.
    pub auth_failures_per_ip: u32,

    /// Length of the failed-authentication window, in seconds.
    pub auth_failure_window: u32,

    /// Milliseconds a refused client authentication waits before it is answered.
    pub auth_failure_delay: u32,

    /// Memory for cached key records, in MiB.
    pub key_cache_mb: u32,

    /// How long a signing key signs before the next one takes over, in seconds
    /// (default 30 days). The next key is published one JWKS max-age before.
    pub signing_key_rotation: u32,

    /// Seconds a request with a body may take (reading it included) before it is
    /// answered 408.
    pub request_timeout: u32,

    /// Seconds between writes of usage counters and last-use times (also written at
    /// shutdown and before every usage read).
    pub usage_flush_interval: u32,

    /// `Cache-Control: max-age` of the JWKS, in seconds.
    pub jwks_max_age: u32,

    /// Require a server nonce in every DPoP proof.
    pub dpop_nonces: bool,

    /// Where GitHub publishes the keys of its secret-scanning reports.
    pub github_secret_scanning_keys_url: String,

    /// Keys' `jwks_uri`, and the issuers of their federated credentials, may
    /// point at loopback and private addresses, over `http` (development only).
    pub allow_private_jwks_uri: bool,

    /// Webhook endpoints may be on loopback and private addresses, over `http`.
    pub allow_private_webhook_urls: bool,

    /// The prefix of new secrets, and earlier ones still accepted.
    pub secret_prefix: String,
    pub retired_secret_prefixes: Vec<String>,

    /// Sign-in through the organisation's OpenID provider (`--sso-*`), when set.
    pub sso: Option<SsoConfig>,

    /// Whether the console offers sign-in with an admin key (the break-glass door).
    pub console_key_sign_in: bool,

    /// Whether `serve` applies this keymint's migrations at start (`--no-migrate`
    /// leaves that to `keymint migrate`).
    pub migrate: bool,
}

/// Prints what `config check` shows: every setting, never a secret.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.effective()).finish()
    }
}

/// A setting's effective value as text: strings bare, lists and numbers as JSON,
/// `unset` for a setting that has none.
pub fn shown(value: &serde_json::Value, unset: &str) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => unset.to_string(),
        other => other.to_string(),
    }
}

/// A secret's place in what is shown: whether it is set, never its value.
fn masked(set: bool) -> serde_json::Value {
    if set {
        "<redacted>".into()
    } else {
        serde_json::Value::Null
    }
}

impl Config {
    /// Every setting's effective value under its flag's id (`token_ttl`), secrets
    /// masked, the database password redacted: what `keymint config check` shows.
    pub fn effective(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::json;
        let sso = self.sso.as_ref();
        let effective = json!({
            "listen": self.listen.to_string(),
            "admin_listen": self.admin_listen.map(|a| a.to_string()),
            "database_url": crate::store::redact_url(&self.database_url),
            "issuer": self.issuer(),
            "audience": self.audience(),
            "master_key_file": self.master_key_file.display().to_string(),
            "master_key": masked(self.master_key.is_some()),
            "token_ttl": self.token_ttl,
            "trusted_proxies": self.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "signing_alg": self.signing_alg.name(),
            "secret_hashing": self.secret_hashing.name(),
            "argon2_workers": self.argon2_workers,
            "auth_failures_per_key": self.auth_failures_per_key,
            "auth_failures_per_ip": self.auth_failures_per_ip,
            "auth_failure_window": self.auth_failure_window,
            "auth_failure_delay": self.auth_failure_delay,
            "key_cache_mb": self.key_cache_mb,
            "signing_key_rotation": self.signing_key_rotation,
            "request_timeout": self.request_timeout,
            "usage_flush_interval": self.usage_flush_interval,
            "jwks_max_age": self.jwks_max_age,
            "dpop_nonces": self.dpop_nonces,
            "github_secret_scanning_keys_url": self.github_secret_scanning_keys_url,
            "allow_private_jwks_uri": self.allow_private_jwks_uri,
            "allow_private_webhook_urls": self.allow_private_webhook_urls,
            "secret_prefix": self.secret_prefix,
            "retired_secret_prefixes": self.retired_secret_prefixes,
            "console_key_sign_in": self.console_key_sign_in,
            "no_migrate": !self.migrate,
            "sso_issuer": sso.map(|s| &s.issuer),
            "sso_client_id": sso.map(|s| &s.client_id),
            "sso_client_secret": masked(sso.is_some_and(|s| s.client_secret.is_some())),
            "sso_client_secret_file": sso.and_then(|s| s.client_secret_file.as_ref()).map(|p| p.display().to_string()),
            "sso_groups_claim": sso.map(|s| &s.groups_claim),
            "sso_admin_groups": sso.map(|s| &s.admin_groups),
        });
        match effective {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("json! of an object literal is an object"),
        }
    }

    /// Logs the effective configuration at start, one field per setting (JSON
    /// fields with `--log-format json`), secrets masked.
    pub fn log_effective(&self) {
        let e = self.effective();
        let text = |name: &str| shown(&e[name], "");
        tracing::info!(
            listen = %self.listen,
            admin_listen = %text("admin_listen"),
            database_url = %text("database_url"),
            issuer = %text("issuer"),
            audience = %text("audience"),
            master_key_file = %text("master_key_file"),
            master_key = %text("master_key"),
            token_ttl = self.token_ttl,
            trusted_proxies = %text("trusted_proxies"),
            signing_alg = self.signing_alg.name(),
            secret_hashing = self.secret_hashing.name(),
            argon2_workers = %text("argon2_workers"),
            auth_failures_per_key = self.auth_failures_per_key,
            auth_failures_per_ip = self.auth_failures_per_ip,
            auth_failure_window = self.auth_failure_window,
            auth_failure_delay = self.auth_failure_delay,
            key_cache_mb = self.key_cache_mb,
            signing_key_rotation = self.signing_key_rotation,
            request_timeout = self.request_timeout,
            usage_flush_interval = self.usage_flush_interval,
            jwks_max_age = self.jwks_max_age,
            dpop_nonces = self.dpop_nonces,
            github_secret_scanning_keys_url = %self.github_secret_scanning_keys_url,
            allow_private_jwks_uri = self.allow_private_jwks_uri,
            allow_private_webhook_urls = self.allow_private_webhook_urls,
            secret_prefix = %self.secret_prefix,
            retired_secret_prefixes = %text("retired_secret_prefixes"),
            console_key_sign_in = self.console_key_sign_in,
            no_migrate = !self.migrate,
            "configuration"
        );
        if self.sso.is_some() {
            tracing::info!(
                sso_issuer = %text("sso_issuer"),
                sso_client_id = %text("sso_client_id"),
                sso_client_secret = %text("sso_client_secret"),
                sso_client_secret_file = %text("sso_client_secret_file"),
                sso_groups_claim = %text("sso_groups_claim"),
                sso_admin_groups = %text("sso_admin_groups"),
                "sign-in configuration"
            );
        }
    }

    /// The issuer URL, without a trailing slash.
    pub fn issuer(&self) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string()
    }

    /// The default token audience.
    pub fn audience(&self) -> String {
        self.audience.clone().unwrap_or_else(|| self.issuer())
    }

    /// The audience of the management API: tokens with management scopes carry it.
    pub fn management_audience(&self) -> String {
        format!("{}/v1", self.issuer())
    }

    /// When signing keys move between states.
    pub fn rotation_policy(&self) -> crate::signing::RotationPolicy {
        crate::signing::RotationPolicy {
            interval_seconds: i64::from(self.signing_key_rotation),
            publish_seconds: i64::from(self.jwks_max_age),
            retire_seconds: i64::from(self.token_ttl) + crate::oauth::CLOCK_LEEWAY_SECONDS + 60,
        }
    }

    pub fn master_key_source(&self) -> MasterKeySource {
        match &self.master_key {
            Some(v) => MasterKeySource::Value { value: v.clone(), origin: self.master_key_origin },
            None => MasterKeySource::File(self.master_key_file.clone()),
        }
    }

    /// Checks what a flag cannot check alone: the issuer and audience as URLs.
    pub fn validate(&self) -> anyhow::Result<()> {
        let issuer = self.issuer();
        if !(issuer.starts_with("http://") || issuer.starts_with("https://")) {
            anyhow::bail!("--issuer must be an http:// or https:// URL, got {issuer:?}");
        }
        if issuer.contains('?') || issuer.contains('#') {
            anyhow::bail!("--issuer must not have a query or fragment (RFC 8414 section 2)");
        }
        if self.audience().trim().is_empty() {
            anyhow::bail!("--audience must not be empty");
        }
        for prefix in std::iter::once(&self.secret_prefix).chain(&self.retired_secret_prefixes) {
            crate::apikeys::secret::check_prefix(prefix).map_err(|why| {
                anyhow::anyhow!("--secret-prefix / --retired-secret-prefixes: {why}")
            })?;
        }
        if !self.console_key_sign_in && self.sso.is_none() {
            anyhow::bail!(
                "--console-key-sign-in false needs --sso-issuer: the console would have no way in"
            );
        }
        Ok(())
    }
}

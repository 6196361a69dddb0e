//! The assembled service: store, clock, hashing, signing keys and the domain
//! services built on them. `serve` and every admin command start from [`App::open`](crate::app::App::open).

use crate::access::RoleBindings;
use std::sync::Arc;

use anyhow::Context;

use crate::apikeys::cache::KeyCache;
use crate::apikeys::hashing::Hasher;
use crate::apikeys::{Keys, NewKey, Revealed};
use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::Config;
use crate::devices::Devices;
use crate::metrics::Metrics;
use crate::oauth::dpop::Nonces;
use crate::oauth::jwks_uri::RemoteKeys;
use crate::oauth::limiter::{FailureLimiter, Limits};
use crate::oauth::once::UsedIds;
use crate::oauth::{Issuance, TokenService};
use crate::people::People;
use crate::sessions::Sessions;
use crate::signing::{self, Keyring, SigningKeys};
use crate::sso::Provider;
use crate::store::schema::Opening;
use crate::store::{self, Store};
use crate::usage::Usage;
use crate::vocab::scope::ManagementScope;
use crate::vocab::{Actor, ManageError};
use crate::workspaces::Workspaces;

/// Everything a request or a command needs.
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub keyring: Arc<Keyring>,
    pub keys: Keys,
    pub workspaces: Workspaces,
    pub role_bindings: RoleBindings,
    pub webhooks: crate::webhooks::Webhooks,
    /// The keys GitHub signs its secret-scanning reports with.
    pub github_keys: crate::apikeys::github::GithubKeys,
    /// The CLI signing in as a person (the device flow).
    pub devices: Devices,
    /// People who sign in through the identity provider.
    pub people: People,
    /// The identity provider, when `--sso-issuer` is set.
    pub sso: Option<Arc<Provider>>,
    pub signing_keys: SigningKeys,
    pub audit: Audit,
    pub cache: Arc<KeyCache>,
    pub metrics: Arc<Metrics>,
    /// The newest change when the app opened: the change feed starts after it.
    pub feed_start: i64,
    /// Whether the change feed is in sync (`/readyz` says not while it resyncs).
    pub feed_status: Arc<crate::feed::Status>,
    pub usage: Arc<Usage>,
    pub tokens: Arc<TokenService>,
    /// Console sign-in and sessions.
    pub sessions: Sessions,
}

impl App {
    /// Opens the database (creating and migrating it), loads the master key and the
    /// signing keys: what `serve` does.
    pub async fn open(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<App>> {
        let opening = if config.migrate { Opening::MIGRATE } else { Opening::SERVE_ONLY };
        Self::open_with(config, clock, opening).await
    }

    /// Opens the database doing to its schema only what `opening` allows (see
    /// [`store::schema`]): admin commands need the schema they were built for, so
    /// a mistyped URL is an error rather than an empty database, and a newer CLI
    /// never upgrades the schema under running servers.
    pub async fn open_with(
        config: Config,
        clock: Arc<dyn Clock>,
        opening: Opening,
    ) -> anyhow::Result<Arc<App>> {
        config.validate()?;
        let store = store::open_with(&config.database_url, opening).await?;
        Self::assemble(config, clock, store).await
    }

    async fn assemble(
        config: Config,
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<Arc<App>> {
        crate::apikeys::secret::configure(&config.secret_prefix, &config.retired_secret_prefixes);
        // Read before anything is loaded, so no change can fall between the two.
        let feed_start = store.latest_change().await.context("reading the change feed")?;
        let master = signing::load_master_key(&config.master_key_source(), store.as_ref()).await?;
        let lookup_key = master.derive(b"keymint secret lookup v1");
        let dpop_nonces =
            config.dpop_nonces.then(|| Nonces::new(master.derive(b"keymint dpop nonce v1")));
        let keyring = Arc::new(
            Keyring::load(
                store.clone(),
                master,
                config.signing_alg,
                config.rotation_policy(),
                clock.now(),
            )
            .await
            .context("loading signing keys")?,
        );
        let workers = config.argon2_workers.unwrap_or_else(Hasher::default_workers);
        // The queue is sized by the machine, not the pool: halving the workers
        // bounds the CPU argon2id takes, not how many first exchanges may wait.
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let hasher = Arc::new(
            Hasher::new(config.secret_hashing, workers, workers.max(cpus) * 32)
                .with_lookup_key(lookup_key),
        );
        let settings = Issuance {
            issuer: config.issuer(),
            default_audience: config.audience(),
            management_audience: config.management_audience(),
            ttl_seconds: i64::from(config.token_ttl),
        };
        let usage = Arc::new(Usage::new(store.clone(), clock.clone()));
        let metrics = Arc::new(Metrics::default());
        // After the feed's start was read: a revocation in between is replayed.
        let revoked = Arc::new(crate::oauth::revoked::Revoked::new(
            store.clone(),
            clock.clone(),
            settings.ttl_seconds + crate::oauth::CLOCK_LEEWAY_SECONDS * 12,
        ));
        revoked.reload().await.context("reading revoked tokens")?;
        let cache = Arc::new(
            KeyCache::new(store.clone(), u64::from(config.key_cache_mb) << 20)
                .counting(metrics.cache_hits.clone(), metrics.cache_misses.clone()),
        );
        let limits = Limits {
            per_key: config.auth_failures_per_key,
            per_ip: config.auth_failures_per_ip,
            window_seconds: i64::from(config.auth_failure_window),
            delay: std::time::Duration::from_millis(u64::from(config.auth_failure_delay)),
        };
        let tokens = Arc::new(TokenService {
            store: store.clone(),
            keys: cache.clone(),
            hasher: hasher.clone(),
            keyring: keyring.clone(),
            clock: clock.clone(),
            usage: usage.clone(),
            // Instances share a PostgreSQL database, and so their failure counts;
            // a SQLite file serves one host, whose instance counts in memory.
            limiter: if store.backend() == "postgres" {
                FailureLimiter::new(limits).shared_through(store.clone())
            } else {
                FailureLimiter::new(limits)
            },
            metrics: metrics.clone(),
            settings,
            dpop_nonces,
            used_ids: UsedIds::new(store.clone(), clock.clone()),
            remote_keys: RemoteKeys::new(config.allow_private_jwks_uri, clock.clone()),
            platforms: Default::default(),
            revoked: revoked.clone(),
        });
        let sso = match &config.sso {
            Some(sso) => {
                Some(Arc::new(Provider::new(sso.clone(), &config.issuer(), clock.clone())?))
            }
            None => None,
        };
        let admin_groups = config.sso.as_ref().map(|s| s.admin_groups.clone()).unwrap_or_default();
        let people = People::new(store.clone(), clock.clone(), admin_groups);
        let sessions = Sessions::new(
            store.clone(),
            cache.clone(),
            tokens.clone(),
            people.clone(),
            clock.clone(),
        );
        let devices = Devices::new(
            store.clone(),
            sessions.clone(),
            people.clone(),
            tokens.clone(),
            clock.clone(),
        );
        Ok(Arc::new(App {
            sessions,
            devices,
            people,
            sso,
            tokens,
            keys: Keys::new(store.clone(), hasher.clone(), clock.clone(), cache.clone())
                .with_usage(usage.clone())
                .allowing_private_jwks_uris(config.allow_private_jwks_uri),
            workspaces: Workspaces::new(store.clone(), clock.clone(), cache.clone()),
            role_bindings: RoleBindings::new(store.clone(), clock.clone()),
            github_keys: crate::apikeys::github::GithubKeys::new(
                &config.github_secret_scanning_keys_url,
                clock.clone(),
            ),
            webhooks: crate::webhooks::Webhooks::new(
                store.clone(),
                keyring.clone(),
                clock.clone(),
                config.allow_private_webhook_urls,
            ),
            signing_keys: SigningKeys::new(keyring.clone(), clock.clone()),
            audit: Audit::new(store.clone(), usage.clone()),
            cache,
            metrics,
            feed_start,
            feed_status: Arc::default(),
            usage,
            config,
            store,
            clock,
            keyring,
        }))
    }

    /// Creates a platform-admin key (all management scopes) in the default workspace.
    pub async fn bootstrap(&self) -> Result<Revealed, ManageError> {
        match self.create_admin("platform-admin").await {
            Err(ManageError::Conflict(_)) => {
                let suffix = crate::apikeys::secret::random_base62(6);
                self.create_admin(&format!("platform-admin-{suffix}")).await
            }
            other => other,
        }
    }

    async fn create_admin(&self, name: &str) -> Result<Revealed, ManageError> {
        let workspace = self.workspaces.ensure_default().await?;
        let actor = Actor { id: "bootstrap".into(), ..Actor::cli() };
        // The way back in must not be locked by the workspace's key policy: with a
        // maximum lifetime and no default expiry, the key lives that maximum.
        let policy = self.workspaces.key_policy(&actor, &workspace.id).await?;
        let expires_at = match (&policy.default_expires_in, policy.max_lifetime_days) {
            (None, Some(days)) => Some(crate::clock::rfc3339(self.clock.now() + days * 86_400)),
            _ => None,
        };
        let new = NewKey {
            workspace_id: Some(workspace.id.clone()),
            name: name.into(),
            description: "platform admin created by keymint bootstrap".into(),
            key_type: Some("admin".into()),
            scopes: ManagementScope::ALL.iter().map(ToString::to_string).collect(),
            expires_at,
            ..NewKey::default()
        };
        self.keys.create(&actor, new).await
    }

    /// On a database without any key, creates the first platform-admin key. When
    /// instances start together, only one creates it.
    pub async fn bootstrap_if_empty(&self) -> anyhow::Result<Option<Revealed>> {
        // One row is enough to know (a count reads every key).
        let one = crate::store::KeyFilter { limit: 1, ..Default::default() };
        if !self.store.list_keys(&one).await.context("looking for keys")?.is_empty() {
            return Ok(None);
        }
        match self.create_admin("platform-admin").await {
            Ok(revealed) => Ok(Some(revealed)),
            Err(ManageError::Conflict(_)) => Ok(None),
            Err(e) => Err(e).context("creating the first admin key"),
        }
    }
}

/// How often the signing key schedule is checked.
pub const SCHEDULE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The background jobs of a running instance: the usage flusher, the change feed,
/// the signing key schedule and the webhook dispatcher. Any front door that runs an instance starts them.
pub struct Jobs {
    app: Arc<App>,
    /// Tells the usage flusher to stop after the flush it may be doing.
    stop_flusher: tokio::sync::watch::Sender<bool>,
    flusher: tokio::task::JoinHandle<()>,
    /// The change feed and the signing key schedule: nothing of theirs is lost
    /// when they stop mid-way.
    others: Vec<tokio::task::JoinHandle<()>>,
}

impl App {
    /// Starts the background jobs.
    pub fn start_jobs(self: &Arc<Self>) -> Jobs {
        let interval = std::time::Duration::from_secs(u64::from(self.config.usage_flush_interval));
        let (stop_flusher, stop) = tokio::sync::watch::channel(false);
        Jobs {
            app: self.clone(),
            stop_flusher,
            flusher: self.usage.spawn_flusher(interval, stop),
            others: vec![
                tokio::spawn(crate::feed::run(crate::feed::Feed {
                    store: self.store.clone(),
                    cache: self.cache.clone(),
                    keyring: self.keyring.clone(),
                    metrics: self.metrics.clone(),
                    status: self.feed_status.clone(),
                    revoked: self.tokens.revoked.clone(),
                    start: self.feed_start,
                })),
                tokio::spawn(rotate_on_schedule(self.clone())),
                tokio::spawn(
                    crate::webhooks::dispatch::Dispatcher {
                        store: self.store.clone(),
                        keyring: self.keyring.clone(),
                        clock: self.clock.clone(),
                        allow_private: self.config.allow_private_webhook_urls,
                        clients: Default::default(),
                    }
                    .run(),
                ),
            ],
        }
    }
}

impl Jobs {
    /// Stops the jobs, writes the usage still counted in memory, and closes the
    /// store (a clean shutdown). A usage flush under way is let finish, then what
    /// is left is written; both within `--request-timeout`. Whatever could not be
    /// written is logged with its numbers.
    pub async fn stop(self) {
        for task in self.others {
            task.abort();
        }
        let _ = self.stop_flusher.send(true);
        let usage = self.app.usage.clone();
        let flusher = self.flusher;
        let cut_short = flusher.abort_handle();
        let limit = std::time::Duration::from_secs(u64::from(self.app.config.request_timeout));
        let written = tokio::time::timeout(limit, async move {
            let _ = flusher.await;
            usage.flush().await
        })
        .await;
        // Past the limit, a flush still waiting is abandoned (its transaction rolls
        // back), so what is reported lost below is lost.
        cut_short.abort();
        let failure = match written {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(crate::report::Chain(&e).to_string()),
            Err(_) => Some(format!("not written within {} s (--request-timeout)", limit.as_secs())),
        };
        if let Some(error) = failure {
            let lost = self.app.usage.unwritten();
            if lost.is_empty() {
                // Everything was flushed; what was cut short is a fold, which rolls
                // back and is done again by the next instance to fold.
                tracing::warn!(%error, "stopped a usage fold under way; nothing counted is lost");
            } else {
                tracing::error!(%error, "could not flush usage counters at shutdown; lost {lost}");
            }
        }
        self.app.store.close().await;
    }
}

/// Runs the schedule every [`SCHEDULE_INTERVAL`]: the signing key rotation, and
/// the announcements of keys about to expire and of grace periods that ran out
/// while the old secret was still in use.
async fn rotate_on_schedule(app: Arc<App>) {
    let mut tick = tokio::time::interval(SCHEDULE_INTERVAL);
    loop {
        tick.tick().await;
        if let Err(e) = app.keyring.tick(app.clock.now()).await {
            app.metrics.database_errors.inc();
            tracing::warn!(error = %crate::report::Chain(&e), "signing key schedule failed; will retry");
        }
        if let Err(e) = app.keys.announce_expiring().await {
            tracing::warn!(error = %crate::report::Chain(&e), "announcing expiring keys failed; will retry");
        }
        if let Err(e) = app.keys.announce_grace_lapses().await {
            tracing::warn!(error = %crate::report::Chain(&e), "announcing lapsed grace periods failed; will retry");
        }
    }
}

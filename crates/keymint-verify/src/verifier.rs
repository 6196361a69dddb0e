//! Verifying keymint's access tokens (RFC 9068) in a resource server.
//!
//! A [`Verifier`] is made once from keymint's issuer URL and the audience of
//! this API; it reads keymint's discovery document and JWKS, and then checks
//! each token locally: the signature by a published key with the algorithm that
//! key is for (an allow-listed asymmetric one: never `none` or an HMAC), `typ:
//! at+jwt`, no key-location headers, `iss`, `aud`, and `exp`/`nbf` with a minute
//! of leeway. [`Verifier::verify_request`] also takes the `Authorization` scheme
//! and the DPoP proof into account (RFC 9449): a bound token needs a valid proof
//! for this request by the key it is bound to, each proof used once.
//!
//! The JWKS is kept as long as its `Cache-Control: max-age` says (5 minutes when
//! it says nothing). A token naming a `kid` the cache lacks makes the verifier
//! fetch the JWKS again, at most once every 10 seconds, so tokens with made-up
//! `kid`s cannot make it fetch in a loop. When keymint cannot be reached, the keys
//! already held keep verifying.
//!
//! With [`Verifier::with_introspection`], each accepted token is also checked
//! at keymint's introspection endpoint (answers kept 10 seconds), so a revoked
//! token is refused at once, and raw API keys are accepted by the same call.
//!
//! ```no_run
//! # async fn run() -> Result<(), keymint_verify::verifier::Error> {
//! use keymint_verify::verifier::Verifier;
//!
//! let verifier = Verifier::discover("https://keymint.example.com", "https://api.example.com").await?;
//! let token = "eyJ..."; // from `Authorization: Bearer ...`
//! let claims = verifier.verify(token).await?;
//! claims.require("read:agents/42")?;
//! println!("{} may read agent 42", claims.client_id);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

pub use crate::claims::{Claims, Confirmation};
use crate::dpop::{MemoryReplayStore, ReplayStore};
pub use crate::error::Error;
use crate::http::send_json;
use crate::introspection::Introspection;
use crate::jwk::{parse_alg, PublicKeys};

/// Leeway for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 60;
/// How long a JWKS is kept when keymint's answer names no `max-age`, in seconds.
pub const DEFAULT_MAX_AGE: i64 = 300;
/// The least time between two fetches of the JWKS, in seconds.
pub const MIN_REFETCH_SECONDS: i64 = 10;

/// One published key: the algorithm it is for and the key.
#[derive(Clone)]
struct Published {
    alg: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Published>,
    /// When the JWKS was fetched, and until when it is fresh (unix seconds).
    fetched_at: Option<i64>,
    fresh_until: i64,
    fetches: u64,
    /// Why the last fetch failed, while it stands.
    failure: Option<String>,
}

/// The current time in unix seconds.
type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Verifies keymint's access tokens for one API (one audience).
pub struct Verifier {
    issuer: String,
    audience: String,
    jwks_uri: String,
    http: reqwest::Client,
    now: Now,
    keys: Mutex<KeySet>,
    refetch: tokio::sync::Mutex<()>,
    introspection_endpoint: Option<String>,
    pub(crate) introspection: Option<Introspection>,
    pub(crate) replay: Arc<dyn ReplayStore>,
    pub(crate) origin: Option<String>,
    raw_keys: bool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_uri", &self.jwks_uri)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for tokens of the keymint at `issuer` meant for `audience`,
    /// reading `issuer`'s RFC 8414 discovery document (whose `issuer` must be the
    /// one given) for the JWKS location. The JWKS itself is read at the first
    /// verification.
    pub async fn discover(issuer: &str, audience: &str) -> Result<Verifier, Error> {
        let issuer = issuer.trim_end_matches('/').to_string();
        let http = crate::http::client()?;
        let url = format!("{issuer}/.well-known/oauth-authorization-server");
        let document = send_json(http.get(&url), &url).await?.0;
        if document["issuer"].as_str() != Some(issuer.as_str()) {
            return Err(Error::Unavailable(format!("{url} names another issuer")));
        }
        let jwks_uri = document["jwks_uri"]
            .as_str()
            .ok_or_else(|| Error::Unavailable(format!("{url} names no jwks_uri")))?
            .to_string();
        #[expect(clippy::disallowed_methods, reason = "the default clock; with_clock replaces it")]
        let system: Now = Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default()
        });
        let verifier = Verifier {
            issuer,
            audience: audience.to_string(),
            jwks_uri,
            http,
            now: system,
            keys: Mutex::new(KeySet::default()),
            refetch: tokio::sync::Mutex::new(()),
            introspection_endpoint: document["introspection_endpoint"].as_str().map(String::from),
            introspection: None,
            replay: Arc::new(MemoryReplayStore::default()),
            origin: None,
            raw_keys: true,
        };
        Ok(verifier)
    }

    /// The same verifier reading the time from `now` (unix seconds): for tests
    /// and for services with a clock of their own.
    pub fn with_clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    /// The same verifier also asking keymint's introspection endpoint about each
    /// token it accepts (as the key `client_id`, which must hold
    /// `keymint:introspect`), so a revoked token is refused within
    /// [`DEFAULT_CACHE_SECONDS`](crate::introspection::DEFAULT_CACHE_SECONDS);
    /// and accepting raw API keys, which only introspection can check.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), keymint_verify::verifier::Error> {
    /// use keymint_verify::verifier::Verifier;
    ///
    /// let secret = std::env::var("KEYMINT_INTROSPECT_SECRET").unwrap_or_default();
    /// let verifier = Verifier::discover("https://keymint.example.com", "https://api.example.com")
    ///     .await?
    ///     .with_introspection("3NHxR8HuEYvcEu74", &secret)?;
    /// // Either a token or a raw `km_...` key.
    /// let claims = verifier.verify("km_live_...").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_introspection(
        mut self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<Self, Error> {
        let endpoint = self.introspection_endpoint.clone().ok_or_else(|| {
            Error::Unavailable(format!("{} publishes no introspection_endpoint", self.issuer))
        })?;
        self.introspection = Some(Introspection::new(endpoint, client_id, client_secret));
        Ok(self)
    }

    /// Whether raw API keys are accepted (through introspection; the default
    /// once it is on). `false` once every client sends tokens: introspection
    /// then only makes revocation bite at once.
    pub fn with_raw_keys(mut self, accept: bool) -> Self {
        self.raw_keys = accept;
        self
    }

    /// How long introspection answers are kept, in seconds (0: ask every time).
    pub fn with_introspection_cache(mut self, seconds: i64) -> Self {
        if let Some(introspection) = &mut self.introspection {
            introspection.cache_seconds = seconds.max(0);
        }
        self
    }

    /// The same verifier remembering DPoP proofs in `store` (shared by every
    /// instance of the API) instead of this process's memory.
    pub fn with_replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.replay = store;
        self
    }

    /// The origin clients reach this API at (`https://api.example.com`), against
    /// which DPoP proofs' `htu` is compared. Without it the middleware uses the
    /// request's `Host` (https, or http for a loopback host).
    pub fn with_origin(mut self, origin: &str) -> Self {
        self.origin = Some(origin.trim_end_matches('/').to_string());
        self
    }

    /// How many times the JWKS was fetched (for metrics).
    pub fn jwks_fetches(&self) -> u64 {
        self.keys.lock().map(|k| k.fetches).unwrap_or_default()
    }

    /// The current time, by this verifier's clock.
    pub(crate) fn now(&self) -> i64 {
        (self.now)()
    }

    /// Verifies `token`: its claims, or why it is not accepted here. With
    /// introspection on, keymint must also say it is active; a value that is not
    /// a JWT is then asked about as a raw API key.
    pub async fn verify(&self, token: &str) -> Result<Claims, Error> {
        let now = self.now();
        if token.split('.').count() != 3 {
            return match &self.introspection {
                Some(introspection) if self.raw_keys => {
                    introspection.raw_key(&self.http, token, now).await
                }
                _ => Err(Error::InvalidToken("malformed token".into())),
            };
        }
        let claims = self.verify_signed(token).await?;
        if let Some(introspection) = &self.introspection {
            if introspection.ask(&self.http, token, None, now).await?.is_none() {
                return Err(Error::InvalidToken("the token is no longer active".into()));
            }
        }
        Ok(claims)
    }

    /// The local checks of a signed token (no introspection).
    pub async fn verify_signed(&self, token: &str) -> Result<Claims, Error> {
        let invalid = |why: &str| Error::InvalidToken(why.to_string());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        let kid = check_header(&header).map_err(invalid)?;
        let published = self.key(kid).await?.ok_or_else(|| invalid("unknown signing key"))?;
        if header.alg != published.alg {
            return Err(invalid("algorithm does not match the signing key"));
        }
        let mut validation = Validation::new(published.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &published.key, &validation)
            .map_err(|e| Error::InvalidToken(format!("token rejected: {e}")))?;
        let now = self.now();
        let at = |name: &str| data.claims[name].as_i64().unwrap_or_default();
        if at("exp") <= now - LEEWAY_SECONDS {
            return Err(invalid("token expired"));
        }
        if at("nbf") > now + LEEWAY_SECONDS {
            return Err(invalid("token not yet valid"));
        }
        serde_json::from_value(data.claims).map_err(|e| Error::InvalidToken(e.to_string()))
    }

    /// The key `kid`: from the cache while it is fresh and holds it; else after
    /// fetching the JWKS again, at most once every [`MIN_REFETCH_SECONDS`]. When
    /// the fetch fails, or may not happen yet, the key held (if any) is used.
    async fn key(&self, kid: &str) -> Result<Option<Published>, Error> {
        let now = (self.now)();
        let (held, fresh, may_fetch) = {
            let keys = self.keys.lock().map_err(|_| Error::Unavailable("poisoned".into()))?;
            let may = keys.fetched_at.is_none_or(|at| now - at >= MIN_REFETCH_SECONDS);
            if !may && keys.keys.is_empty() {
                // Nothing held, and the last fetch moments ago failed.
                if let Some(why) = &keys.failure {
                    return Err(Error::Unavailable(why.clone()));
                }
            }
            (keys.keys.get(kid).cloned(), now < keys.fresh_until, may)
        };
        if held.is_some() && fresh || !may_fetch {
            return Ok(held);
        }
        let _one = self.refetch.lock().await;
        let fetched = self.fetch_keys().await;
        let mut keys = self.keys.lock().map_err(|_| Error::Unavailable("poisoned".into()))?;
        match fetched {
            Ok(()) => {
                keys.failure = None;
                Ok(keys.keys.get(kid).cloned())
            }
            Err(Error::Unavailable(why)) => {
                keys.failure = Some(why.clone());
                // keymint is unreachable: the keys held keep verifying.
                if keys.keys.is_empty() {
                    Err(Error::Unavailable(why))
                } else {
                    Ok(held)
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn fetch_keys(&self) -> Result<(), Error> {
        let now = (self.now)();
        if let Ok(mut keys) = self.keys.lock() {
            keys.fetched_at = Some(now);
            keys.fetches += 1;
        }
        let (jwks, max_age) = send_json(self.http.get(&self.jwks_uri), &self.jwks_uri).await?;
        // Each key is checked as any key from outside ([`PublicKeys`]); one that
        // names no allow-listed `alg` or no `kid` is not one to verify with.
        let mut found = HashMap::new();
        for jwk in jwks["keys"].as_array().into_iter().flatten() {
            let (Some(kid), Some(alg)) = (jwk["kid"].as_str(), jwk["alg"].as_str()) else {
                continue;
            };
            let (Some(alg), Ok(key)) = (parse_alg(alg), PublicKeys::one(jwk)) else { continue };
            if let Some(key) = key.candidates(alg, Some(kid)).into_iter().next() {
                found.insert(kid.to_string(), Published { alg, key });
            }
        }
        let mut keys = self.keys.lock().map_err(|_| Error::Unavailable("poisoned".into()))?;
        keys.keys = found;
        keys.fresh_until = now + max_age.unwrap_or(DEFAULT_MAX_AGE);
        Ok(())
    }
}

/// The checks of an access token's header before its key is looked up (RFC 9068
/// section 4): `typ` is `at+jwt`, and no header says where to find a key (`jku`,
/// `x5u`, `jwk`, `x5c`: the key must be one keymint published). Returns the
/// `kid`. keymint's server applies the same function to tokens sent to `/v1`.
pub fn check_header(header: &jsonwebtoken::Header) -> Result<&str, &'static str> {
    let typ = header.typ.as_deref().unwrap_or_default().to_ascii_lowercase();
    if typ != "at+jwt" && typ != "application/at+jwt" {
        return Err("token type must be at+jwt");
    }
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some()
    {
        return Err("key-location headers are not accepted");
    }
    header.kid.as_deref().ok_or("token has no kid")
}

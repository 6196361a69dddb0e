//! Verifying keymint's access tokens (RFC 9068) in a resource server.
//!
//! A [`Verifier`] is made once from keymint's issuer URL and the audience of
//! this API; it reads keymint's discovery document and JWKS, and then checks
//! each token locally: the signature by a published key with the algorithm that
//! key is for (ES256, EdDSA or RS256; never `none` or an HMAC), `typ: at+jwt`, no
//! key-location headers, `iss`, `aud`, and `exp`/`nbf` with a minute of leeway.
//!
//! The JWKS is kept as long as its `Cache-Control: max-age` says (5 minutes when
//! it says nothing). A token naming a `kid` the cache lacks makes the verifier
//! fetch the JWKS again, at most once every 10 seconds, so tokens with made-up
//! `kid`s cannot make it fetch in a loop. When keymint cannot be reached, the keys
//! already held keep verifying.
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
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::scope::{any_covers, Scope};

/// Leeway for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: i64 = 60;
/// How long a JWKS is kept when keymint's answer names no `max-age`, in seconds.
pub const DEFAULT_MAX_AGE: i64 = 300;
/// The least time between two fetches of the JWKS, in seconds.
pub const MIN_REFETCH_SECONDS: i64 = 10;
/// The longest a request to keymint may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a token was not accepted, or the verifier could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The token is not valid here (RFC 6750 `invalid_token`).
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The token is valid but lacks the scope asked for (RFC 6750
    /// `insufficient_scope`); holds the scope needed.
    #[error("insufficient scope: {0} is needed")]
    InsufficientScope(String),
    /// keymint could not be reached or answered wrongly, and no key held helps.
    #[error("keymint unavailable: {0}")]
    Unavailable(String),
}

/// The claims of a verified keymint access token.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The key (client) the token was issued to.
    pub sub: String,
    /// The same key's id.
    pub client_id: String,
    /// Unix seconds.
    pub exp: i64,
    /// Unix seconds.
    pub iat: i64,
    /// The token's id.
    pub jti: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The key's workspace.
    #[serde(default)]
    pub workspace_id: String,
    /// The key's environment (`production`, `staging`, ...).
    #[serde(default)]
    pub environment: String,
    /// `cnf.jkt`: the thumbprint of the key a DPoP-bound token is bound to.
    #[serde(default)]
    pub cnf: Option<Confirmation>,
}

/// `cnf` (RFC 7800).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    /// The JWK SHA-256 thumbprint (RFC 7638) of the DPoP key.
    pub jkt: String,
}

impl Claims {
    /// The granted scopes, parsed (a scope keymint would not issue is left out).
    pub fn scopes(&self) -> Vec<Scope> {
        self.scope.split(' ').filter_map(|s| Scope::parse(s).ok()).collect()
    }

    /// Accepts when a granted scope covers `needed` (keymint's own rule,
    /// [`Scope::covers`]); else [`Error::InsufficientScope`] naming it.
    pub fn require(&self, needed: &str) -> Result<(), Error> {
        let wanted = Scope::parse(needed)
            .map_err(|e| Error::InsufficientScope(format!("{needed} (not a scope: {e})")))?;
        if any_covers(&self.scopes(), &wanted) {
            Ok(())
        } else {
            Err(Error::InsufficientScope(needed.to_string()))
        }
    }
}

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
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let url = format!("{issuer}/.well-known/oauth-authorization-server");
        let document = get_json(&http, &url).await?.0;
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
        };
        Ok(verifier)
    }

    /// The same verifier reading the time from `now` (unix seconds): for tests
    /// and for services with a clock of their own.
    pub fn with_clock(mut self, now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.now = Arc::new(now);
        self
    }

    /// How many times the JWKS was fetched (for metrics).
    pub fn jwks_fetches(&self) -> u64 {
        self.keys.lock().map(|k| k.fetches).unwrap_or_default()
    }

    /// Verifies `token`: its claims, or why it is not accepted here.
    pub async fn verify(&self, token: &str) -> Result<Claims, Error> {
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
        let now = (self.now)();
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
        let (jwks, max_age) = get_json(&self.http, &self.jwks_uri).await?;
        let mut found = HashMap::new();
        for jwk in jwks["keys"].as_array().into_iter().flatten() {
            let (Some(kid), Some(alg)) = (jwk["kid"].as_str(), jwk["alg"].as_str()) else {
                continue;
            };
            let alg = match alg {
                "ES256" => Algorithm::ES256,
                "EdDSA" => Algorithm::EdDSA,
                "RS256" => Algorithm::RS256,
                _ => continue,
            };
            let Ok(parsed) = serde_json::from_value::<jsonwebtoken::jwk::Jwk>(jwk.clone()) else {
                continue;
            };
            if let Ok(key) = DecodingKey::from_jwk(&parsed) {
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

/// `GET url` as JSON, with the `max-age` of its `Cache-Control`.
async fn get_json(
    http: &reqwest::Client,
    url: &str,
) -> Result<(serde_json::Value, Option<i64>), Error> {
    let response =
        http.get(url).send().await.map_err(|e| Error::Unavailable(format!("{url}: {e}")))?;
    if !response.status().is_success() {
        return Err(Error::Unavailable(format!("{url} answered {}", response.status())));
    }
    let max_age = response
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .filter_map(|d| d.trim().strip_prefix("max-age="))
                .find_map(|n| n.parse::<i64>().ok())
        });
    let bytes = response.bytes().await.map_err(|e| Error::Unavailable(format!("{url}: {e}")))?;
    if bytes.len() > 256 * 1024 {
        return Err(Error::Unavailable(format!("{url} answered more than 256 KiB")));
    }
    let json = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Unavailable(format!("{url}: not JSON: {e}")))?;
    Ok((json, max_age))
}

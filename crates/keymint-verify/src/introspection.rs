//! Introspection (RFC 7662) at keymint, for APIs that want a revoked token or key
//! refused at once rather than at its expiry, and for raw API keys while their
//! clients move to tokens (`token_type_hint=api_key`). Answers are kept for a
//! short time ([`DEFAULT_CACHE_SECONDS`]), by the SHA-256 of the token, so a busy
//! API asks keymint about each token once per that time.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::claims::Claims;
use crate::dpop::ath;
use crate::error::Error;
use crate::http::send_json;

/// How long an introspection answer is kept unless told otherwise, in seconds:
/// the longest a revoked token stays accepted.
pub const DEFAULT_CACHE_SECONDS: i64 = 10;
/// Most answers kept at once.
const MAX_CACHED: usize = 10_000;

/// The caller's credentials at keymint (a key holding `keymint:introspect`),
/// the endpoint, and the answers kept.
pub(crate) struct Introspection {
    pub(crate) endpoint: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) cache_seconds: i64,
    cache: Mutex<HashMap<String, Cached>>,
}

struct Cached {
    /// The answer when active; `None` when not.
    active: Option<Value>,
    until: i64,
}

impl Introspection {
    pub(crate) fn new(endpoint: String, client_id: &str, client_secret: &str) -> Self {
        Introspection {
            endpoint,
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            cache_seconds: DEFAULT_CACHE_SECONDS,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// keymint's answer for `token` (`hint`: `api_key` for a raw key): the answer
    /// when active, `None` when not. A kept answer is used until its time is up,
    /// which is never later than the token's `exp`.
    pub(crate) async fn ask(
        &self,
        http: &reqwest::Client,
        token: &str,
        hint: Option<&str>,
        now: i64,
    ) -> Result<Option<Value>, Error> {
        let key = ath(token);
        if let Ok(cache) = self.cache.lock() {
            if let Some(kept) = cache.get(&key).filter(|c| c.until > now) {
                return Ok(kept.active.clone());
            }
        }
        let mut form = vec![("token", token)];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint));
        }
        let request = http
            .post(&self.endpoint)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&form);
        let (answer, _) = send_json(request, &self.endpoint).await?;
        let active = (answer["active"] == Value::Bool(true)).then_some(answer);
        let mut until = now + self.cache_seconds;
        if let Some(exp) = active.as_ref().and_then(|a| a["exp"].as_i64()) {
            until = until.min(exp);
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, c| c.until > now);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(key, Cached { active: active.clone(), until });
        }
        Ok(active)
    }

    /// A raw API key's claims, when keymint says it is active.
    pub(crate) async fn raw_key(
        &self,
        http: &reqwest::Client,
        key: &str,
        now: i64,
    ) -> Result<Claims, Error> {
        let answer = self
            .ask(http, key, Some("api_key"), now)
            .await?
            .ok_or_else(|| Error::InvalidToken("the API key is not active".into()))?;
        let mut claims: Claims = serde_json::from_value(answer)
            .map_err(|e| Error::Unavailable(format!("introspection answered oddly: {e}")))?;
        claims.raw_key = true;
        Ok(claims)
    }
}

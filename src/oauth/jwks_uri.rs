//! Public keys a client publishes at its `jwks_uri` (RFC 7591), fetched by
//! keymint when the client's assertion needs them. Fetching a URL an admin typed
//! is a way into the network keymint sits in, so every fetch is bounded:
//!
//! - `https` only, to a host whose every address is public (no loopback, private,
//!   link-local, shared or unique-local address, checked after resolution and
//!   then connected to by that checked address, so DNS cannot change the answer
//!   in between), unless the operator allows private addresses
//!   (`--allow-private-jwks-uri`, which also allows `http`, for development);
//! - no redirects, a 5-second timeout, at most 64 KiB;
//! - the answer is checked like any JWK Set from outside ([`PublicKeys::parse`]);
//! - kept 5 minutes; fetched again early only for a `kid` it does not hold, and
//!   then at most once every 10 seconds per URL, so assertions naming unknown
//!   keys cannot make keymint fetch in a loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::apikeys::jwks::PublicKeys;
use crate::apikeys::jwks_uri::{check_uri, pinned_client};
use crate::clock::Clock;

/// How long fetched keys are used before they are fetched again, in seconds.
pub const KEEP_SECONDS: i64 = 300;
/// The shortest time between two fetches of one URL, in seconds.
pub const MIN_REFETCH_SECONDS: i64 = 10;
/// The longest a fetch may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWK Set accepted.
pub const MAX_BYTES: usize = 64 * 1024;
/// Most URLs remembered; past this, the memory starts over.
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    keys: Option<PublicKeys>,
    fetched_at: i64,
}

/// The fetched key sets. One per process.
pub struct RemoteKeys {
    allow_private: bool,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Entry>>,
}

impl RemoteKeys {
    pub fn new(allow_private: bool, clock: Arc<dyn Clock>) -> Self {
        RemoteKeys { allow_private, clock, cache: Mutex::new(HashMap::new()) }
    }

    /// Whether `uri` may be fetched by this instance's rules.
    pub fn check_uri(&self, uri: &str) -> Result<(), String> {
        check_uri(uri, self.allow_private)
    }

    /// The keys published at `uri`, holding `kid` when one is named: from memory
    /// while fresh, else fetched (within the bounds above).
    pub async fn keys(&self, uri: &str, kid: Option<&str>) -> Result<PublicKeys, &'static str> {
        let holds = |keys: &PublicKeys| kid.is_none_or(|kid| keys.has_kid(kid));
        let now = self.clock.now();
        let (cached, may_fetch) = {
            let cache = self.cache.lock().map_err(|_| "jwks_uri cache unavailable")?;
            match cache.get(uri) {
                Some(e) => {
                    let age = now - e.fetched_at;
                    match &e.keys {
                        Some(keys) if age < KEEP_SECONDS && holds(keys) => return Ok(keys.clone()),
                        keys => (keys.clone(), age >= MIN_REFETCH_SECONDS),
                    }
                }
                None => (None, true),
            }
        };
        if !may_fetch {
            return cached
                .filter(|k| holds(k))
                .ok_or("jwks_uri fetched moments ago; kid not there");
        }
        let fetched = self.fetch(uri).await;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            // A failed fetch is remembered too, so it is not retried at once.
            let keys = fetched.as_ref().ok().cloned().or(cached);
            cache.insert(uri.to_string(), Entry { keys, fetched_at: now });
        }
        let keys = fetched?;
        if holds(&keys) {
            Ok(keys)
        } else {
            Err("no key with the assertion's kid at jwks_uri")
        }
    }

    /// The JSON document at `uri`, fetched within the bounds above (`accept`
    /// names the media types asked for).
    pub async fn fetch_json(
        &self,
        uri: &str,
        accept: &str,
    ) -> Result<serde_json::Value, &'static str> {
        self.check_uri(uri).map_err(|_| "URL not allowed")?;
        let url = reqwest::Url::parse(uri).map_err(|_| "not a URL")?;
        let host = url.host_str().unwrap_or_default().to_string();
        let client = pinned_client(&url, self.allow_private, TIMEOUT).await.map_err(|why| {
            tracing::warn!(%host, why, "a key document was not fetched");
            "host refused or unreachable"
        })?;
        let mut response = client.get(url).header("accept", accept).send().await.map_err(|e| {
            tracing::info!(%host, error = %crate::report::Chain(&e), "key document fetch failed");
            "fetch failed"
        })?;
        if !response.status().is_success() {
            tracing::info!(%host, status = %response.status(), "key document fetch answered an error");
            return Err("answered an error");
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| "fetch failed")? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err("answered more than 64 KiB");
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| "answered no JSON")
    }

    async fn fetch(&self, uri: &str) -> Result<PublicKeys, &'static str> {
        let host = reqwest::Url::parse(uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let set = self.fetch_json(uri, "application/jwk-set+json, application/json").await?;
        PublicKeys::parse(&set, "jwks_uri").map_err(|e| {
            tracing::info!(%host, error = %crate::report::Chain(&e), "jwks_uri answered unusable keys");
            "jwks_uri answered unusable keys"
        })
    }
}

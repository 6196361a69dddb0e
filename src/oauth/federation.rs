//! Workload federation: a JWT from a platform issuer (a Kubernetes service
//! account token, a CI job's OIDC token, a SPIFFE JWT-SVID, any OpenID issuer)
//! acts as a key that lists the issuer, the exact subject and an audience in its
//! `federated_credentials`, with no secret stored anywhere.
//!
//! The issuer's keys come from its discovery document
//! (`{issuer}/.well-known/openid-configuration`, whose `issuer` must be the one
//! named) and its `jwks_uri`, both fetched under the outbound rules of a key's
//! `jwks_uri` ([`RemoteKeys`]): https to public addresses only (unless
//! `--allow-private-jwks-uri`), no redirects, 5 s, 64 KiB; kept 5 minutes, and
//! fetched again early only for an unknown `kid`, at most every 10 seconds.
//!
//! The JWT is checked fully: an allow-listed asymmetric algorithm (never `none`,
//! never HMAC), no key-location header, a signature by one of the issuer's keys,
//! `iss`, `sub` exact, `aud` holding one of the credential's audiences, `exp`
//! present and at most [`MAX_AHEAD_SECONDS`] ahead, `nbf` and `iat` not in the
//! future. The same platform token may be presented again while it is valid
//! (Kubernetes and CI runners reuse theirs), and no keymint token outlives it.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;

use super::jwks_uri::{RemoteKeys, KEEP_SECONDS, MIN_REFETCH_SECONDS};
use super::jws::Jws;
use super::{Audience, CLOCK_LEEWAY_SECONDS};
use crate::store::KeyRecord;

/// Farthest ahead a platform token's `exp` may be: a day (Kubernetes projected
/// tokens default to an hour, CI tokens to minutes).
pub const MAX_AHEAD_SECONDS: i64 = 86_400;

#[derive(Deserialize)]
struct PlatformClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
}

/// A platform token that verified: until when it is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub exp: i64,
}

/// Where each platform issuer publishes its keys, as its discovery document says.
#[derive(Default)]
pub struct Platforms {
    /// issuer → (`jwks_uri`, when it was read).
    found: Mutex<HashMap<String, (String, i64)>>,
}

impl Platforms {
    /// Verifies `token` as one that may act as `key` at `now`; the error names the
    /// rule that failed (for the log, never for the caller).
    pub async fn verify(
        &self,
        remote: &RemoteKeys,
        key: &KeyRecord,
        token: &str,
        now: i64,
    ) -> Result<Verified, &'static str> {
        let jws = Jws::parse(token)?;
        if jws.header.locates_keys() || jws.header.jwk.is_some() {
            return Err("key-location headers are not accepted");
        }
        // Which issuer it claims, before anything is verified: only one the key
        // trusts is ever fetched.
        let claimed: PlatformClaims = jws.claims().map_err(|_| "claims missing or malformed")?;
        if !key.federated.iter().any(|c| c.issuer == claimed.iss) {
            return Err("issuer not trusted by this key");
        }
        let jwks_uri = self.jwks_uri(remote, &claimed.iss, now).await?;
        let keys = remote.keys(&jwks_uri, jws.header.kid.as_deref()).await?;
        let candidates = keys.candidates(jws.alg, jws.header.kid.as_deref());
        if !candidates.iter().any(|k| jws.signed_by(k)) {
            return Err("signature does not verify with the issuer's keys");
        }
        let credential = key
            .federated
            .iter()
            .find(|c| c.issuer == claimed.iss && c.subject == claimed.sub)
            .ok_or("subject not trusted by this key")?;
        if !credential.audiences.iter().any(|a| claimed.aud.contains(a)) {
            return Err("audience not one the key's credential names");
        }
        let exp = claimed.exp.ok_or("exp missing")?;
        if exp <= now - CLOCK_LEEWAY_SECONDS {
            return Err("expired");
        }
        if exp > now + MAX_AHEAD_SECONDS {
            return Err("exp too far ahead");
        }
        if claimed.nbf.is_some_and(|nbf| nbf > now + CLOCK_LEEWAY_SECONDS) {
            return Err("not yet valid (nbf)");
        }
        if claimed.iat.is_some_and(|iat| iat > now + CLOCK_LEEWAY_SECONDS) {
            return Err("issued in the future (iat)");
        }
        Ok(Verified { exp })
    }

    /// The `jwks_uri` of `issuer`'s discovery document: remembered for
    /// [`KEEP_SECONDS`]; while the issuer cannot be reached, the one known keeps
    /// serving and the document is asked for at most every [`MIN_REFETCH_SECONDS`].
    async fn jwks_uri(
        &self,
        remote: &RemoteKeys,
        issuer: &str,
        now: i64,
    ) -> Result<String, &'static str> {
        let known = self.found.lock().ok().and_then(|f| f.get(issuer).cloned());
        if let Some((uri, at)) = &known {
            if now - at < KEEP_SECONDS {
                return Ok(uri.clone());
            }
        }
        let url = format!("{issuer}/.well-known/openid-configuration");
        let fetched = remote.fetch_json(&url, "application/json").await;
        let document = match (fetched, known) {
            (Ok(document), _) => document,
            // The issuer is down: what was found before keeps serving, and the
            // document is asked for again in MIN_REFETCH_SECONDS, not at once.
            (Err(_), Some((uri, _))) => {
                self.remember(issuer, &uri, now - KEEP_SECONDS + MIN_REFETCH_SECONDS);
                return Ok(uri);
            }
            (Err(why), None) => return Err(why),
        };
        if document.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err("discovery document names another issuer");
        }
        let uri = document
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or("discovery document has no jwks_uri")?
            .to_string();
        remote.check_uri(&uri).map_err(|_| "issuer's jwks_uri not allowed")?;
        self.remember(issuer, &uri, now);
        Ok(uri)
    }

    /// Remembers `issuer`'s `jwks_uri` as read at `at`.
    fn remember(&self, issuer: &str, uri: &str, at: i64) {
        if let Ok(mut found) = self.found.lock() {
            if found.len() >= 10_000 {
                found.clear();
            }
            found.insert(issuer.to_string(), (uri.to_string(), at));
        }
    }
}

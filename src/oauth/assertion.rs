//! Client assertions: `private_key_jwt` client authentication (RFC 7523 section
//! 2.2, OpenID Connect Core section 9). The assertion is a JWT the client signs
//! with one of the public keys its key carries: `iss` = `sub` = the client id,
//! `aud` the issuer or the token endpoint, an `exp` at most an hour ahead, a `jti`
//! used once (checked by the caller against the store, across instances).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use std::net::IpAddr;

use super::jws::Jws;
use super::TokenService;
use super::{Audience, CLOCK_LEEWAY_SECONDS};
use crate::apikeys::jwks::PublicKeys;
use crate::apikeys::{self, AuthFailure, Authenticated};
use crate::store::{KeyRecord, PublicKeySource};
use crate::vocab::Outcome;

/// `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest an assertion may live: its `exp` at most this far ahead (stock clients
/// such as Authlib use an hour).
pub const MAX_LIFETIME_SECONDS: i64 = 3600;

/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 200;

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    jti: String,
    nbf: Option<i64>,
    iat: Option<i64>,
}

/// What a verified assertion leaves to check: that its `jti` was not used before
/// its `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jti: String,
    pub exp: i64,
}

/// The client an assertion names (its `sub`, which must equal its `iss`), read
/// before anything is verified, to find the key whose public keys verify it.
pub fn claimed_client(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    /// The two claims that name the client; the others are skipped unread.
    #[derive(Deserialize)]
    struct Named<'a> {
        #[serde(borrow)]
        iss: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        sub: std::borrow::Cow<'a, str>,
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let Named { iss, sub } = serde_json::from_slice(&bytes).ok()?;
    (iss == sub && !sub.is_empty()).then(|| sub.into_owned())
}

/// The `kid` an assertion's header names, read before anything is verified, to
/// pick (or fetch) the client's key.
pub fn claimed_kid(assertion: &str) -> Option<String> {
    Jws::parse(assertion).ok().and_then(|jws| jws.header.kid)
}

/// Verifies `assertion` as `key`'s, signed by one of `keys` (its public keys), at
/// `now`, for one of `audiences` (the issuer and the token endpoint). The error is
/// a fixed reason for logs and usage.
pub fn verify(
    key: &KeyRecord,
    keys: &PublicKeys,
    assertion: &str,
    audiences: &[&str],
    now: i64,
) -> Result<Verified, &'static str> {
    if key.credential.public_keys().is_none() {
        return Err("the key does not authenticate by assertion");
    }
    let jws = Jws::parse(assertion)?;
    if jws.header.locates_keys() || jws.header.jwk.is_some() {
        return Err("key-location headers are not accepted");
    }
    let candidates = keys.candidates(jws.alg, jws.header.kid.as_deref());
    if candidates.is_empty() {
        return Err("no public key of the client fits the assertion");
    }
    if !candidates.iter().any(|k| jws.signed_by(k)) {
        return Err("assertion signature invalid");
    }
    let claims: Claims = jws.claims()?;
    if claims.iss != key.id || claims.sub != key.id {
        return Err("iss and sub must be the client id");
    }
    if !audiences.iter().any(|a| claims.aud.contains(a)) {
        return Err("assertion audience is not this server");
    }
    if claims.exp <= now - CLOCK_LEEWAY_SECONDS {
        return Err("assertion expired");
    }
    if claims.exp > now + MAX_LIFETIME_SECONDS + CLOCK_LEEWAY_SECONDS {
        return Err("assertion lives longer than an hour");
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + CLOCK_LEEWAY_SECONDS)
        || claims.iat.is_some_and(|iat| iat > now + CLOCK_LEEWAY_SECONDS)
    {
        return Err("assertion not yet valid");
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err("assertion jti missing or too long");
    }
    Ok(Verified { jti: claims.jti, exp: claims.exp })
}

impl TokenService {
    /// `private_key_jwt`: the assertion verifies with one of the key's public keys,
    /// names this server, the key may be used now, and its `jti` was never used
    /// before (one insert, so a replay on another instance is refused too).
    pub(super) async fn check_assertion(
        &self,
        client_id: &str,
        assertion: &str,
        now: i64,
        ip: Option<IpAddr>,
    ) -> Result<Authenticated, AuthFailure> {
        if !apikeys::valid_key_id(client_id) {
            return Err(AuthFailure::Refused("malformed client id"));
        }
        let key = self.keys.find(self.store.as_ref(), client_id).await.map_err(|e| {
            tracing::warn!(error = %crate::report::Chain(&e), "database error while authenticating a client");
            AuthFailure::Unavailable(e)
        })?;
        let Some(key) = key else { return Err(AuthFailure::Refused("unknown client id")) };
        let token_endpoint = self.token_endpoint();
        let audiences = [self.settings.issuer.as_str(), token_endpoint.as_str()];
        let refused = |reason| AuthFailure::refused(&key, Outcome::WrongSecret, reason);
        let keys = match key.credential.public_keys() {
            Some(PublicKeySource::Published(uri)) => {
                let kid = claimed_kid(assertion);
                self.remote_keys.keys(uri, kid.as_deref()).await.map_err(refused)?
            }
            Some(PublicKeySource::Held(stored)) => {
                PublicKeys::from_stored(stored).ok_or(refused("no public keys"))?
            }
            None => return Err(refused("the key does not authenticate by assertion")),
        };
        let verified = verify(&key, &keys, assertion, &audiences, now).map_err(refused)?;
        apikeys::usable(&key, now, ip)?;
        let subject = format!("assertion:{}", key.id);
        let first =
            self.used_ids.use_once(&subject, &verified.jti, verified.exp).await.map_err(|e| {
                tracing::warn!(error = %crate::report::Chain(&e), "database error while recording an assertion");
                AuthFailure::Unavailable(e)
            })?;
        if !first {
            return Err(AuthFailure::refused(&key, Outcome::WrongSecret, "assertion replayed"));
        }
        Ok(Authenticated { key, previous_secret: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_client_is_sub_only_when_iss_agrees() {
        let jwt = |claims: &str| format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims));
        assert_eq!(claimed_client(&jwt(r#"{"iss":"k1","sub":"k1"}"#)).as_deref(), Some("k1"));
        assert_eq!(claimed_client(&jwt(r#"{"iss":"k2","sub":"k1"}"#)), None);
        assert_eq!(claimed_client(&jwt(r#"{"sub":"k1"}"#)), None);
        assert_eq!(claimed_client(&jwt(r#"{"iss":"","sub":""}"#)), None);
        assert_eq!(claimed_client("not a jwt"), None);
    }
}

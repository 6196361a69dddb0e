//! Client assertions: `private_key_jwt` client authentication (RFC 7523 section
//! 2.2, OpenID Connect Core section 9). The assertion is a JWT the client signs
//! with one of the public keys its key carries: `iss` = `sub` = the client id,
//! `aud` the issuer or the token endpoint, an `exp` at most an hour ahead, a `jti`
//! used once (checked by the caller against the store, across instances).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use super::jws::Jws;
use super::{Audience, CLOCK_LEEWAY_SECONDS};
use crate::apikeys::client_auth::PRIVATE_KEY_JWT;
use crate::apikeys::jwks::PublicKeys;
use crate::store::KeyRecord;

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
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let sub = claims.get("sub")?.as_str()?;
    (claims.get("iss")?.as_str()? == sub && !sub.is_empty()).then(|| sub.to_string())
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
    if key.auth_method != PRIVATE_KEY_JWT {
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

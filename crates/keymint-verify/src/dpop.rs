//! DPoP (RFC 9449): a client proves it holds a private key with a signed proof on
//! each request, and its tokens are bound to that key (`cnf.jkt`, the key's RFC
//! 7638 thumbprint), so a stolen token is useless without the key.
//!
//! [`check_proof`] checks a proof in full: `typ: dpop+jwt`, an allow-listed
//! asymmetric `alg` that fits the public `jwk` in its header, the signature,
//! `htm` and `htu` (no query or fragment) of this request, an `iat` within
//! [`PROOF_WINDOW_SECONDS`], a `jti`, and `ath` when a token is presented.
//! keymint's server checks proofs sent to it with this same function. What is
//! left to the caller: that the proof's key is the token's (`cnf.jkt`), and that
//! its `jti` is used once ([`ReplayStore`]); a
//! [`Verifier`](crate::verifier::Verifier) does both.
//!
//! ```
//! use keymint_verify::dpop::{check_proof, Target};
//!
//! let target = Target { method: "GET", url: "https://api.example.com/agents/42", access_token: Some("eyJ...") };
//! // A proof that is not a signed JWT is refused with the reason.
//! assert_eq!(check_proof("not-a-proof", target, 1_700_000_000), Err("malformed JWT"));
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use crate::jwk::PublicKeys;
use crate::jws::Jws;

/// How old a proof's `iat` may be, in seconds.
pub const PROOF_WINDOW_SECONDS: i64 = 60;
/// How far ahead of this clock a proof's `iat` may be, in seconds.
pub const FUTURE_LEEWAY_SECONDS: i64 = 5;
/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 200;

/// The request a proof travels with: its method and URL as clients reach it, and
/// the access token it presents, if any.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The HTTP method, e.g. `GET`.
    pub method: &'a str,
    /// The URL clients call, without query or fragment.
    pub url: &'a str,
    /// The access token sent with the proof, whose hash `ath` must be.
    pub access_token: Option<&'a str>,
}

/// A checked proof: the key it binds to, its `jti` to use once, and the server
/// nonce it carries, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's public key.
    pub jkt: String,
    /// The proof's unique id.
    pub jti: String,
    /// When the client made it (unix seconds).
    pub iat: i64,
    /// The server nonce it carries (RFC 9449 section 8).
    pub nonce: Option<String>,
}

impl Proof {
    /// Until when its `jti` must be remembered: past that, `iat` is too old anyway.
    pub fn remember_until(&self) -> i64 {
        self.iat + PROOF_WINDOW_SECONDS + FUTURE_LEEWAY_SECONDS
    }
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Checks `proof` for `target` at `now` (unix seconds); the reason when refused.
pub fn check_proof(proof: &str, target: Target<'_>, now: i64) -> Result<Proof, &'static str> {
    let jws = Jws::parse(proof)?;
    if jws.header.typ.as_deref() != Some("dpop+jwt") {
        return Err("typ must be dpop+jwt");
    }
    if jws.header.locates_keys() {
        return Err("key-location headers are not accepted");
    }
    let jwk = jws.header.jwk.as_ref().ok_or("the proof has no jwk header")?;
    let key = PublicKeys::one(jwk).map_err(|_| "the proof's jwk is not a public key")?;
    let candidates = key.candidates(jws.alg, None);
    let verifier = candidates.first().ok_or("alg does not fit the proof's jwk")?;
    if !jws.signed_by(verifier) {
        return Err("the proof's signature does not verify");
    }
    let claims: Claims = jws.claims()?;
    if claims.htm != target.method {
        return Err("htm is not this request's method");
    }
    if claims.htu.contains(['?', '#']) {
        return Err("htu must have no query or fragment");
    }
    if !same_url(&claims.htu, target.url) {
        return Err("htu is not this endpoint");
    }
    if claims.iat < now - PROOF_WINDOW_SECONDS || claims.iat > now + FUTURE_LEEWAY_SECONDS {
        return Err("iat is outside the accepted window");
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err("jti is missing or too long");
    }
    if let Some(token) = target.access_token {
        if claims.ath.as_deref() != Some(ath(token).as_str()) {
            return Err("ath is not the hash of the presented token");
        }
    }
    Ok(Proof { jkt: key.thumbprint(), jti: claims.jti, iat: claims.iat, nonce: claims.nonce })
}

/// `ath`: base64url of the SHA-256 of an access token.
pub fn ath(token: &str) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.as_ref())
}

/// Whether two URLs are the same as RFC 9449 section 4.3 compares them (RFC 3986
/// normalisation, the usual cases): scheme and host in any case, default ports
/// implied, an empty path as `/`; the path itself is compared exactly.
pub fn same_url(a: &str, b: &str) -> bool {
    normalized(a) == normalized(b)
}

fn normalized(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("https", Some((host, "443"))) | ("http", Some((host, "80"))) => host.to_string(),
        _ => authority,
    };
    format!("{scheme}://{authority}{path}")
}

/// What a [`ReplayStore`] answers: a boxed future, so stores may be async (a
/// database, Redis).
pub type FirstUse<'a> = Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

/// Remembers the proofs seen, so each is accepted once. With several instances
/// of an API, give them a shared store (e.g. Redis `SET key 1 NX EXAT until`);
/// the default, [`MemoryReplayStore`], is one process's memory.
pub trait ReplayStore: Send + Sync {
    /// Records `key` until `until` (unix seconds): `Ok(true)` the first time,
    /// `Ok(false)` when it was seen before; `Err` when the store failed (the
    /// request is then refused as unavailable, never let through).
    fn first_use<'a>(&'a self, key: &'a str, until: i64, now: i64) -> FirstUse<'a>;
}

/// A [`ReplayStore`] in this process's memory, forgetting entries once their
/// time has passed (a proof that old is refused by its `iat` anyway).
#[derive(Debug, Default)]
pub struct MemoryReplayStore {
    seen: Mutex<HashMap<String, i64>>,
}

impl ReplayStore for MemoryReplayStore {
    fn first_use<'a>(&'a self, key: &'a str, until: i64, now: i64) -> FirstUse<'a> {
        let answer = match self.seen.lock() {
            Ok(mut seen) => {
                if seen.len() >= 10_000 {
                    seen.retain(|_, until| *until > now);
                }
                match seen.get(key) {
                    Some(held) if *held > now => Ok(false),
                    _ => {
                        seen.insert(key.to_string(), until);
                        Ok(true)
                    }
                }
            }
            Err(_) => Err("the replay store's lock is poisoned".to_string()),
        };
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_as_rfc_3986_normalises_them() {
        assert!(same_url(
            "HTTPS://Keys.Example.COM:443/oauth/token",
            "https://keys.example.com/oauth/token"
        ));
        assert!(same_url("http://127.0.0.1:8080", "http://127.0.0.1:8080/"));
        assert!(!same_url("https://a.example/oauth/token", "https://a.example/oauth/TOKEN"));
        assert!(!same_url("https://a.example:8443/x", "https://a.example/x"));
    }

    #[test]
    fn ath_is_base64url_sha256() {
        // RFC 9449 appendix: the example token and its ath.
        assert_eq!(
            ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[tokio::test]
    async fn the_memory_store_accepts_each_key_once_while_it_is_remembered() {
        let store = MemoryReplayStore::default();
        assert_eq!(store.first_use("a", 100, 10).await, Ok(true));
        assert_eq!(store.first_use("a", 100, 50).await, Ok(false));
        assert_eq!(store.first_use("b", 100, 50).await, Ok(true));
        assert_eq!(store.first_use("a", 200, 101).await, Ok(true), "forgotten once past");
    }
}

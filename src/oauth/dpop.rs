//! DPoP (RFC 9449): a client proves it holds a private key with a signed proof on
//! each request, and its tokens are bound to that key (`cnf.jkt`, the key's RFC
//! 7638 thumbprint), so a stolen token is useless without the key.
//!
//! A proof is checked in full: `typ: dpop+jwt`, an allow-listed asymmetric `alg`
//! that fits the public `jwk` in its header, the signature, `htm` and `htu` (no
//! query or fragment) of this request, an `iat` within [`PROOF_WINDOW_SECONDS`],
//! a `jti`, `ath` when a token is presented, and a server nonce when the operator
//! asks for them. The `jti` is used once across instances by the caller (the
//! store), after the client authenticated.

use aws_lc_rs::{digest, hmac};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

use super::jws::Jws;
use super::CLOCK_LEEWAY_SECONDS;
use super::{ExchangeError, TokenService, VerifyError};
use crate::apikeys::jwks::PublicKeys;

/// How old a proof's `iat` may be.
pub const PROOF_WINDOW_SECONDS: i64 = 60;

/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 200;

/// A checked proof: the key it binds to, and its `jti` to use once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's public key.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
}

impl Proof {
    /// Until when its `jti` must be remembered: past that, `iat` is too old anyway.
    pub fn remember_until(&self) -> i64 {
        self.iat + PROOF_WINDOW_SECONDS + CLOCK_LEEWAY_SECONDS
    }
}

/// Why a proof is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// `invalid_dpop_proof`, with the reason.
    #[error("{0}")]
    Invalid(&'static str),
    /// `use_dpop_nonce`: retry with the nonce of the `DPoP-Nonce` header.
    #[error("a DPoP nonce is required; use the one in the DPoP-Nonce header")]
    UseNonce,
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

/// What the request a proof travels with is: its method and URL as the server
/// publishes it, and the access token it presents, if any.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub access_token: Option<&'a str>,
}

/// Checks `proof` for `target` at `now`; with `nonces`, a current server nonce
/// is required.
pub fn check(
    proof: &str,
    target: Target<'_>,
    now: i64,
    nonces: Option<&Nonces>,
) -> Result<Proof, DpopError> {
    use DpopError::Invalid;
    let jws = Jws::parse(proof).map_err(Invalid)?;
    if jws.header.typ.as_deref() != Some("dpop+jwt") {
        return Err(Invalid("typ must be dpop+jwt"));
    }
    if jws.header.locates_keys() {
        return Err(Invalid("key-location headers are not accepted"));
    }
    let jwk = jws.header.jwk.as_ref().ok_or(Invalid("the proof has no jwk header"))?;
    let key = PublicKeys::one(jwk).map_err(|_| Invalid("the proof's jwk is not a public key"))?;
    let verifier = key.candidates(jws.alg, None);
    let verifier = verifier.first().ok_or(Invalid("alg does not fit the proof's jwk"))?;
    if !jws.signed_by(verifier) {
        return Err(Invalid("the proof's signature does not verify"));
    }
    let claims: Claims = jws.claims().map_err(Invalid)?;
    if claims.htm != target.method {
        return Err(Invalid("htm is not this request's method"));
    }
    if claims.htu.contains(['?', '#']) {
        return Err(Invalid("htu must have no query or fragment"));
    }
    if normalized(&claims.htu) != normalized(target.url) {
        return Err(Invalid("htu is not this endpoint"));
    }
    if claims.iat < now - PROOF_WINDOW_SECONDS || claims.iat > now + CLOCK_LEEWAY_SECONDS {
        return Err(Invalid("iat is outside the accepted window"));
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(Invalid("jti is missing or too long"));
    }
    if let Some(token) = target.access_token {
        let hash = digest::digest(&digest::SHA256, token.as_bytes());
        if claims.ath.as_deref() != Some(URL_SAFE_NO_PAD.encode(hash.as_ref()).as_str()) {
            return Err(Invalid("ath is not the hash of the presented token"));
        }
    }
    if let Some(nonces) = nonces {
        if !claims.nonce.as_deref().is_some_and(|n| nonces.valid(n, now)) {
            return Err(DpopError::UseNonce);
        }
    }
    Ok(Proof { jkt: key.thumbprint(), jti: claims.jti, iat: claims.iat })
}

/// A URL compared as RFC 9449 section 4.3 asks (RFC 3986 normalisation, the
/// usual cases): scheme and host in lower case, default ports dropped, an empty
/// path as `/`.
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

/// Server nonces (RFC 9449 section 8), for operators who want proofs to be fresh
/// by the server's word rather than the client's clock. A nonce is the current
/// period and an HMAC of it under a key derived from the master key: every
/// instance issues and accepts the same nonces, with no shared state. The
/// current and the previous period are accepted.
pub struct Nonces {
    key: hmac::Key,
}

/// How long one nonce period lasts.
pub const NONCE_PERIOD_SECONDS: i64 = 300;

impl Nonces {
    pub fn new(key: hmac::Key) -> Self {
        Nonces { key }
    }

    fn tag(&self, period: i64) -> String {
        let tag = hmac::sign(&self.key, &period.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
    }

    /// The nonce to hand out now (`DPoP-Nonce`).
    pub fn current(&self, now: i64) -> String {
        let period = now.div_euclid(NONCE_PERIOD_SECONDS);
        format!("{period}.{}", self.tag(period))
    }

    /// Whether `nonce` is one this service handed out in this period or the last.
    pub fn valid(&self, nonce: &str, now: i64) -> bool {
        let Some((period, tag)) = nonce.split_once('.') else { return false };
        let Ok(period) = period.parse::<i64>() else { return false };
        let current = now.div_euclid(NONCE_PERIOD_SECONDS);
        if period != current && period != current - 1 {
            return false;
        }
        let Ok(given) = URL_SAFE_NO_PAD.decode(tag) else { return false };
        let expected = hmac::sign(&self.key, &period.to_be_bytes());
        given.len() == 16
            && subtle::ConstantTimeEq::ct_eq(&given[..], &expected.as_ref()[..16]).into()
    }
}

/// How a token was presented to keymint's own API: `Authorization: Bearer`, or
/// `Authorization: DPoP` with the request's `DPoP` proof (RFC 9449 section 7).
#[derive(Debug, Clone, Copy)]
pub enum Presented<'a> {
    Bearer,
    Dpop { proof: Option<&'a str>, method: &'a str, path: &'a str },
}

impl TokenService {
    /// The DPoP nonce to hand out now, when the operator requires nonces.
    pub fn dpop_nonce(&self) -> Option<String> {
        self.dpop_nonces.as_ref().map(|n| n.current(self.clock.now()))
    }

    /// Uses a DPoP proof's `jti` once, across instances.
    pub(super) async fn use_proof(&self, proof: &Proof) -> Result<(), ExchangeError> {
        let subject = format!("dpop:{}", proof.jkt);
        match self.used_ids.use_once(&subject, &proof.jti, proof.remember_until()).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(DpopError::Invalid("the proof was used before").into()),
            Err(e) => {
                tracing::warn!(error = %crate::report::Chain(&e), "database error while recording a DPoP proof");
                Err(ExchangeError::Unavailable(e))
            }
        }
    }

    /// A DPoP-bound token (`cnf.jkt`) is accepted only with the DPoP scheme and a
    /// proof for this request, by the key it is bound to, used once; an unbound
    /// token only as Bearer.
    pub(super) async fn check_binding(
        &self,
        claims: &super::Claims,
        token: &str,
        presented: Presented<'_>,
    ) -> Result<(), VerifyError> {
        let invalid = |why: &str| Err(VerifyError::Invalid(why.to_string()));
        match (&claims.cnf, presented) {
            (None, Presented::Bearer) => Ok(()),
            (None, Presented::Dpop { .. }) => {
                invalid("this token is not DPoP-bound: send it with Authorization: Bearer")
            }
            (Some(_), Presented::Bearer) => invalid(
                "this token is DPoP-bound: send it with Authorization: DPoP and a DPoP proof",
            ),
            (Some(_), Presented::Dpop { proof: None, .. }) => {
                invalid("a DPoP-bound token needs a DPoP proof header")
            }
            (Some(cnf), Presented::Dpop { proof: Some(proof), method, path }) => {
                let url = format!("{}{path}", self.settings.issuer);
                let target = Target { method, url: &url, access_token: Some(token) };
                let now = self.clock.now();
                let proof =
                    check(proof, target, now, self.dpop_nonces.as_ref()).map_err(|e| {
                        match (e, self.dpop_nonce()) {
                            (DpopError::UseNonce, Some(nonce)) => VerifyError::UseDpopNonce(nonce),
                            (e, _) => VerifyError::Invalid(format!("DPoP proof refused: {e}")),
                        }
                    })?;
                if proof.jkt != cnf.jkt {
                    return invalid("the DPoP proof is signed by another key than the token's");
                }
                match self.use_proof(&proof).await {
                    Ok(()) => Ok(()),
                    Err(ExchangeError::Unavailable(e)) => Err(VerifyError::Unavailable(e)),
                    Err(_) => invalid("the DPoP proof was used before"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_compare_as_rfc_3986_normalises_them() {
        assert_eq!(
            normalized("HTTPS://Keys.Example.COM:443/oauth/token"),
            "https://keys.example.com/oauth/token"
        );
        assert_eq!(normalized("http://127.0.0.1:8080"), "http://127.0.0.1:8080/");
        assert_ne!(
            normalized("https://a.example/oauth/token"),
            normalized("https://a.example/oauth/TOKEN")
        );
    }

    #[test]
    fn nonces_hold_for_two_periods_and_cannot_be_forged() {
        let nonces = Nonces::new(hmac::Key::new(hmac::HMAC_SHA256, b"test key"));
        let other = Nonces::new(hmac::Key::new(hmac::HMAC_SHA256, b"another key"));
        let now = 1_000_000;
        let nonce = nonces.current(now);
        assert!(nonces.valid(&nonce, now));
        assert!(
            nonces.valid(&nonce, now + NONCE_PERIOD_SECONDS),
            "the next period still accepts it"
        );
        assert!(!nonces.valid(&nonce, now + 2 * NONCE_PERIOD_SECONDS), "then it is stale");
        assert!(!other.valid(&nonce, now), "another master key's");
        for junk in ["", "x", "1.abc", "3333.AAAAAAAAAAAAAAAAAAAAAA"] {
            assert!(!nonces.valid(junk, now), "{junk}");
        }
    }
}

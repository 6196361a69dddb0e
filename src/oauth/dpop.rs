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

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub use keymint_verify::dpop::{Proof, Target, PROOF_WINDOW_SECONDS};

use super::{ExchangeError, TokenService, VerifyError};

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

/// Checks `proof` for `target` at `now` by the rules resource servers apply too
/// ([`keymint_verify::dpop::check_proof`]); with `nonces`, a current server nonce
/// is required.
pub fn check(
    proof: &str,
    target: Target<'_>,
    now: i64,
    nonces: Option<&Nonces>,
) -> Result<Proof, DpopError> {
    let proof =
        keymint_verify::dpop::check_proof(proof, target, now).map_err(DpopError::Invalid)?;
    if let Some(nonces) = nonces {
        if !proof.nonce.as_deref().is_some_and(|n| nonces.valid(n, now)) {
            return Err(DpopError::UseNonce);
        }
    }
    Ok(proof)
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

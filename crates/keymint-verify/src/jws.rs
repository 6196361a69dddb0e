//! Compact JWS from outside (client assertions; DPoP proofs): split, the header
//! read by our own rules, the signature checked with a key the caller chose. The
//! header's `alg` is read as text, so `none`, HMAC and unknown names are refused
//! with a reason, and the fully-specified `Ed25519` (RFC 9864) is understood.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::jwk;

/// The header members keymint reads.
#[derive(Debug, Deserialize)]
pub struct Header {
    /// The algorithm named, as written.
    pub alg: String,
    /// The signing key's id.
    pub kid: Option<String>,
    /// The JWT's type (`dpop+jwt`, `at+jwt`, ...).
    pub typ: Option<String>,
    /// The signer's public key (DPoP proofs carry theirs).
    pub jwk: Option<serde_json::Value>,
    jku: Option<serde_json::Value>,
    x5u: Option<serde_json::Value>,
    x5c: Option<serde_json::Value>,
}

impl Header {
    /// Whether the header points at keys elsewhere (`jku`, `x5u`, `x5c`): never
    /// fetched nor trusted, so refused.
    pub fn locates_keys(&self) -> bool {
        self.jku.is_some() || self.x5u.is_some() || self.x5c.is_some()
    }
}

/// A parsed, not yet verified, compact JWS.
pub struct Jws<'a> {
    /// The header, read by [`Header`]'s rules.
    pub header: Header,
    /// The allow-listed algorithm the header names.
    pub alg: Algorithm,
    signing_input: &'a str,
    signature: &'a str,
    payload: Vec<u8>,
}

impl<'a> Jws<'a> {
    /// Splits `text` and reads its header; refuses algorithms off the allow-list.
    ///
    /// ```
    /// use keymint_verify::jws::Jws;
    ///
    /// // {"alg":"none"}.{}.  is refused before any key is looked at.
    /// assert_eq!(Jws::parse("eyJhbGciOiJub25lIn0.e30.").err(), Some("algorithm not allowed"));
    /// ```
    pub fn parse(text: &'a str) -> Result<Self, &'static str> {
        let (signing_input, signature) = text.rsplit_once('.').ok_or("malformed JWT")?;
        let (header, payload) = signing_input.split_once('.').ok_or("malformed JWT")?;
        let header: Header = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or("malformed JWT header")?;
        let alg = jwk::parse_alg(&header.alg).ok_or("algorithm not allowed")?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| "malformed JWT payload")?;
        Ok(Jws { header, alg, signing_input, signature, payload })
    }

    /// Whether `key` made the signature.
    pub fn signed_by(&self, key: &DecodingKey) -> bool {
        jsonwebtoken::crypto::verify(self.signature, self.signing_input.as_bytes(), key, self.alg)
            .unwrap_or(false)
    }

    /// The payload's claims (read only after [`Jws::signed_by`]).
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, &'static str> {
        serde_json::from_slice(&self.payload).map_err(|_| "malformed or missing claims")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jws(header: &str) -> String {
        format!("{}.{}.c2ln", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode("{}"))
    }

    #[test]
    fn only_allow_listed_algorithms_are_read() {
        assert_eq!(
            Jws::parse(&jws(r#"{"alg":"ES256"}"#)).map(|j| j.alg).ok(),
            Some(Algorithm::ES256)
        );
        assert_eq!(
            Jws::parse(&jws(r#"{"alg":"Ed25519"}"#)).map(|j| j.alg).ok(),
            Some(Algorithm::EdDSA),
            "RFC 9864's fully-specified name"
        );
        for refused in [r#"{"alg":"none"}"#, r#"{"alg":"HS256"}"#, r#"{"alg":"ES512"}"#, "{}", "[]"]
        {
            assert!(Jws::parse(&jws(refused)).is_err(), "{refused}");
        }
        assert!(Jws::parse("only.two").is_err());
    }
}

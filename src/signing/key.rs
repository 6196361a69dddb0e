//! One signing key: its algorithm, its private key parsed once, its public JWK and
//! its RFC 7638 thumbprint `kid`. Signing a JWT here costs one signature: the header
//! is encoded once per key and the private key is never re-parsed.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use aws_lc_rs::{digest, encoding::AsDer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};

pub use crate::vocab::Algorithm;

enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A parsed signing key, ready to sign.
pub struct SigningKey {
    alg: Algorithm,
    kid: String,
    signer: Signer,
    public_jwk: Value,
    header_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a private key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {0} private key")]
pub struct KeyError(&'static str);

/// The RFC 7638 thumbprint input: the required members in lexicographic order.
fn thumbprint(required: &Value) -> String {
    // serde_json's map is ordered by key, which is exactly RFC 7638's order.
    B64.encode(digest::digest(&digest::SHA256, required.to_string().as_bytes()))
}

impl SigningKey {
    /// Generates a new key; returns it and its PKCS#8 DER private key (to seal).
    pub fn generate(alg: Algorithm) -> Result<(Self, Vec<u8>), KeyError> {
        let rng = SystemRandom::new();
        let der = match alg {
            Algorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| KeyError("ES256"))?
                    .as_ref()
                    .to_vec()
            }
            Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| KeyError("EdDSA"))?
                .as_ref()
                .to_vec(),
            Algorithm::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
                .and_then(|k| k.as_der())
                .map_err(|_| KeyError("RS256"))?
                .as_ref()
                .to_vec(),
        };
        Ok((Self::from_pkcs8(alg, &der)?, der))
    }

    /// Parses a PKCS#8 DER private key.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        let (signer, required) = match alg {
            Algorithm::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| KeyError("ES256"))?;
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref().to_vec();
                if point.len() != 65 {
                    return Err(KeyError("ES256"));
                }
                let required = json!({
                    "crv": "P-256", "kty": "EC",
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..]),
                });
                (Signer::Es256(pair), required)
            }
            Algorithm::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|_| KeyError("EdDSA"))?;
                let required = json!({
                    "crv": "Ed25519", "kty": "OKP",
                    "x": B64.encode(pair.public_key().as_ref()),
                });
                (Signer::EdDsa(pair), required)
            }
            Algorithm::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| KeyError("RS256"))?;
                if pair.public_modulus_len() < 256 {
                    return Err(KeyError("RS256 (needs 2048 bits or more)"));
                }
                let public = pair.public_key();
                let required = json!({
                    "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
                    "kty": "RSA",
                    "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
                });
                (Signer::Rs256(pair), required)
            }
        };
        let kid = thumbprint(&required);
        let mut public_jwk = required;
        public_jwk["kid"] = json!(kid);
        public_jwk["use"] = json!("sig");
        public_jwk["alg"] = json!(alg.name());
        let header = json!({"alg": alg.name(), "kid": kid, "typ": "at+jwt"});
        Ok(SigningKey { alg, header_b64: B64.encode(header.to_string()), kid, signer, public_jwk })
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK as published in the JWKS (no private members).
    pub fn public_jwk(&self) -> &Value {
        &self.public_jwk
    }

    /// Signs `claims` (a JSON object) as a compact JWS with header
    /// `{"alg", "kid", "typ": "at+jwt"}` (RFC 9068 section 2.1).
    pub fn sign(&self, claims: &[u8]) -> Result<String, KeyError> {
        self.sign_encoded(&self.header_b64, claims)
    }

    /// Signs `claims` as a compact JWS with this header (which names this key's
    /// `alg`), e.g. a client assertion's.
    pub fn sign_with_header(&self, header: &Value, claims: &[u8]) -> Result<String, KeyError> {
        self.sign_encoded(&B64.encode(header.to_string()), claims)
    }

    fn sign_encoded(&self, header_b64: &str, claims: &[u8]) -> Result<String, KeyError> {
        let mut token = String::with_capacity(header_b64.len() + claims.len() * 4 / 3 + 100);
        token.push_str(header_b64);
        token.push('.');
        B64.encode_string(claims, &mut token);
        let rng = SystemRandom::new();
        let signature = match &self.signer {
            Signer::Es256(pair) => {
                pair.sign(&rng, token.as_bytes()).map_err(|_| KeyError("ES256"))?.as_ref().to_vec()
            }
            Signer::EdDsa(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
            Signer::Rs256(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut sig)
                    .map_err(|_| KeyError("RS256"))?;
                sig
            }
        };
        token.push('.');
        B64.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// A verifier for a published public JWK, for `jsonwebtoken`.
pub fn decoding_key(jwk: &Value) -> Option<(Algorithm, jsonwebtoken::DecodingKey)> {
    let alg = Algorithm::from_name(jwk.get("alg")?.as_str()?)?;
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let key = match alg {
        Algorithm::Es256 => {
            jsonwebtoken::DecodingKey::from_ec_components(member("x")?, member("y")?)
        }
        Algorithm::EdDsa => jsonwebtoken::DecodingKey::from_ed_components(member("x")?),
        Algorithm::Rs256 => {
            jsonwebtoken::DecodingKey::from_rsa_components(member("n")?, member("e")?)
        }
    };
    Some((alg, key.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(key: &SigningKey, token: &str) -> serde_json::Value {
        let (alg, decoding) = decoding_key(key.public_jwk()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(alg.jwt());
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(token, &decoding, &validation).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
        data.claims
    }

    #[test]
    fn every_algorithm_signs_tokens_that_jsonwebtoken_verifies() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let (key, der) = SigningKey::generate(alg).unwrap();
            let token = key.sign(br#"{"sub":"k1"}"#).unwrap();
            assert_eq!(verify(&key, &token)["sub"], "k1", "{alg:?}");
            let reparsed = SigningKey::from_pkcs8(alg, &der).unwrap();
            assert_eq!(reparsed.kid(), key.kid(), "kid is stable for {alg:?}");
            assert_eq!(key.public_jwk()["alg"], alg.name());
        }
    }

    #[test]
    fn kid_is_the_rfc7638_thumbprint() {
        // RFC 7638 section 3.1's example RSA key and its thumbprint.
        let required = json!({
            "e": "AQAB", "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        });
        assert_eq!(thumbprint(&required), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn public_jwk_has_no_private_members() {
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let (key, _) = SigningKey::generate(alg).unwrap();
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.public_jwk().get(private).is_none(), "{alg:?} leaks {private}");
            }
        }
    }
}

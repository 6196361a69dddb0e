//! Signed client requests for the benchmark: `private_key_jwt` assertions and DPoP
//! proofs. They are signed before the clock starts, so the load generator (on the
//! same machine) spends no CPU on them while the server is measured.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

/// A client's ES256 key pair.
pub struct Signer {
    encoding: EncodingKey,
    jwk: Value,
    /// The public key, as an uncompressed P-256 point.
    point: Vec<u8>,
}

impl Signer {
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("key generation");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .expect("key pair");
        let point = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
        Signer { encoding: EncodingKey::from_ec_der(pkcs8.as_ref()), jwk, point: point.to_vec() }
    }

    /// The public key as an uncompressed P-256 point.
    pub fn public_point(&self) -> &[u8] {
        &self.point
    }

    /// The public key as a JWK Set, as a key's `jwks` column holds it.
    pub fn jwks(&self) -> String {
        json!({"keys": [self.jwk]}).to_string()
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature =
            jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::ES256)
                .expect("signing");
        format!("{input}.{signature}")
    }

    /// `count` token request bodies authenticated by assertion, cycling through
    /// `clients`, each with its own `jti` (starting `tag`), valid for an hour from `now`.
    pub fn assertion_bodies(
        &self,
        clients: &[String],
        aud: &str,
        now: i64,
        count: usize,
        tag: &str,
    ) -> Vec<String> {
        let header = json!({"alg": "ES256", "typ": "JWT"});
        (0..count)
            .map(|i| {
                let client = &clients[i % clients.len()];
                let claims = json!({"iss": client, "sub": client, "aud": aud, "iat": now,
                    "exp": now + 3600, "jti": format!("{tag}-{i}")});
                format!(
                    "grant_type=client_credentials&client_assertion_type=\
                     urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
                     &client_assertion={}",
                    self.sign(&header, &claims)
                )
            })
            .collect()
    }

    /// `count` DPoP proofs for `POST htu`, issued at `now`, each with its own `jti`
    /// (starting `tag`).
    pub fn proofs(&self, htu: &str, now: i64, count: usize, tag: &str) -> Vec<String> {
        let header = json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": self.jwk});
        (0..count)
            .map(|i| {
                let claims = json!({"jti": format!("{tag}-{i}"), "htm": "POST", "htu": htu,
                    "iat": now});
                self.sign(&header, &claims)
            })
            .collect()
    }
}

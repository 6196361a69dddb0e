//! The signatures of GitHub's secret-scanning reports: ECDSA P-256 with SHA-256
//! over the raw request body, by a key GitHub publishes (its
//! `--github-secret-scanning-keys-url` document, `{"public_keys": [{
//! "key_identifier", "key": PEM, "is_current"}]}`), named by the request's
//! `Github-Public-Key-Identifier` header. The keys are kept in memory and fetched
//! again for an identifier not held, at most once a minute; the document is
//! bounded (no redirects, 5 s, 64 KiB).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::clock::Clock;

/// The least time between two fetches of the keys document, in seconds.
pub const MIN_REFETCH_SECONDS: i64 = 60;
const MAX_BYTES: usize = 64 * 1024;
/// The DER prefix of a P-256 SubjectPublicKeyInfo; the uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The keys held (identifier to uncompressed P-256 point), and when they were
/// last fetched.
type Held = (HashMap<String, Vec<u8>>, Option<i64>);

/// GitHub's published keys, by identifier.
pub struct GithubKeys {
    url: String,
    clock: Arc<dyn Clock>,
    held: Mutex<Held>,
    refetch: tokio::sync::Mutex<()>,
}

/// The point of a PEM P-256 public key, if that is what `pem` is.
fn p256_point(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body.trim()).ok()?;
    (der.len() == 91 && der[..26] == P256_SPKI_PREFIX).then(|| der[26..].to_vec())
}

impl GithubKeys {
    pub fn new(url: &str, clock: Arc<dyn Clock>) -> Self {
        GithubKeys {
            url: url.to_string(),
            clock,
            held: Mutex::new((HashMap::new(), None)),
            refetch: tokio::sync::Mutex::new(()),
        }
    }

    /// Checks `signature` (base64 DER) of `body` by key `key_id`.
    pub async fn verify(
        &self,
        key_id: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<(), &'static str> {
        let signature =
            STANDARD.decode(signature.trim()).map_err(|_| "the signature is not base64")?;
        let point = self.key(key_id).await?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point)
            .verify(body, &signature)
            .map_err(|_| "the signature does not verify")
    }

    async fn key(&self, key_id: &str) -> Result<Vec<u8>, &'static str> {
        let fresh_enough = |fetched: Option<i64>, now: i64| {
            fetched.is_some_and(|at| now - at < MIN_REFETCH_SECONDS)
        };
        {
            let held = self.held.lock().map_err(|_| "key cache unavailable")?;
            if let Some(point) = held.0.get(key_id) {
                return Ok(point.clone());
            }
            if fresh_enough(held.1, self.clock.now()) {
                return Err("unknown key identifier");
            }
        }
        let _one = self.refetch.lock().await;
        if fresh_enough(self.held.lock().map_err(|_| "key cache unavailable")?.1, self.clock.now())
        {
            // Another request fetched meanwhile.
            let held = self.held.lock().map_err(|_| "key cache unavailable")?;
            return held.0.get(key_id).cloned().ok_or("unknown key identifier");
        }
        let fetched = self.fetch().await;
        let mut held = self.held.lock().map_err(|_| "key cache unavailable")?;
        held.1 = Some(self.clock.now());
        match fetched {
            Ok(keys) => held.0 = keys,
            Err(why) => tracing::warn!(why, "could not fetch GitHub's secret-scanning keys"),
        }
        held.0.get(key_id).cloned().ok_or("unknown key identifier")
    }

    async fn fetch(&self) -> Result<HashMap<String, Vec<u8>>, &'static str> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .user_agent(concat!("keymint/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| "no HTTP client")?;
        let mut response = client.get(&self.url).send().await.map_err(|_| "fetch failed")?;
        if !response.status().is_success() {
            return Err("the keys document answered an error");
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| "fetch failed")? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err("the keys document is larger than 64 KiB");
            }
            body.extend_from_slice(&chunk);
        }
        let document: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| "the keys document is not JSON")?;
        let mut keys = HashMap::new();
        for key in document["public_keys"].as_array().into_iter().flatten() {
            if let (Some(id), Some(point)) =
                (key["key_identifier"].as_str(), key["key"].as_str().and_then(p256_point))
            {
                keys.insert(id.to_string(), point);
            }
        }
        Ok(keys)
    }
}

//! Token signing keys: generation, sealing under the master key, the in-memory
//! [`Keyring`] that signs and verifies, and the JWKS it publishes.
//!
//! States (see `docs/signing-keys.md`): `next` (published, not yet signing),
//! `current` (signs; at most one, enforced by a unique index), `retired` (published
//! until every token it signed has expired).

mod key;
mod master;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::{bail, Context};
use serde_json::{json, Value};

pub use key::{decoding_key, Algorithm, SigningKey};
pub use master::MasterKey;

use crate::store::{AuditRecord, SigningKeyRecord, Store, StoreError};

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// The base64 value itself (from `KEYMINT_MASTER_KEY`).
    Value(String),
    /// A file, created on first start if the database holds no signing keys yet.
    File(std::path::PathBuf),
}

/// Loads the master key, creating the key file only when nothing is sealed yet.
pub async fn load_master_key(
    source: &MasterKeySource,
    store: &dyn Store,
) -> anyhow::Result<MasterKey> {
    let sealed = store
        .list_signing_keys()
        .await
        .context("reading signing keys")?;
    let key = match source {
        MasterKeySource::Value(v) => MasterKey::from_base64(v).context("KEYMINT_MASTER_KEY")?,
        MasterKeySource::File(path) if path.exists() => MasterKey::read_file(path)?,
        MasterKeySource::File(path) => {
            if let Some(k) = sealed.first() {
                bail!(
                    "the master key file {} does not exist, but the database holds signing keys \
                     sealed under master key {}: restore that file or set KEYMINT_MASTER_KEY",
                    path.display(),
                    k.master_key_id
                );
            }
            let key = MasterKey::create_file(path)?;
            tracing::info!(path = %path.display(), master_key_id = key.id(), "created a new master key");
            key
        }
    };
    check_master_key(&key, &sealed)?;
    Ok(key)
}

fn check_master_key(key: &MasterKey, sealed: &[SigningKeyRecord]) -> anyhow::Result<()> {
    for record in sealed {
        if record.master_key_id != key.id() {
            bail!(
                "wrong master key: signing key {} was sealed under master key {}, but the \
                 configured master key is {}; nothing was changed",
                record.kid,
                record.master_key_id,
                key.id()
            );
        }
        if key.open(&record.kid, &record.sealed_private).is_err() {
            bail!(
                "signing key {} does not open under master key {}: the sealed data is \
                 damaged; nothing was changed",
                record.kid,
                key.id()
            );
        }
    }
    Ok(())
}

/// The keys of one moment: who signs, what is published, who can be verified.
struct KeySet {
    current: Arc<SigningKey>,
    jwks: bytes::Bytes,
    verifiers: HashMap<String, (Algorithm, jsonwebtoken::DecodingKey)>,
}

/// The signing keys in memory. Signing and JWKS never touch the database.
pub struct Keyring {
    store: Arc<dyn Store>,
    master: MasterKey,
    alg: Algorithm,
    set: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Loads the keys from the store, creating the first signing key if there is none.
    pub async fn load(
        store: Arc<dyn Store>,
        master: MasterKey,
        alg: Algorithm,
        now: i64,
    ) -> anyhow::Result<Self> {
        let mut records = store.list_signing_keys().await?;
        if !records.iter().any(|r| r.state == "current") {
            let (key, der) = SigningKey::generate(alg)?;
            let record = SigningKeyRecord {
                kid: key.kid().to_string(),
                alg: alg.name().to_string(),
                state: "current".into(),
                public_jwk: key.public_jwk().to_string(),
                sealed_private: master.seal(key.kid(), &der)?,
                master_key_id: master.id().to_string(),
                created_at: now,
                activated_at: Some(now),
                retired_at: None,
            };
            let audit = AuditRecord {
                id: 0,
                at: now,
                actor: "system".into(),
                actor_ip: None,
                workspace_id: None,
                action: "signing_key.create".into(),
                target_type: "signing_key".into(),
                target_id: record.kid.clone(),
                details: json!({"alg": alg.name(), "state": "current"}),
            };
            match store.insert_signing_key(&record, &audit).await {
                // Another instance created one at the same moment: use that one.
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e).context("storing the first signing key"),
            }
            tracing::info!(kid = %record.kid, alg = alg.name(), "created a signing key");
            records = store.list_signing_keys().await?;
        }
        let set = build_set(&master, &records)?;
        Ok(Keyring {
            store,
            master,
            alg,
            set: RwLock::new(Arc::new(set)),
        })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(set) => set.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key that signs now.
    pub fn current(&self) -> Arc<SigningKey> {
        self.snapshot().current.clone()
    }

    /// The serialized JWKS document (RFC 7517 section 5).
    pub fn jwks(&self) -> bytes::Bytes {
        self.snapshot().jwks.clone()
    }

    /// The verifier for a published `kid`, if any.
    pub fn verifier(&self, kid: &str) -> Option<(Algorithm, jsonwebtoken::DecodingKey)> {
        self.snapshot().verifiers.get(kid).cloned()
    }

    /// The configured algorithm for new keys.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Re-reads the keys from the store (after a change made elsewhere).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let records = self.store.list_signing_keys().await?;
        let set = build_set(&self.master, &records)?;
        if let Ok(mut slot) = self.set.write() {
            *slot = Arc::new(set);
        }
        Ok(())
    }
}

fn build_set(master: &MasterKey, records: &[SigningKeyRecord]) -> anyhow::Result<KeySet> {
    check_master_key(master, records)?;
    let mut current = None;
    let mut keys = Vec::new();
    let mut verifiers = HashMap::new();
    for record in records {
        let jwk: Value = serde_json::from_str(&record.public_jwk)
            .with_context(|| format!("signing key {} has a corrupt public JWK", record.kid))?;
        if let Some(verifier) = decoding_key(&jwk) {
            verifiers.insert(record.kid.clone(), verifier);
        }
        if record.state == "current" {
            let alg = Algorithm::from_name(&record.alg).with_context(|| {
                format!("signing key {} has unknown alg {}", record.kid, record.alg)
            })?;
            let der = master
                .open(&record.kid, &record.sealed_private)
                .with_context(|| format!("opening signing key {}", record.kid))?;
            current = Some(Arc::new(SigningKey::from_pkcs8(alg, &der)?));
        }
        keys.push(jwk);
    }
    let current = current.context("no current signing key")?;
    let jwks = bytes::Bytes::from(json!({ "keys": keys }).to_string());
    Ok(KeySet {
        current,
        jwks,
        verifiers,
    })
}

/// Names a master key source without its value, for logs and messages.
pub fn describe(source: &MasterKeySource) -> String {
    match source {
        MasterKeySource::Value(_) => "KEYMINT_MASTER_KEY".into(),
        MasterKeySource::File(p) => p.display().to_string(),
    }
}

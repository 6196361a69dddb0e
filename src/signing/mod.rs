//! Token signing keys: generation, sealing under the master key, the in-memory
//! [`Keyring`](crate::signing::Keyring) that signs and verifies, and the JWKS it publishes.
//!
//! States (see `docs/signing-keys.md`): `next` (published, not yet signing),
//! `current` (signs; at most one, enforced by a unique index), `retired` (published
//! until every token it signed has expired).

mod key;
mod keyring;
mod manage;
mod master;

use anyhow::{bail, Context};

pub use key::{decoding_key, Algorithm, SigningKey};
pub use keyring::{Keyring, RotationOutcome, RotationPolicy, SigningKeyView};
pub use manage::SigningKeys;
pub use master::MasterKey;

use crate::store::{SigningKeyRecord, Store};

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
    let sealed = store.list_signing_keys().await.context("reading signing keys")?;
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
            match MasterKey::create_file_if_absent(path)? {
                Some(key) => {
                    tracing::info!(path = %path.display(), master_key_id = key.id(), "created a new master key");
                    key
                }
                // Another instance created it a moment ago.
                None => MasterKey::read_file(path)?,
            }
        }
    };
    check_master_key(&key, &sealed)?;
    Ok(key)
}

pub(crate) fn check_master_key(key: &MasterKey, sealed: &[SigningKeyRecord]) -> anyhow::Result<()> {
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

/// Names a master key source without its value, for logs and messages.
pub fn describe(source: &MasterKeySource) -> String {
    match source {
        MasterKeySource::Value(_) => "KEYMINT_MASTER_KEY".into(),
        MasterKeySource::File(p) => p.display().to_string(),
    }
}

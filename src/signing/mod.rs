//! Token signing keys: generation, sealing under the master key, the in-memory
//! [`Keyring`](crate::signing::Keyring) that signs and verifies, and the JWKS it publishes.
//!
//! States (see `docs/signing-keys.md`): `next` (published, not yet signing),
//! `current` (signs; at most one, enforced by a unique index), `retired` (published
//! until every token it signed has expired).

mod error;
mod key;
mod keyring;
mod manage;
mod master;

pub use error::{MasterKeyError, SigningError};
pub use key::{decoding_key, Algorithm, KeyError, SigningKey};
pub use keyring::{Keyring, Rotated, RotationOutcome, RotationPolicy, SigningKeyView};
pub use manage::SigningKeys;
pub use master::MasterKey;

use crate::store::{SigningKeyRecord, Store};

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// The base64 value itself, and where it was given (`--master-key` or
    /// `KEYMINT_MASTER_KEY`).
    Value { value: String, origin: &'static str },
    /// A file, created on first start if the database holds no signing keys yet.
    File(std::path::PathBuf),
}

/// Loads the master key, creating the key file only when nothing is sealed yet.
pub async fn load_master_key(
    source: &MasterKeySource,
    store: &dyn Store,
) -> Result<MasterKey, SigningError> {
    let sealed = store.list_signing_keys().await?;
    let key = match source {
        MasterKeySource::Value { value, origin } => MasterKey::from_base64(value).map_err(|e| {
            MasterKeyError::Invalid { origin: (*origin).into(), source: Box::new(e) }
        })?,
        MasterKeySource::File(path) if path.exists() => MasterKey::read_file(path)?,
        MasterKeySource::File(path) => {
            if let Some(k) = sealed.first() {
                return Err(SigningError::MissingMasterKeyFile {
                    path: path.clone(),
                    sealed_under: k.master_key_id.clone(),
                });
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

/// Checks that `key` is the master key every sealed record was sealed under, and
/// that each opens.
pub(crate) fn check_master_key(
    key: &MasterKey,
    sealed: &[SigningKeyRecord],
) -> Result<(), SigningError> {
    for record in sealed {
        if record.master_key_id != key.id() {
            return Err(SigningError::WrongMasterKey {
                kid: record.kid.clone(),
                sealed_under: record.master_key_id.clone(),
                configured: key.id().to_string(),
            });
        }
        if key.open(&record.kid, &record.sealed_private).is_err() {
            return Err(SigningError::Damaged {
                kid: record.kid.clone(),
                master: key.id().to_string(),
            });
        }
    }
    Ok(())
}

/// Names a master key source without its value, for logs and messages.
pub fn describe(source: &MasterKeySource) -> String {
    match source {
        MasterKeySource::Value { origin, .. } => (*origin).into(),
        MasterKeySource::File(p) => p.display().to_string(),
    }
}

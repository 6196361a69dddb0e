//! What can go wrong with signing keys and the master key, each error carrying its
//! cause to the one place that logs or maps it (start-up, the schedule, a front door).

use std::path::PathBuf;

use super::key::KeyError;
use crate::store::StoreError;

/// A master key that cannot be read, made or used.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key is not valid base64")]
    NotBase64(#[source] base64::DecodeError),
    #[error("the master key must be 32 bytes, found {0}")]
    WrongLength(usize),
    #[error("invalid master key in {origin}")]
    Invalid {
        /// The file or variable it came from.
        origin: String,
        #[source]
        source: Box<MasterKeyError>,
    },
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the master key file {} already exists", .0.display())]
    Exists(PathBuf),
    #[error("the system random number generator failed")]
    Random,
    #[error("sealing under the master key failed")]
    Seal,
}

/// Why the signing keys could not be loaded, changed or used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Another instance changed the signing keys between this one's read and write.
    #[error("the signing keys changed concurrently; retry")]
    Raced,
    #[error("no current signing key")]
    NoCurrent,
    #[error(
        "wrong master key: signing key {kid} was sealed under master key {sealed_under}, but \
         the configured master key is {configured}; nothing was changed"
    )]
    WrongMasterKey { kid: String, sealed_under: String, configured: String },
    #[error(
        "signing key {kid} does not open under master key {master}: the sealed data is \
         damaged; nothing was changed"
    )]
    Damaged { kid: String, master: String },
    #[error(
        "the master key file {} does not exist, but the database holds signing keys sealed \
         under master key {sealed_under}: restore that file, or give the master key with --master-key (KEYMINT_MASTER_KEY)",
        path.display()
    )]
    MissingMasterKeyFile { path: PathBuf, sealed_under: String },
    #[error("signing key {kid} is corrupt: {why}")]
    Corrupt { kid: String, why: String },
}

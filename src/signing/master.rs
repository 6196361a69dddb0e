//! The master key: 32 random bytes that seal every signing private key (AES-256-GCM).
//! It is never stored in the database: it lives in a file (`keys/master.key` by
//! default, created with mode 0600 on first start) or in `KEYMINT_MASTER_KEY`.

use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::MasterKeyError;

/// The master key. `Debug` shows only its fingerprint.
pub struct MasterKey {
    bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// Why sealed data could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("sealed data does not open under this master key")]
pub struct OpenError;

impl MasterKey {
    /// A master key from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            b"keymint master key fingerprint",
        );
        let id = tag.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        MasterKey { bytes, id }
    }

    /// Parses the base64 text form (as in the key file or the environment).
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let raw = STANDARD.decode(text.trim()).map_err(MasterKeyError::NotBase64)?;
        let bytes: [u8; 32] =
            raw.try_into().map_err(|raw: Vec<u8>| MasterKeyError::WrongLength(raw.len()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A fresh random master key.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| MasterKeyError::Random)?;
        Ok(Self::from_bytes(bytes))
    }

    /// A non-secret fingerprint, stored beside everything this key seals so that a
    /// wrong master key is reported as such.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A key for `purpose`, derived from this one (HMAC-SHA256 of the label), so
    /// one master key can serve several purposes without reusing its bytes.
    pub fn derive(&self, purpose: &[u8]) -> hmac::Key {
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.bytes), purpose);
        hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
    }

    /// Reads the key file at `path`.
    pub fn read_file(path: &Path) -> Result<Self, MasterKeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| MasterKeyError::Io {
            action: "read the master key file",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_base64(&text).map_err(|e| MasterKeyError::Invalid {
            origin: path.display().to_string(),
            source: Box::new(e),
        })
    }

    /// Writes a new key file at `path` (mode 0600), refusing to overwrite one.
    pub fn create_file(path: &Path) -> Result<Self, MasterKeyError> {
        Self::create_file_if_absent(path)?.ok_or_else(|| MasterKeyError::Exists(path.into()))
    }

    /// Writes a new key file at `path` (mode 0600) unless one exists (`None`). The
    /// file appears complete or not at all: it is written under a temporary name and
    /// linked into place, so instances starting together agree on one key.
    pub fn create_file_if_absent(path: &Path) -> Result<Option<Self>, MasterKeyError> {
        use std::io::Write;
        fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MasterKeyError {
            let path = path.to_path_buf();
            move |source| MasterKeyError::Io { action, path, source }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        }
        let key = Self::generate()?;
        let temp = path.with_extension(format!("tmp-{}", crate::vocab::base62::random_base62(8)));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = options
            .open(&temp)
            .and_then(|mut file| {
                writeln!(file, "{}", STANDARD.encode(key.bytes))?;
                file.sync_all()
            })
            .map_err(io("write", &temp));
        let linked = written.and_then(|()| match std::fs::hard_link(&temp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io("create", path)(e)),
        });
        let _ = std::fs::remove_file(&temp);
        Ok(linked?.then_some(key))
    }

    fn aead(&self) -> LessSafeKey {
        // AES-256-GCM accepts any 32-byte key.
        LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.bytes)
                .unwrap_or_else(|_| unreachable!("a 32-byte key is valid for AES-256-GCM")),
        )
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. the kid): `nonce || ciphertext || tag`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| MasterKeyError::Random)?;
        let mut buf = plaintext.to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| MasterKeyError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypts what [`MasterKey::seal`] produced for the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| OpenError)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_binds_the_context() {
        let key = MasterKey::generate().unwrap();
        let sealed = key.seal("kid-1", b"private key bytes").unwrap();
        assert_eq!(key.open("kid-1", &sealed).unwrap(), b"private key bytes");
        assert!(key.open("kid-2", &sealed).is_err(), "moved to another row");
        let other = MasterKey::generate().unwrap();
        assert!(other.open("kid-1", &sealed).is_err(), "wrong master key");
        assert_ne!(key.id(), other.id());
    }

    #[test]
    fn key_file_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let created = MasterKey::create_file(&path).unwrap();
        let read = MasterKey::read_file(&path).unwrap();
        assert_eq!(created.id(), read.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(MasterKey::create_file(&path).is_err(), "never overwrites");
    }

    #[test]
    fn malformed_master_keys_are_named_as_such() {
        let err = MasterKey::from_base64("not base64!").unwrap_err();
        assert!(err.to_string().contains("base64"));
        let err = MasterKey::from_base64(&STANDARD.encode([1u8; 16])).unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }
}

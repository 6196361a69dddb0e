//! How a key proves who it is: a secret (with the pre-rotation secret during a
//! grace period), or public keys that verify the assertions it signs. One type,
//! so every place that reads a key's credential handles both kinds.

/// How a key authenticates at the token endpoint (RFC 7591 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

stored_text!(AuthMethod {
    ClientSecretBasic => "client_secret_basic",
    ClientSecretPost => "client_secret_post",
    PrivateKeyJwt => "private_key_jwt",
});

impl AuthMethod {
    /// Every method, as discovery lists them.
    pub const ALL: [AuthMethod; 3] =
        [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost, AuthMethod::PrivateKeyJwt];

    /// Whether a key with this method authenticates by a signed assertion.
    pub fn by_assertion(self) -> bool {
        self == AuthMethod::PrivateKeyJwt
    }
}

/// A key's credential.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A shared secret, presented by `client_secret_basic` or `client_secret_post`
    /// (both work; `method` is what the admin registered).
    Secret {
        method: AuthMethod,
        /// `None` until the key is rotated, after it left public keys for a secret.
        current: Option<StoredSecret>,
        /// The pre-rotation secret, which works until its `expires_at`.
        previous: Option<PreviousSecret>,
    },
    /// Public keys that verify the key's signed assertions (`private_key_jwt`); the
    /// key has no secret.
    PublicKeys(PublicKeySource),
}

/// A secret as stored: its hash, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub hash: String,
    /// The display form: the prefix and the last 4 characters.
    pub masked: String,
    /// An admin gave the value (a legacy key) rather than keymint generating it.
    pub imported: bool,
    /// The keyed hash that finds an imported secret from its value alone
    /// (`apikeys::hashing::Hasher::lookup`); `None` for generated secrets.
    pub lookup: Option<String>,
}

/// The secret a rotation replaced, and when it stops (or stopped) working.
#[derive(Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: String,
    pub lookup: Option<String>,
    pub expires_at: i64,
}

/// Where the public keys of a `private_key_jwt` key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeySource {
    /// Held here: a checked JWK Set, as JSON text.
    Held(String),
    /// Published by the client at this URL (`jwks_uri`).
    Published(String),
}

impl Credential {
    /// A new secret credential (`client_secret_basic`) holding `secret`.
    pub fn secret(secret: StoredSecret) -> Self {
        Credential::Secret {
            method: AuthMethod::ClientSecretBasic,
            current: Some(secret),
            previous: None,
        }
    }

    /// The method the key authenticates with.
    pub fn method(&self) -> AuthMethod {
        match self {
            Credential::Secret { method, .. } => *method,
            Credential::PublicKeys(_) => AuthMethod::PrivateKeyJwt,
        }
    }

    /// The current secret, if the key has one.
    pub fn current(&self) -> Option<&StoredSecret> {
        match self {
            Credential::Secret { current, .. } => current.as_ref(),
            Credential::PublicKeys(_) => None,
        }
    }

    /// The pre-rotation secret, whether or not its grace period still runs.
    pub fn previous(&self) -> Option<&PreviousSecret> {
        match self {
            Credential::Secret { previous, .. } => previous.as_ref(),
            Credential::PublicKeys(_) => None,
        }
    }

    /// The pre-rotation secret while its grace period runs at `now`.
    pub fn in_grace(&self, now: i64) -> Option<&PreviousSecret> {
        self.previous().filter(|p| p.expires_at > now)
    }

    /// The public keys of a `private_key_jwt` key.
    pub fn public_keys(&self) -> Option<&PublicKeySource> {
        match self {
            Credential::PublicKeys(source) => Some(source),
            Credential::Secret { .. } => None,
        }
    }

    /// The secret's display form; empty for a key without one.
    pub fn masked(&self) -> &str {
        self.current().map_or("", |s| s.masked.as_str())
    }

    /// Whether the current secret was imported.
    pub fn imported(&self) -> bool {
        self.current().is_some_and(|s| s.imported)
    }

    /// Whether the key has a secret method but no secret yet.
    pub fn awaits_secret(&self) -> bool {
        matches!(self, Credential::Secret { current: None, .. })
    }
}

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSecret")
            .field("masked", &self.masked)
            .field("imported", &self.imported)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PreviousSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviousSecret")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret { method, current, previous } => f
                .debug_struct("Secret")
                .field("method", method)
                .field("current", &current.as_ref().map(|_| "[REDACTED]"))
                .field("previous_expires_at", &previous.as_ref().map(|p| p.expires_at))
                .finish(),
            Credential::PublicKeys(source) => f.debug_tuple("PublicKeys").field(source).finish(),
        }
    }
}

/// The columns a credential is stored in (`api_keys`), as the store reads and
/// writes them: how the type maps onto the schema, in one place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct CredentialColumns {
    pub method: String,
    /// [`NO_SECRET_HASH`] when the key has no secret.
    pub secret_hash: String,
    pub masked_secret: String,
    pub imported: bool,
    pub secret_lookup: Option<String>,
    pub previous_secret_hash: Option<String>,
    pub previous_secret_lookup: Option<String>,
    pub previous_expires_at: Option<i64>,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
}

/// The stored hash column of a key with no secret.
pub(super) const NO_SECRET_HASH: &str = "none";

impl From<&Credential> for CredentialColumns {
    fn from(c: &Credential) -> Self {
        let mut columns = CredentialColumns {
            method: c.method().as_str().to_string(),
            secret_hash: NO_SECRET_HASH.to_string(),
            ..Default::default()
        };
        match c {
            Credential::Secret { current, previous, .. } => {
                if let Some(s) = current {
                    columns.secret_hash = s.hash.clone();
                    columns.masked_secret = s.masked.clone();
                    columns.imported = s.imported;
                    columns.secret_lookup = s.lookup.clone();
                }
                if let Some(p) = previous {
                    columns.previous_secret_hash = Some(p.hash.clone());
                    columns.previous_secret_lookup = p.lookup.clone();
                    columns.previous_expires_at = Some(p.expires_at);
                }
            }
            Credential::PublicKeys(PublicKeySource::Held(jwks)) => {
                columns.jwks = Some(jwks.clone());
            }
            Credential::PublicKeys(PublicKeySource::Published(uri)) => {
                columns.jwks_uri = Some(uri.clone());
            }
        }
        columns
    }
}

impl TryFrom<CredentialColumns> for Credential {
    type Error = String;

    fn try_from(c: CredentialColumns) -> Result<Self, String> {
        let method = AuthMethod::parse(&c.method)
            .ok_or_else(|| format!("token_endpoint_auth_method {:?}", c.method))?;
        if method.by_assertion() {
            return match (c.jwks, c.jwks_uri) {
                (Some(jwks), None) => Ok(Credential::PublicKeys(PublicKeySource::Held(jwks))),
                (None, Some(uri)) => Ok(Credential::PublicKeys(PublicKeySource::Published(uri))),
                _ => Err("a private_key_jwt key needs exactly one of jwks and jwks_uri".into()),
            };
        }
        let current = (c.secret_hash != NO_SECRET_HASH).then_some(StoredSecret {
            hash: c.secret_hash,
            masked: c.masked_secret,
            imported: c.imported,
            lookup: c.secret_lookup,
        });
        let previous = match (c.previous_secret_hash, c.previous_expires_at) {
            (Some(hash), Some(expires_at)) => {
                Some(PreviousSecret { hash, lookup: c.previous_secret_lookup, expires_at })
            }
            _ => None,
        };
        Ok(Credential::Secret { method, current, previous })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_survives_its_columns() {
        let secret = StoredSecret {
            hash: "sha256:ab".into(),
            masked: "km_live_...abcd".into(),
            imported: true,
            lookup: Some("l1".into()),
        };
        let cases = [
            Credential::secret(secret.clone()),
            Credential::Secret {
                method: AuthMethod::ClientSecretPost,
                current: Some(secret),
                previous: Some(PreviousSecret {
                    hash: "sha256:cd".into(),
                    lookup: None,
                    expires_at: 99,
                }),
            },
            Credential::Secret {
                method: AuthMethod::ClientSecretBasic,
                current: None,
                previous: None,
            },
            Credential::PublicKeys(PublicKeySource::Held("{\"keys\":[]}".into())),
            Credential::PublicKeys(PublicKeySource::Published("https://c.example/jwks".into())),
        ];
        for credential in cases {
            let columns = CredentialColumns::from(&credential);
            assert_eq!(Credential::try_from(columns).unwrap(), credential);
        }
    }

    #[test]
    fn columns_that_say_two_things_are_refused() {
        let both = CredentialColumns {
            method: "private_key_jwt".into(),
            jwks: Some("{}".into()),
            jwks_uri: Some("https://c.example/jwks".into()),
            ..Default::default()
        };
        assert!(Credential::try_from(both).is_err());
        let unknown = CredentialColumns { method: "none".into(), ..Default::default() };
        assert!(Credential::try_from(unknown).is_err());
    }

    #[test]
    fn grace_is_the_previous_secret_before_it_expires() {
        let credential = Credential::Secret {
            method: AuthMethod::ClientSecretBasic,
            current: None,
            previous: Some(PreviousSecret { hash: "h".into(), lookup: None, expires_at: 10 }),
        };
        assert!(credential.in_grace(9).is_some());
        assert!(credential.in_grace(10).is_none());
        assert!(credential.awaits_secret());
    }
}

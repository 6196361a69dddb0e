//! How a key authenticates (`token_endpoint_auth_method`, RFC 7591 names): with
//! its secret (`client_secret_basic` and `client_secret_post`, both accepted), or
//! with an assertion signed by one of its public keys (`private_key_jwt`), in
//! which case it has no secret. A key switches either way by an edit; rotating
//! its public keys is an edit of `jwks`, and needs no secret.

use serde_json::{json, Value};

use super::jwks::PublicKeys;
use super::validate::{invalid, FieldError};
use crate::store::{AuthMethod, Credential, KeyRecord, PublicKeySource};

/// Every method's name, as discovery lists them.
pub fn methods() -> Vec<&'static str> {
    AuthMethod::ALL.iter().map(|m| m.as_str()).collect()
}

/// A checked way for a key to authenticate, for a new key or an edit: a secret
/// method, or the public keys (held or published) that verify its assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    Secret(AuthMethod),
    PublicKeys(PublicKeySource),
}

impl ClientAuth {
    /// Whether the key authenticates by assertion.
    pub fn by_assertion(&self) -> bool {
        matches!(self, ClientAuth::PublicKeys(_))
    }

    /// Checks the method and public keys of a new key (`importing`: a secret is
    /// given). With no method, a key with public keys uses them.
    pub fn new_key(
        method: Option<&str>,
        jwks: Option<&Value>,
        jwks_uri: Option<&str>,
        importing: bool,
        allow_private: bool,
    ) -> Result<Self, FieldError> {
        let method = match method {
            Some(m) => known(m)?,
            None if jwks.is_some() || jwks_uri.is_some() => AuthMethod::PrivateKeyJwt,
            None => AuthMethod::ClientSecretBasic,
        };
        let auth = checked(method, checked_jwks(jwks)?, checked_uri(jwks_uri, allow_private)?)?;
        if auth.by_assertion() && importing {
            return Err(invalid("secret", "a private_key_jwt key has no secret; give jwks"));
        }
        Ok(auth)
    }

    /// The method and keys `key` would have after an edit that gives any of
    /// `method`, `jwks` and `jwks_uri`; `None` when the edit names none. New
    /// public keys replace the old, held or published.
    pub fn edit(
        key: &KeyRecord,
        method: Option<&str>,
        jwks: Option<&Value>,
        jwks_uri: Option<&str>,
        allow_private: bool,
    ) -> Result<Option<Self>, FieldError> {
        if method.is_none() && jwks.is_none() && jwks_uri.is_none() {
            return Ok(None);
        }
        let method = method.map(known).transpose()?.unwrap_or(key.credential.method());
        let auth = match (jwks, jwks_uri, key.credential.public_keys()) {
            // The same public keys under the same method.
            (None, None, Some(kept)) if method.by_assertion() => {
                ClientAuth::PublicKeys(kept.clone())
            }
            // Back to a secret, the public keys go with the method.
            (jwks, uri, _) => {
                checked(method, checked_jwks(jwks)?, checked_uri(uri, allow_private)?)?
            }
        };
        Ok(Some(auth))
    }

    /// Applies an edit to `key`: what changed (`{field: {from, to}}` entries).
    /// Moving to assertions drops the secret (and any grace of a previous one);
    /// moving back leaves the key without a secret until it is rotated.
    pub fn apply(self, key: &mut KeyRecord) -> Vec<(&'static str, Value)> {
        let mut changes = Vec::new();
        let before = key.credential.public_keys().cloned();
        let after = match &self {
            ClientAuth::PublicKeys(source) => Some(source.clone()),
            ClientAuth::Secret(_) => None,
        };
        let (from, to) = (key.credential.method(), self.method());
        if from != to {
            changes.push((
                "token_endpoint_auth_method",
                json!({"from": from.as_str(), "to": to.as_str()}),
            ));
        }
        let uri = |s: &Option<PublicKeySource>| match s {
            Some(PublicKeySource::Published(uri)) => Some(uri.clone()),
            _ => None,
        };
        if uri(&before) != uri(&after) {
            changes.push(("jwks_uri", json!({"from": uri(&before), "to": uri(&after)})));
        }
        let held = |s: &Option<PublicKeySource>| match s {
            Some(PublicKeySource::Held(jwks)) => PublicKeys::from_stored(jwks).map(|k| k.to_json()),
            _ => None,
        };
        if held(&before) != held(&after) {
            changes.push(("jwks", json!({"from": held(&before), "to": held(&after)})));
        }
        key.credential = match (self, &key.credential) {
            (ClientAuth::PublicKeys(source), _) => Credential::PublicKeys(source),
            (ClientAuth::Secret(method), Credential::Secret { current, previous, .. }) => {
                Credential::Secret { method, current: current.clone(), previous: previous.clone() }
            }
            (ClientAuth::Secret(method), Credential::PublicKeys(_)) => {
                Credential::Secret { method, current: None, previous: None }
            }
        };
        changes
    }

    /// Where the client publishes its public keys, when it does.
    pub fn jwks_uri(&self) -> Option<&str> {
        match self {
            ClientAuth::PublicKeys(PublicKeySource::Published(uri)) => Some(uri),
            _ => None,
        }
    }

    /// The method this names.
    pub fn method(&self) -> AuthMethod {
        match self {
            ClientAuth::Secret(method) => *method,
            ClientAuth::PublicKeys(_) => AuthMethod::PrivateKeyJwt,
        }
    }
}

/// The one consistent reading of a method with its (checked) public keys.
fn checked(
    method: AuthMethod,
    jwks: Option<String>,
    jwks_uri: Option<String>,
) -> Result<ClientAuth, FieldError> {
    match (method.by_assertion(), jwks, jwks_uri) {
        (_, Some(_), Some(_)) => Err(invalid("jwks_uri", "give jwks or jwks_uri, not both")),
        (true, Some(jwks), None) => Ok(ClientAuth::PublicKeys(PublicKeySource::Held(jwks))),
        (true, None, Some(uri)) => Ok(ClientAuth::PublicKeys(PublicKeySource::Published(uri))),
        (true, None, None) => {
            Err(invalid("jwks", "is required for private_key_jwt (or give jwks_uri)"))
        }
        (false, jwks, uri) if jwks.is_some() || uri.is_some() => Err(invalid(
            if jwks.is_some() { "jwks" } else { "jwks_uri" },
            "only a private_key_jwt key carries public keys; set token_endpoint_auth_method",
        )),
        (false, _, _) => Ok(ClientAuth::Secret(method)),
    }
}

fn known(method: &str) -> Result<AuthMethod, FieldError> {
    AuthMethod::parse(method).ok_or_else(|| {
        invalid("token_endpoint_auth_method", format!("must be one of {}", methods().join(", ")))
    })
}

fn checked_uri(uri: Option<&str>, allow_private: bool) -> Result<Option<String>, FieldError> {
    uri.map(|uri| {
        super::jwks_uri::check_uri(uri, allow_private)
            .map(|()| uri.to_string())
            .map_err(|why| invalid("jwks_uri", why))
    })
    .transpose()
}

fn checked_jwks(jwks: Option<&Value>) -> Result<Option<String>, FieldError> {
    jwks.map(|set| {
        PublicKeys::parse(set, "jwks")
            .map(|keys| keys.to_json().to_string())
            .map_err(|e| invalid(e.field, e.message))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwks() -> Value {
        json!({"keys": [{"kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})
    }

    #[test]
    fn a_new_key_with_public_keys_authenticates_by_assertion() {
        let auth = ClientAuth::new_key(None, Some(&jwks()), None, false, false).unwrap();
        assert_eq!(auth.method(), AuthMethod::PrivateKeyJwt);
        assert_eq!(
            ClientAuth::new_key(None, None, None, false, false).unwrap(),
            ClientAuth::Secret(AuthMethod::ClientSecretBasic)
        );
        let field = |r: Result<ClientAuth, FieldError>| r.unwrap_err().field;
        assert_eq!(
            field(ClientAuth::new_key(Some("private_key_jwt"), None, None, false, false)),
            "jwks"
        );
        assert_eq!(
            field(ClientAuth::new_key(Some("none"), None, None, false, false)),
            "token_endpoint_auth_method"
        );
        assert_eq!(field(ClientAuth::new_key(None, Some(&jwks()), None, true, false)), "secret");
        assert_eq!(
            field(ClientAuth::new_key(
                Some("client_secret_post"),
                Some(&jwks()),
                None,
                false,
                false
            )),
            "jwks"
        );
        let uri = Some("https://client.example.com/jwks.json");
        let published = ClientAuth::new_key(None, None, uri, false, false).unwrap();
        assert_eq!(
            published,
            ClientAuth::PublicKeys(PublicKeySource::Published(
                "https://client.example.com/jwks.json".into()
            ))
        );
        assert_eq!(field(ClientAuth::new_key(None, Some(&jwks()), uri, false, false)), "jwks_uri");
        let loopback = Some("https://127.0.0.1/jwks.json");
        assert_eq!(field(ClientAuth::new_key(None, None, loopback, false, false)), "jwks_uri");
        assert!(ClientAuth::new_key(None, None, loopback, false, true).is_ok(), "when allowed");
    }

    #[test]
    fn switching_to_assertions_drops_the_secret_and_back_warns_until_a_rotation() {
        use crate::store::{PreviousSecret, StoredSecret};
        let mut key = crate::store::fixtures::key(&[], &[], None);
        key.credential = Credential::Secret {
            method: AuthMethod::ClientSecretBasic,
            current: Some(StoredSecret {
                hash: "sha256:00".into(),
                masked: "km_...0000".into(),
                imported: false,
                lookup: None,
            }),
            previous: Some(PreviousSecret {
                hash: "sha256:11".into(),
                lookup: None,
                expires_at: 100,
            }),
        };
        let to_jwt = ClientAuth::edit(&key, Some("private_key_jwt"), Some(&jwks()), None, false)
            .unwrap()
            .unwrap();
        assert_eq!(to_jwt.apply(&mut key).len(), 2, "method and keys");
        assert_eq!((key.credential.current(), key.credential.previous()), (None, None));
        assert!(!key.credential.awaits_secret());
        assert_eq!(ClientAuth::edit(&key, None, None, None, false).unwrap(), None, "nothing named");
        let back = ClientAuth::edit(&key, Some("client_secret_basic"), None, None, false)
            .unwrap()
            .unwrap();
        back.apply(&mut key);
        assert_eq!(key.credential.public_keys(), None, "the public keys go with the method");
        assert!(key.credential.awaits_secret(), "no way in until a rotation");
    }
}

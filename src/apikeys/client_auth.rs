//! How a key authenticates (`token_endpoint_auth_method`, RFC 7591 names): with
//! its secret (`client_secret_basic` and `client_secret_post`, both accepted), or
//! with an assertion signed by one of its public keys (`private_key_jwt`), in
//! which case it has no secret. A key switches either way by an edit; rotating
//! its public keys is an edit of `jwks`, and needs no secret.

use serde_json::{json, Value};

use super::hashing::NO_SECRET;
use super::jwks::PublicKeys;
use super::validate::{invalid, FieldError};
use crate::store::KeyRecord;

pub const CLIENT_SECRET_BASIC: &str = "client_secret_basic";
pub const CLIENT_SECRET_POST: &str = "client_secret_post";
pub const PRIVATE_KEY_JWT: &str = "private_key_jwt";

/// Every method, as discovery lists them.
pub const METHODS: [&str; 3] = [CLIENT_SECRET_BASIC, CLIENT_SECRET_POST, PRIVATE_KEY_JWT];

/// A checked method with its public keys (stored JSON) or where the client
/// publishes them, for a new key or an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    pub method: String,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
}

impl ClientAuth {
    /// Whether the key authenticates by assertion.
    pub fn by_assertion(&self) -> bool {
        self.method == PRIVATE_KEY_JWT
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
            None if jwks.is_some() || jwks_uri.is_some() => PRIVATE_KEY_JWT,
            None => CLIENT_SECRET_BASIC,
        };
        let auth = ClientAuth {
            method: method.into(),
            jwks: checked(jwks)?,
            jwks_uri: checked_uri(jwks_uri, allow_private)?,
        };
        if auth.by_assertion() && importing {
            return Err(invalid("secret", "a private_key_jwt key has no secret; give jwks"));
        }
        auth.consistent()?;
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
        let method = method.map(known).transpose()?.unwrap_or(key.auth_method.as_str());
        let by_assertion = method == PRIVATE_KEY_JWT;
        let (jwks, jwks_uri) = match (jwks, jwks_uri) {
            (None, None) if by_assertion => (key.jwks.clone(), key.jwks_uri.clone()),
            // Back to a secret: the public keys go with the method.
            (None, None) => (None, None),
            (jwks, uri) => (checked(jwks)?, checked_uri(uri, allow_private)?),
        };
        let auth = ClientAuth { method: method.into(), jwks, jwks_uri };
        auth.consistent()?;
        Ok(Some(auth))
    }

    fn consistent(&self) -> Result<(), FieldError> {
        match (self.by_assertion(), &self.jwks, &self.jwks_uri) {
            (_, Some(_), Some(_)) => Err(invalid("jwks_uri", "give jwks or jwks_uri, not both")),
            (true, None, None) => {
                Err(invalid("jwks", "is required for private_key_jwt (or give jwks_uri)"))
            }
            (false, Some(_), _) | (false, _, Some(_)) => Err(invalid(
                if self.jwks.is_some() { "jwks" } else { "jwks_uri" },
                "only a private_key_jwt key carries public keys; set token_endpoint_auth_method",
            )),
            _ => Ok(()),
        }
    }

    /// Applies an edit to `key`: what changed (`{field: {from, to}}` entries).
    /// Moving to assertions drops the secret (and any grace of a previous one).
    pub fn apply(self, key: &mut KeyRecord) -> Vec<(&'static str, Value)> {
        let mut changes = Vec::new();
        if key.auth_method != self.method {
            changes.push((
                "token_endpoint_auth_method",
                json!({"from": key.auth_method, "to": self.method}),
            ));
        }
        if key.jwks_uri != self.jwks_uri {
            changes.push(("jwks_uri", json!({"from": key.jwks_uri, "to": self.jwks_uri})));
        }
        if key.jwks != self.jwks {
            let shown = |j: &Option<String>| {
                j.as_deref().and_then(PublicKeys::from_stored).map(|k| k.to_json())
            };
            changes.push(("jwks", json!({"from": shown(&key.jwks), "to": shown(&self.jwks)})));
        }
        let to_assertion = self.by_assertion() && key.auth_method != PRIVATE_KEY_JWT;
        key.auth_method = self.method;
        key.jwks = self.jwks;
        key.jwks_uri = self.jwks_uri;
        if to_assertion {
            key.secret_hash = NO_SECRET.into();
            key.masked_secret = String::new();
            key.imported = false;
            key.secret_lookup = None;
            key.previous_secret_hash = None;
            key.previous_secret_lookup = None;
            key.previous_expires_at = None;
        }
        changes
    }
}

/// Whether `key` has no way in yet: a secret method, but no secret (it left
/// `private_key_jwt` and was not rotated since).
pub fn awaits_secret(key: &KeyRecord) -> bool {
    key.auth_method != PRIVATE_KEY_JWT && key.secret_hash == NO_SECRET
}

fn known(method: &str) -> Result<&'static str, FieldError> {
    METHODS.iter().copied().find(|m| *m == method).ok_or_else(|| {
        invalid("token_endpoint_auth_method", format!("must be one of {}", METHODS.join(", ")))
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

fn checked(jwks: Option<&Value>) -> Result<Option<String>, FieldError> {
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
        assert_eq!(auth.method, PRIVATE_KEY_JWT);
        assert_eq!(
            ClientAuth::new_key(None, None, None, false, false).unwrap().method,
            CLIENT_SECRET_BASIC
        );
        let field = |r: Result<ClientAuth, FieldError>| r.unwrap_err().field;
        assert_eq!(
            field(ClientAuth::new_key(Some(PRIVATE_KEY_JWT), None, None, false, false)),
            "jwks"
        );
        assert_eq!(
            field(ClientAuth::new_key(Some("none"), None, None, false, false)),
            "token_endpoint_auth_method"
        );
        assert_eq!(field(ClientAuth::new_key(None, Some(&jwks()), None, true, false)), "secret");
        assert_eq!(
            field(ClientAuth::new_key(Some(CLIENT_SECRET_POST), Some(&jwks()), None, false, false)),
            "jwks"
        );
        let uri = Some("https://client.example.com/jwks.json");
        let published = ClientAuth::new_key(None, None, uri, false, false).unwrap();
        assert_eq!(
            (published.method.as_str(), published.jwks_uri.as_deref()),
            (PRIVATE_KEY_JWT, uri)
        );
        assert_eq!(field(ClientAuth::new_key(None, Some(&jwks()), uri, false, false)), "jwks_uri");
        let loopback = Some("https://127.0.0.1/jwks.json");
        assert_eq!(field(ClientAuth::new_key(None, None, loopback, false, false)), "jwks_uri");
        assert!(ClientAuth::new_key(None, None, loopback, false, true).is_ok(), "when allowed");
    }

    #[test]
    fn switching_to_assertions_drops_the_secret_and_back_warns_until_a_rotation() {
        let mut key = crate::store::fixtures::key(&[], &[], None);
        key.secret_hash = "sha256:00".into();
        key.previous_secret_hash = Some("sha256:11".into());
        key.previous_expires_at = Some(100);
        let to_jwt = ClientAuth::edit(&key, Some(PRIVATE_KEY_JWT), Some(&jwks()), None, false)
            .unwrap()
            .unwrap();
        assert_eq!(to_jwt.apply(&mut key).len(), 2, "method and keys");
        assert_eq!((key.secret_hash.as_str(), key.previous_secret_hash.clone()), (NO_SECRET, None));
        assert!(!awaits_secret(&key));
        assert_eq!(ClientAuth::edit(&key, None, None, None, false).unwrap(), None, "nothing named");
        let back =
            ClientAuth::edit(&key, Some(CLIENT_SECRET_BASIC), None, None, false).unwrap().unwrap();
        back.apply(&mut key);
        assert_eq!(key.jwks, None, "the public keys go with the method");
        assert!(awaits_secret(&key), "no way in until a rotation");
    }
}

//! The claims of a token a [`Verifier`](crate::verifier::Verifier) accepted, and
//! the scope check a request needs.

use serde::Deserialize;

use crate::error::Error;
use crate::scope::{any_covers, Scope};

/// The claims of a verified keymint access token (or, through introspection, of
/// an active raw API key).
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The key (client) the token was issued to.
    pub sub: String,
    /// The same key's id.
    pub client_id: String,
    /// When the token expires (unix seconds); 0 for a raw key that never does.
    #[serde(default)]
    pub exp: i64,
    /// When the token was issued (unix seconds); 0 for a raw key.
    #[serde(default)]
    pub iat: i64,
    /// The token's id; empty for a raw key.
    #[serde(default)]
    pub jti: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The key's workspace.
    #[serde(default)]
    pub workspace_id: String,
    /// The key's environment (`production`, `staging`, ...).
    #[serde(default)]
    pub environment: String,
    /// `cnf.jkt`: the thumbprint of the key a DPoP-bound token is bound to.
    #[serde(default)]
    pub cnf: Option<Confirmation>,
    /// Whether this was a raw API key, checked by introspection, rather than a
    /// token.
    #[serde(skip)]
    pub raw_key: bool,
    /// Every other claim, as keymint sent it.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// `cnf` (RFC 7800).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    /// The JWK SHA-256 thumbprint (RFC 7638) of the DPoP key.
    pub jkt: String,
}

impl Claims {
    /// The granted scopes, parsed (a scope keymint would not issue is left out).
    pub fn scopes(&self) -> Vec<Scope> {
        self.scope.split(' ').filter_map(|s| Scope::parse(s).ok()).collect()
    }

    /// Accepts when a granted scope covers `needed` (keymint's own rule,
    /// [`Scope::covers`]); else [`Error::InsufficientScope`] naming it.
    ///
    /// ```
    /// # fn check(claims: keymint_verify::claims::Claims, id: u64) -> Result<(), keymint_verify::error::Error> {
    /// claims.require(&format!("read:agents/{id}"))?;
    /// # Ok(()) }
    /// ```
    pub fn require(&self, needed: &str) -> Result<(), Error> {
        let wanted = Scope::parse(needed)
            .map_err(|e| Error::InsufficientScope(format!("{needed} (not a scope: {e})")))?;
        if any_covers(&self.scopes(), &wanted) {
            Ok(())
        } else {
            Err(Error::InsufficientScope(needed.to_string()))
        }
    }
}

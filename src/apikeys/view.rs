//! The public shape of an API key (field names fixed by the product; see docs/api.md).
//! It never holds the secret or its hash: only the masked display form.

use serde::Serialize;

use crate::clock::rfc3339;
use crate::store::{KeyRecord, KeyStatus, PublicKeySource};

/// The status shown for a key: the stored one, or `Expired` once `expires_at` has passed.
pub fn key_status(key: &KeyRecord, now: i64) -> KeyStatus {
    match key.expires_at {
        Some(at) if key.status == KeyStatus::Active && at <= now => KeyStatus::Expired,
        _ => key.status,
    }
}

/// An API key as the API and the CLI show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: String,
    pub environment: String,
    #[serde(rename = "type")]
    pub key_type: String,
    pub scopes: Vec<String>,
    pub allowed_cidrs: Vec<String>,
    pub audiences: Vec<String>,
    pub expires_at: Option<String>,
    pub status: KeyStatus,
    /// The secret's display form; empty for a key without one (`private_key_jwt`).
    pub masked_secret: String,
    pub imported: bool,
    /// How the key authenticates: `client_secret_basic` (or `client_secret_post`;
    /// both work for a key with a secret) or `private_key_jwt`.
    pub token_endpoint_auth_method: String,
    /// The public keys that verify its assertions (a JWK Set), for `private_key_jwt`.
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Or where the client publishes them (`private_key_jwt`).
    pub jwks_uri: Option<String>,
    /// Every token of the key must be DPoP-bound (RFC 9449).
    pub dpop_bound_access_tokens: bool,
    /// Copied into every token the key gets.
    #[schema(value_type = Object)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The customer or team the key belongs to (an external id).
    pub owner: Option<String>,
    /// Platform tokens that may act as the key with no secret.
    pub federated_credentials: Vec<crate::vocab::FederatedCredential>,
    pub created_at: String,
    pub created_by: Option<String>,
    pub updated_at: String,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub rotated_at: Option<String>,
    /// End of the grace period during which the pre-rotation secret still works.
    pub previous_secret_expires_at: Option<String>,
    /// Last use of the pre-rotation secret during that grace period.
    pub previous_secret_last_used_at: Option<String>,
    /// Uses of the pre-rotation secret during that grace period.
    pub previous_secret_use_count: i64,
    /// Client address of its last use.
    pub previous_secret_last_used_ip: Option<String>,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

impl KeyView {
    pub fn new(key: &KeyRecord, now: i64) -> Self {
        KeyView {
            id: key.id.clone(),
            workspace_id: key.workspace_id.clone(),
            name: key.name.clone(),
            description: key.description.clone(),
            environment: key.environment.clone(),
            key_type: key.key_type.clone(),
            scopes: crate::vocab::scope::Scope::texts(&key.scopes),
            allowed_cidrs: key.allowed_cidrs.clone(),
            audiences: key.audiences.clone(),
            expires_at: key.expires_at.map(rfc3339),
            status: key_status(key, now),
            masked_secret: key.credential.masked().to_string(),
            imported: key.credential.imported(),
            token_endpoint_auth_method: key.credential.method().as_str().to_string(),
            jwks: match key.credential.public_keys() {
                Some(PublicKeySource::Held(jwks)) => {
                    super::jwks::PublicKeys::from_stored(jwks).map(|k| k.to_json())
                }
                _ => None,
            },
            jwks_uri: match key.credential.public_keys() {
                Some(PublicKeySource::Published(uri)) => Some(uri.clone()),
                _ => None,
            },
            dpop_bound_access_tokens: key.dpop_bound,
            claims: key.claims.clone(),
            owner: key.owner.clone(),
            federated_credentials: key.federated.clone(),
            created_at: rfc3339(key.created_at),
            created_by: key.created_by.clone(),
            updated_at: rfc3339(key.updated_at),
            last_used_at: key.last_used_at.map(rfc3339),
            last_used_ip: key.last_used_ip.clone(),
            rotated_at: key.rotated_at.map(rfc3339),
            previous_secret_expires_at: key.credential.previous().map(|p| rfc3339(p.expires_at)),
            previous_secret_last_used_at: key.previous_use.as_ref().map(|u| rfc3339(u.at)),
            previous_secret_use_count: key.previous_use.as_ref().map_or(0, |u| u.count),
            previous_secret_last_used_ip: key.previous_use.as_ref().and_then(|u| u.ip.clone()),
            revoked_at: key.revoked_at.map(rfc3339),
            revoked_by: key.revoked_by.clone(),
        }
    }
}

impl KeyView {
    /// One line per public key (`private_key_jwt`): its `kid` when it has one,
    /// its type and curve, e.g. `client-key-1 (EC P-256)`.
    pub fn public_key_lines(&self) -> Vec<String> {
        let keys = self.jwks.as_ref().and_then(|set| set.get("keys")).and_then(|k| k.as_array());
        keys.into_iter()
            .flatten()
            .map(|k| {
                let member = |m: &str| k.get(m).and_then(|v| v.as_str()).unwrap_or_default();
                let kind = [member("kty"), member("crv")].join(" ");
                match member("kid") {
                    "" => format!("no kid ({})", kind.trim()),
                    kid => format!("{kid} ({})", kind.trim()),
                }
            })
            .collect()
    }
}

/// How far ahead of its expiry a key is shown as "expires soon": 7 days.
pub const EXPIRES_SOON_SECONDS: i64 = 7 * 86_400;

impl KeyView {
    /// Labels for people: the status, then `expires soon` (an active key within
    /// `EXPIRES_SOON_SECONDS` of its expiry) and `in grace` (the pre-rotation
    /// secret still works) where they apply.
    pub fn badges(&self, now: i64) -> Vec<&'static str> {
        let at = |s: &Option<String>| s.as_deref().and_then(crate::clock::parse_rfc3339);
        let mut badges = vec![self.status.as_str()];
        if self.status == KeyStatus::Active
            && at(&self.expires_at).is_some_and(|t| t - now <= EXPIRES_SOON_SECONDS)
        {
            badges.push("expires soon");
        }
        if self.in_grace(now) {
            badges.push("in grace");
        }
        badges
    }

    /// Whether the pre-rotation secret still works at `now` (its grace period).
    pub fn in_grace(&self, now: i64) -> bool {
        self.previous_secret_expires_at
            .as_deref()
            .and_then(crate::clock::parse_rfc3339)
            .is_some_and(|t| t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_add_expires_soon_and_in_grace_where_they_apply() {
        let mut key = crate::store::fixtures::key(&[], &[], Some(100 + EXPIRES_SOON_SECONDS));
        key.credential = crate::store::Credential::Secret {
            method: crate::store::AuthMethod::ClientSecretBasic,
            current: None,
            previous: Some(crate::store::PreviousSecret {
                hash: "h".into(),
                lookup: None,
                expires_at: 200,
            }),
        };
        let view = KeyView::new(&key, 100);
        assert_eq!(view.badges(100), ["active", "expires soon", "in grace"]);
        assert_eq!(view.badges(99), ["active", "in grace"], "8 days ahead is not soon");
        assert_eq!(view.badges(250)[1..], ["expires soon"], "the grace is over");
        key.status = KeyStatus::Inactive;
        assert_eq!(KeyView::new(&key, 300).badges(300), ["inactive"]);
    }
}

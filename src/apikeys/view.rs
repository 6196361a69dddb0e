//! The public shape of an API key (field names fixed by the product; see docs/api.md).
//! It never holds the secret or its hash: only the masked display form.

use serde::Serialize;

use crate::clock::rfc3339;
use crate::store::{KeyRecord, KeyStatus};

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
    pub masked_secret: String,
    pub imported: bool,
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
            scopes: key.scopes.clone(),
            allowed_cidrs: key.allowed_cidrs.clone(),
            audiences: key.audiences.clone(),
            expires_at: key.expires_at.map(rfc3339),
            status: key_status(key, now),
            masked_secret: key.masked_secret.clone(),
            imported: key.imported,
            created_at: rfc3339(key.created_at),
            created_by: key.created_by.clone(),
            updated_at: rfc3339(key.updated_at),
            last_used_at: key.last_used_at.map(rfc3339),
            last_used_ip: key.last_used_ip.clone(),
            rotated_at: key.rotated_at.map(rfc3339),
            previous_secret_expires_at: key.previous_expires_at.map(rfc3339),
            previous_secret_last_used_at: key.previous_last_used_at.map(rfc3339),
            revoked_at: key.revoked_at.map(rfc3339),
            revoked_by: key.revoked_by.clone(),
        }
    }
}

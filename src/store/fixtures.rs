//! Records for unit tests.

use super::{KeyRecord, KeyStatus};

/// An active key `k1` in `ws_1` with `scopes` and `audiences`, expiring at
/// `expires_at`, authenticating with a secret.
pub(crate) fn key(scopes: &[&str], audiences: &[&str], expires_at: Option<i64>) -> KeyRecord {
    KeyRecord {
        id: "k1".into(),
        workspace_id: "ws_1".into(),
        name: "n".into(),
        description: String::new(),
        environment: "production".into(),
        key_type: "access".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        allowed_cidrs: vec![],
        audiences: audiences.iter().map(|s| s.to_string()).collect(),
        expires_at,
        status: KeyStatus::Active,
        secret_hash: String::new(),
        masked_secret: String::new(),
        imported: false,
        secret_lookup: None,
        previous_secret_hash: None,
        previous_secret_lookup: None,
        auth_method: "client_secret_basic".into(),
        jwks: None,
        dpop_bound: false,
        jwks_uri: None,
        previous_expires_at: None,
        previous_last_used_at: None,
        previous_use_count: 0,
        previous_last_used_ip: None,
        created_at: 0,
        created_by: None,
        updated_at: 0,
        last_used_at: None,
        last_used_ip: None,
        rotated_at: None,
        revoked_at: None,
        revoked_by: None,
        version: 1,
    }
}

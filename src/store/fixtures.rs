//! Records for unit tests.

use crate::vocab::scope::Scope;

use super::{Credential, KeyRecord, KeyStatus, StoredSecret};

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
        scopes: scopes.iter().map(|s| Scope::parse(s).expect("a valid scope")).collect(),
        allowed_cidrs: vec![],
        audiences: audiences.iter().map(|s| s.to_string()).collect(),
        expires_at,
        status: KeyStatus::Active,
        credential: Credential::secret(StoredSecret {
            hash: String::new(),
            masked: String::new(),
            imported: false,
            lookup: None,
        }),
        dpop_bound: false,
        claims: serde_json::Map::new(),
        owner: None,
        federated: Vec::new(),
        previous_use: None,
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

//! The rows both backends read, and their conversion into the store's records;
//! the queries themselves are in `queries.rs`.

use sqlx::FromRow;

use crate::vocab::Tally;

use super::{AuditEntry, KeyRecord, SigningKeyRecord, StoreError, UsageRow, WorkspaceRecord};

pub(super) const KEY_COLUMNS: &str = "id, workspace_id, name, description, environment, key_type, \
    scopes, allowed_cidrs, audiences, expires_at, status, secret_hash, masked_secret, imported, \
    previous_secret_hash, previous_expires_at, previous_last_used_at, previous_use_count, \
    previous_last_used_ip, created_at, created_by, \
    updated_at, last_used_at, last_used_ip, rotated_at, revoked_at, revoked_by, version, \
    secret_lookup, previous_secret_lookup, token_endpoint_auth_method, jwks, \
    dpop_bound_access_tokens, jwks_uri";

#[derive(FromRow)]
pub(super) struct KeyRow {
    id: String,
    workspace_id: String,
    name: String,
    description: String,
    environment: String,
    key_type: String,
    scopes: String,
    allowed_cidrs: String,
    audiences: String,
    expires_at: Option<i64>,
    status: String,
    secret_hash: String,
    masked_secret: String,
    imported: i64,
    previous_secret_hash: Option<String>,
    previous_expires_at: Option<i64>,
    previous_last_used_at: Option<i64>,
    previous_use_count: i64,
    previous_last_used_ip: Option<String>,
    created_at: i64,
    created_by: Option<String>,
    updated_at: i64,
    last_used_at: Option<i64>,
    last_used_ip: Option<String>,
    rotated_at: Option<i64>,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
    version: i64,
    secret_lookup: Option<String>,
    previous_secret_lookup: Option<String>,
    token_endpoint_auth_method: String,
    jwks: Option<String>,
    dpop_bound_access_tokens: i64,
    jwks_uri: Option<String>,
}

/// A key row with the change feed position of the statement that read it.
#[derive(FromRow)]
pub(super) struct SeenKeyRow {
    #[sqlx(flatten)]
    pub(super) key: KeyRow,
    pub(super) seen: i64,
}

/// A store error, with a unique violation named by `what` (the one rule that a
/// write can break in several places: names of workspaces and of keys).
pub(super) fn unique_violation(e: sqlx::Error, what: &'static str) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(what),
        other => other,
    }
}

fn json_list(column: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub(super) fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = StoreError;

    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        Ok(KeyRecord {
            scopes: json_list("scopes", &r.scopes)?,
            allowed_cidrs: json_list("allowed_cidrs", &r.allowed_cidrs)?,
            audiences: json_list("audiences", &r.audiences)?,
            id: r.id,
            workspace_id: r.workspace_id,
            name: r.name,
            description: r.description,
            environment: r.environment,
            key_type: r.key_type,
            expires_at: r.expires_at,
            status: super::KeyStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("key status {:?}", r.status)))?,
            secret_hash: r.secret_hash,
            masked_secret: r.masked_secret,
            imported: r.imported != 0,
            previous_secret_hash: r.previous_secret_hash,
            previous_expires_at: r.previous_expires_at,
            previous_last_used_at: r.previous_last_used_at,
            previous_use_count: r.previous_use_count,
            previous_last_used_ip: r.previous_last_used_ip,
            created_at: r.created_at,
            created_by: r.created_by,
            updated_at: r.updated_at,
            last_used_at: r.last_used_at,
            last_used_ip: r.last_used_ip,
            rotated_at: r.rotated_at,
            revoked_at: r.revoked_at,
            revoked_by: r.revoked_by,
            version: r.version,
            secret_lookup: r.secret_lookup,
            previous_secret_lookup: r.previous_secret_lookup,
            auth_method: r.token_endpoint_auth_method,
            jwks: r.jwks,
            dpop_bound: r.dpop_bound_access_tokens != 0,
            jwks_uri: r.jwks_uri,
        })
    }
}

#[derive(FromRow)]
pub(super) struct WorkspaceRow {
    id: String,
    name: String,
    created_at: i64,
}

impl From<WorkspaceRow> for WorkspaceRecord {
    fn from(r: WorkspaceRow) -> Self {
        WorkspaceRecord { id: r.id, name: r.name, created_at: r.created_at }
    }
}

#[derive(FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at_us: i64,
    actor: String,
    actor_ip: Option<String>,
    workspace_id: Option<String>,
    action: String,
    target_type: String,
    target_id: String,
    details: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            details: serde_json::from_str(&r.details)
                .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
            id: r.id,
            at_us: r.at_us,
            actor: r.actor,
            actor_ip: r.actor_ip,
            workspace_id: r.workspace_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
        })
    }
}

#[derive(FromRow)]
pub(super) struct SigningKeyRow {
    kid: String,
    alg: String,
    state: String,
    public_jwk: String,
    sealed_private: Vec<u8>,
    master_key_id: String,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
}

impl TryFrom<SigningKeyRow> for SigningKeyRecord {
    type Error = StoreError;

    fn try_from(r: SigningKeyRow) -> Result<Self, StoreError> {
        Ok(SigningKeyRecord {
            state: super::SigningKeyState::parse(&r.state)
                .ok_or_else(|| StoreError::Corrupt(format!("signing key state {:?}", r.state)))?,
            kid: r.kid,
            alg: r.alg,
            public_jwk: r.public_jwk,
            sealed_private: r.sealed_private,
            master_key_id: r.master_key_id,
            created_at: r.created_at,
            activated_at: r.activated_at,
            retired_at: r.retired_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct UsageDbRow {
    key_id: String,
    workspace_id: String,
    start: i64,
    issued: i64,
    failed: i64,
    wrong_secret: i64,
    address_not_allowed: i64,
    scope_refused: i64,
    key_inactive: i64,
    throttled: i64,
    verified: i64,
}

impl From<UsageDbRow> for UsageRow {
    fn from(r: UsageDbRow) -> Self {
        UsageRow {
            key_id: r.key_id,
            workspace_id: r.workspace_id,
            start: r.start,
            tally: Tally {
                issued: r.issued,
                failed: r.failed,
                refused: [
                    r.wrong_secret,
                    r.address_not_allowed,
                    r.scope_refused,
                    r.key_inactive,
                    r.throttled,
                ],
                verified: r.verified,
            },
        }
    }
}

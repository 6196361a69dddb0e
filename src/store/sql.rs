//! The rows both backends read, and their conversion into the store's records;
//! the queries themselves are in `queries.rs`.

use sqlx::FromRow;

use crate::vocab::Tally;

use super::credential::CredentialColumns;
use super::{
    AuditEntry, Credential, DeviceDecision, DeviceGrantRecord, KeyRecord, PersonRecord,
    PreviousUse, RoleBindingRecord, SessionHolder, SessionRecord, SigningKeyRecord, StoreError,
    UsageRow, WorkspaceRecord,
};
use crate::vocab::role::{Role, Subject};
use crate::vocab::scope::Scope;
use crate::vocab::Algorithm;

/// A value of a column, as both backends bind it.
pub(super) enum SqlValue {
    Text(String),
    MaybeText(Option<String>),
    Int(i64),
    MaybeInt(Option<i64>),
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}
impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        SqlValue::MaybeText(v)
    }
}
impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}
impl From<Option<i64>> for SqlValue {
    fn from(v: Option<i64>) -> Self {
        SqlValue::MaybeInt(v)
    }
}

/// A row type read by column name (`FromRow`) and written by the same names
/// ([`Self::values`]): a column is added to a table's row in one line.
macro_rules! named_row {
    ($(#[$meta:meta])* struct $row:ident { $($(#[$doc:meta])* $column:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(FromRow)]
        pub(super) struct $row {
            $($(#[$doc])* pub(super) $column: $ty,)*
        }

        impl $row {
            /// Every column with its value, by name.
            pub(super) fn values(self) -> Vec<(&'static str, SqlValue)> {
                vec![$((stringify!($column), SqlValue::from(self.$column)),)*]
            }
        }
    };
}

named_row! {
    /// An `api_keys` row, column for column.
    struct KeyRow {
        id: String,
        workspace_id: String,
        name: String,
        /// Lowercased `name`, for case-insensitive search and uniqueness.
        name_lower: String,
        description: String,
        environment: String,
        key_type: String,
        scopes: String,
        allowed_cidrs: String,
        audiences: String,
        expires_at: Option<i64>,
        status: String,
        token_endpoint_auth_method: String,
        secret_hash: String,
        masked_secret: String,
        imported: i64,
        secret_lookup: Option<String>,
        previous_secret_hash: Option<String>,
        previous_secret_lookup: Option<String>,
        previous_expires_at: Option<i64>,
        jwks: Option<String>,
        jwks_uri: Option<String>,
        dpop_bound_access_tokens: i64,
        claims: String,
        owner: Option<String>,
        federated_credentials: String,
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
    }
}

/// The `api_keys` columns an update leaves as they are: what never changes, what
/// usage writes (last use), and the version, which the update increments.
pub(super) const KEY_COLUMNS_KEPT_BY_UPDATE: [&str; 9] = [
    "id",
    "workspace_id",
    "environment",
    "key_type",
    "created_at",
    "created_by",
    "last_used_at",
    "last_used_ip",
    "version",
];

/// The keys as every query reads them: each `api_keys` row with its last use as
/// the usage folds found it (`used_at`, `used_ip`), under the table's own name so
/// conditions read the same. Decoded as [`UsedKeyRow`].
pub(super) const KEYS: &str = "(SELECT k.*, u.used_at, u.used_ip FROM api_keys AS k \
    LEFT JOIN key_uses AS u ON u.key_id = k.id) AS api_keys";

/// A key row as read (from [`KEYS`]): with its last use as folds found it
/// (`key_uses`), apart from the row.
#[derive(FromRow)]
pub(super) struct UsedKeyRow {
    #[sqlx(flatten)]
    pub(super) key: KeyRow,
    pub(super) used_at: Option<i64>,
    pub(super) used_ip: Option<String>,
}

/// A key row with the change feed position of the statement that read it.
#[derive(FromRow)]
pub(super) struct SeenKeyRow {
    #[sqlx(flatten)]
    pub(super) key: UsedKeyRow,
    pub(super) seen: i64,
}

impl TryFrom<UsedKeyRow> for KeyRecord {
    type Error = StoreError;

    /// The key, its last use the later of the row's (written by releases before
    /// `key_uses`) and the folds'.
    fn try_from(r: UsedKeyRow) -> Result<Self, StoreError> {
        let mut key = KeyRecord::try_from(r.key)?;
        if r.used_at > key.last_used_at {
            key.last_used_at = r.used_at;
            key.last_used_ip = r.used_ip;
        }
        Ok(key)
    }
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
        let credential = Credential::try_from(CredentialColumns {
            method: r.token_endpoint_auth_method,
            secret_hash: r.secret_hash,
            masked_secret: r.masked_secret,
            imported: r.imported != 0,
            secret_lookup: r.secret_lookup,
            previous_secret_hash: r.previous_secret_hash,
            previous_secret_lookup: r.previous_secret_lookup,
            previous_expires_at: r.previous_expires_at,
            jwks: r.jwks,
            jwks_uri: r.jwks_uri,
        })
        .map_err(|why| StoreError::Corrupt(format!("key {}: {why}", r.id)))?;
        let previous_use = r.previous_last_used_at.map(|at| PreviousUse {
            count: r.previous_use_count,
            at,
            ip: r.previous_last_used_ip,
        });
        let corrupt = |column: &str, e: serde_json::Error| {
            StoreError::Corrupt(format!("key {}: {column}: {e}", r.id))
        };
        let claims = serde_json::from_str(&r.claims).map_err(|e| corrupt("claims", e))?;
        let federated =
            serde_json::from_str(&r.federated_credentials).map_err(|e| corrupt("federated", e))?;
        Ok(KeyRecord {
            claims,
            owner: r.owner,
            federated,
            scopes: serde_json::from_str(&r.scopes)
                .map_err(|e| StoreError::Corrupt(format!("key {}: scopes: {e}", r.id)))?,
            allowed_cidrs: json_list("allowed_cidrs", &r.allowed_cidrs)?,
            audiences: json_list("audiences", &r.audiences)?,
            status: super::KeyStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("key status {:?}", r.status)))?,
            id: r.id,
            workspace_id: r.workspace_id,
            name: r.name,
            description: r.description,
            environment: r.environment,
            key_type: r.key_type,
            expires_at: r.expires_at,
            credential,
            dpop_bound: r.dpop_bound_access_tokens != 0,
            previous_use,
            created_at: r.created_at,
            created_by: r.created_by,
            updated_at: r.updated_at,
            last_used_at: r.last_used_at,
            last_used_ip: r.last_used_ip,
            rotated_at: r.rotated_at,
            revoked_at: r.revoked_at,
            revoked_by: r.revoked_by,
            version: r.version,
        })
    }
}

impl From<&KeyRecord> for KeyRow {
    fn from(k: &KeyRecord) -> Self {
        let c = CredentialColumns::from(&k.credential);
        let previous_use = k.previous_use.clone();
        KeyRow {
            id: k.id.clone(),
            workspace_id: k.workspace_id.clone(),
            name: k.name.clone(),
            name_lower: k.name.to_lowercase(),
            description: k.description.clone(),
            environment: k.environment.clone(),
            key_type: k.key_type.clone(),
            scopes: to_json(&Scope::texts(&k.scopes)),
            allowed_cidrs: to_json(&k.allowed_cidrs),
            audiences: to_json(&k.audiences),
            expires_at: k.expires_at,
            status: k.status.as_str().to_string(),
            token_endpoint_auth_method: c.method,
            secret_hash: c.secret_hash,
            masked_secret: c.masked_secret,
            imported: i64::from(c.imported),
            secret_lookup: c.secret_lookup,
            previous_secret_hash: c.previous_secret_hash,
            previous_secret_lookup: c.previous_secret_lookup,
            previous_expires_at: c.previous_expires_at,
            jwks: c.jwks,
            jwks_uri: c.jwks_uri,
            dpop_bound_access_tokens: i64::from(k.dpop_bound),
            claims: serde_json::Value::Object(k.claims.clone()).to_string(),
            owner: k.owner.clone(),
            federated_credentials: serde_json::to_string(&k.federated)
                .unwrap_or_else(|_| "[]".into()),
            previous_use_count: previous_use.as_ref().map_or(0, |u| u.count),
            previous_last_used_at: previous_use.as_ref().map(|u| u.at),
            previous_last_used_ip: previous_use.and_then(|u| u.ip),
            created_at: k.created_at,
            created_by: k.created_by.clone(),
            updated_at: k.updated_at,
            last_used_at: k.last_used_at,
            last_used_ip: k.last_used_ip.clone(),
            rotated_at: k.rotated_at,
            revoked_at: k.revoked_at,
            revoked_by: k.revoked_by.clone(),
            version: k.version,
        }
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
    actor_email: Option<String>,
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
            actor_email: r.actor_email,
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
            alg: Algorithm::from_name(&r.alg)
                .ok_or_else(|| StoreError::Corrupt(format!("signing key alg {:?}", r.alg)))?,
            kid: r.kid,
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
    exchanged: i64,
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
                exchanged: r.exchanged,
            },
        }
    }
}

#[derive(FromRow)]
pub(super) struct RoleBindingRow {
    id: String,
    subject: String,
    workspace_id: Option<String>,
    role: String,
    created_at_us: i64,
    created_by: String,
}

impl TryFrom<RoleBindingRow> for RoleBindingRecord {
    type Error = StoreError;

    fn try_from(r: RoleBindingRow) -> Result<Self, StoreError> {
        let corrupt = |what: String| StoreError::Corrupt(format!("role binding {}: {what}", r.id));
        Ok(RoleBindingRecord {
            subject: Subject::parse(&r.subject).map_err(|e| corrupt(e.to_string()))?,
            role: Role::parse(&r.role).ok_or_else(|| corrupt(format!("role {:?}", r.role)))?,
            id: r.id,
            workspace_id: r.workspace_id,
            created_at_us: r.created_at_us,
            created_by: r.created_by,
        })
    }
}

#[derive(FromRow)]
pub(super) struct SessionRow {
    id_hash: String,
    key_id: Option<String>,
    secret_tag: Option<String>,
    person_id: Option<String>,
    created_at: i64,
    seen_at: i64,
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        let holder = match (r.key_id, r.secret_tag, r.person_id) {
            (Some(key_id), Some(secret_tag), None) => SessionHolder::Key { key_id, secret_tag },
            (None, None, Some(person_id)) => SessionHolder::Person { person_id },
            _ => {
                return Err(StoreError::Corrupt("a console session with no one holding it".into()))
            }
        };
        Ok(SessionRecord {
            id_hash: r.id_hash,
            holder,
            created_at: r.created_at,
            seen_at: r.seen_at,
        })
    }
}

#[derive(FromRow)]
pub(super) struct PersonRow {
    id: String,
    issuer: String,
    subject: String,
    email: Option<String>,
    email_verified: i64,
    name: Option<String>,
    groups: String,
    first_sign_in_us: i64,
    last_sign_in_us: i64,
}

impl TryFrom<PersonRow> for PersonRecord {
    type Error = StoreError;

    fn try_from(r: PersonRow) -> Result<Self, StoreError> {
        let groups = serde_json::from_str(&r.groups)
            .map_err(|e| StoreError::Corrupt(format!("person {}: groups: {e}", r.id)))?;
        Ok(PersonRecord {
            id: r.id,
            issuer: r.issuer,
            subject: r.subject,
            email: r.email,
            email_verified: r.email_verified != 0,
            name: r.name,
            groups,
            first_sign_in_us: r.first_sign_in_us,
            last_sign_in_us: r.last_sign_in_us,
        })
    }
}

#[derive(FromRow)]
pub(super) struct DeviceGrantRow {
    device_hash: String,
    user_code: String,
    created_at: i64,
    expires_at: i64,
    polled_at: i64,
    decision: String,
    person_id: Option<String>,
}

impl TryFrom<DeviceGrantRow> for DeviceGrantRecord {
    type Error = StoreError;

    fn try_from(r: DeviceGrantRow) -> Result<Self, StoreError> {
        Ok(DeviceGrantRecord {
            decision: DeviceDecision::parse(&r.decision)
                .ok_or_else(|| StoreError::Corrupt(format!("device grant {:?}", r.decision)))?,
            device_hash: r.device_hash,
            user_code: r.user_code,
            created_at: r.created_at,
            expires_at: r.expires_at,
            polled_at: r.polled_at,
            person_id: r.person_id,
        })
    }
}

//! Persistence: the [`Store`](crate::store::Store) trait, the records it reads and writes, and
//! [`StoreError`](crate::store::StoreError).
//!
//! Only this module knows SQL. Each backend (SQLite, PostgreSQL) implements the same
//! trait from one body of queries (`queries.rs`), with its own connection setup and
//! migrations under `migrations/<backend>/`. Instants are unix seconds (`i64`); list
//! fields are JSON text, so both backends store exactly the same shapes.

/// The text of an enum as stored and shown, and its parsing back.
macro_rules! stored_text {
    ($ty:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            /// The stored and displayed text.
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $text),* }
            }

            /// Parses the stored text.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(<$ty>::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod batch;
mod bulk;
mod credential;
mod error;
#[cfg(test)]
pub(crate) mod fixtures;
mod open;
mod people;
mod postgres;
pub mod schema;
mod sql;
mod sqlite;
mod usage;
mod webhooks;

use async_trait::async_trait;

use crate::vocab::scope::Scope;
use crate::vocab::{Action, Actor, Algorithm, Target};

pub use batch::Batched;
pub use credential::{AuthMethod, Credential, PreviousSecret, PublicKeySource, StoredSecret};
pub use error::{Cause, StoreError, StoreResult};
use open::no_database;
pub use open::{open, open_existing, open_with, redact_url};
pub use people::{
    DeviceDecision, DeviceGrantRecord, PersonRecord, RoleBindingRecord, SessionHolder,
    SessionRecord,
};
pub use postgres::PostgresStore;
use schema::Opening;
pub use sqlite::SqliteStore;
pub use usage::{
    AddressUse, Fold, Granularity, LastUse, PreviousUse, UsageBatch, UsageGroup, UsageQuery,
    UsageRow, PREVIOUS_USE_CHUNK,
};
pub use webhooks::{
    AttemptOutcome, AttemptRecord, DeliveryRecord, DueDelivery, NextStep, WebhookEventRecord,
    WebhookRecord, WebhookStore,
};

/// The status of an API key. `Expired` is never stored: it is derived from
/// `expires_at` (see `apikeys::key_status`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Inactive,
    Expired,
    Revoked,
}

/// The state of a token signing key (see `docs/signing-keys.md`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyState {
    /// Published, not yet signing.
    Next,
    /// Signs; at most one.
    Current,
    /// Published until every token it signed has expired.
    Retired,
}

stored_text!(KeyStatus {
    Active => "active",
    Inactive => "inactive",
    Expired => "expired",
    Revoked => "revoked",
});
stored_text!(SigningKeyState { Next => "next", Current => "current", Retired => "retired" });

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRecord {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// A JWT id to use once (a client assertion's, a DPoP proof's), per subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsedJti {
    pub subject: String,
    pub jti: String,
    /// Until when it must be remembered (the JWT's expiry).
    pub expires_at: i64,
}

/// Most keys one secret lookup answers: the same value imported into several keys
/// is checked against each, and no more.
pub const MAX_LOOKUP_MATCHES: i64 = 4;

/// An API key row. Its credential holds hashes, never a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: String,
    pub environment: String,
    pub key_type: String,
    /// Parsed when the row is read: a stored scope that does not parse is an error.
    pub scopes: Vec<Scope>,
    pub allowed_cidrs: Vec<String>,
    pub audiences: Vec<String>,
    pub expires_at: Option<i64>,
    /// Stored status: active, inactive or revoked; expired is derived.
    pub status: KeyStatus,
    /// Its secret (and the pre-rotation one), or its public keys.
    pub credential: Credential,
    /// Its tokens must be DPoP-bound (RFC 9449 `dpop_bound_access_tokens`).
    pub dpop_bound: bool,
    /// Copied into every token the key gets (checked by `apikeys::claims`).
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// An external id: the customer or team the key belongs to.
    pub owner: Option<String>,
    /// The platform tokens that may act as the key.
    pub federated: Vec<crate::vocab::FederatedCredential>,
    /// Uses of the pre-rotation secret since the last rotation.
    pub previous_use: Option<PreviousUse>,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub updated_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    /// Incremented by every update; an update names the version it read.
    pub version: i64,
}

impl std::fmt::Debug for KeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRecord")
            .field("id", &self.id)
            .field("workspace_id", &self.workspace_id)
            .field("name", &self.name)
            .field("status", &self.status)
            .field("credential", &self.credential)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Filters for listing keys. `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    pub workspace_id: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Stored status (active, inactive, revoked); expired is filtered by the caller's clock.
    pub status: Option<KeyStatus>,
    /// Only keys whose `expires_at` is after (`Some(true)`) or at/before (`Some(false)`) `now`.
    pub unexpired_at: Option<(i64, bool)>,
    pub environment: Option<String>,
    pub key_type: Option<String>,
    pub created_by: Option<String>,
    /// Only the keys of this owner.
    pub owner: Option<String>,
    /// Only keys that hold this exact scope.
    pub has_scope: Option<String>,
    /// Only keys outside this workspace.
    pub outside_workspace_id: Option<String>,
    /// Only keys without an expiry.
    pub never_expires: bool,
    /// Only keys never used.
    pub never_used: bool,
    /// Only keys not used (nor created) since this instant.
    pub unused_since: Option<i64>,
    /// Only keys usable from any address (no range, or `0.0.0.0/0` / `::/0`).
    pub any_address: bool,
    /// Only keys without a scope.
    pub no_scope: bool,
    /// The order of the rows.
    pub sort: KeySort,
    /// Keyset pagination: return rows strictly after this `(sort value, id)` in
    /// `sort`'s order (see [`KeySort::value`]).
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// A workspace's settings, each stored as JSON text in a column of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkspaceSetting {
    /// The guardrails of its keys (the key policy, as JSON).
    KeyPolicy,
    /// The resources its APIs understand (the scope catalog, as JSON).
    ScopeCatalog,
}

impl WorkspaceSetting {
    fn column(self) -> &'static str {
        match self {
            WorkspaceSetting::KeyPolicy => "key_policy",
            WorkspaceSetting::ScopeCatalog => "scope_catalog",
        }
    }
}

/// What keys are listed by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyOrder {
    #[default]
    Created,
    /// Never-used keys count as used before any other.
    LastUsed,
    /// Keys that never expire count as expiring after any other.
    Expires,
}

/// An order of keys: by `by`, then by id, each ascending or both descending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeySort {
    pub by: KeyOrder,
    pub descending: bool,
}

/// A key's last use in SQL, over the keys as read (`sql::KEYS`): the later
/// of the row's (`last_used_at`, which releases before `key_uses` write) and the
/// folds' (`used_at`); NULL if neither.
macro_rules! last_use {
    () => {
        "COALESCE(CASE WHEN used_at < last_used_at THEN last_used_at ELSE used_at END, \
         last_used_at)"
    };
}

/// [`last_use!`], for filters.
const LAST_USE: &str = last_use!();

impl KeySort {
    /// The SQL expression rows are ordered by (never NULL).
    pub fn expression(&self) -> &'static str {
        match self.by {
            KeyOrder::Created => "created_at",
            KeyOrder::LastUsed => concat!("COALESCE(", last_use!(), ", -1)"),
            KeyOrder::Expires => "COALESCE(expires_at, 9223372036854775807)",
        }
    }

    /// `key`'s value of [`KeySort::expression`], for a cursor.
    pub fn value(&self, key: &KeyRecord) -> i64 {
        match self.by {
            KeyOrder::Created => key.created_at,
            KeyOrder::LastUsed => key.last_used_at.unwrap_or(-1),
            KeyOrder::Expires => key.expires_at.unwrap_or(i64::MAX),
        }
    }
}

/// A signing key row. The private key is sealed; only `signing::` can open it.
#[derive(Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: Algorithm,
    pub state: SigningKeyState,
    pub public_jwk: String,
    pub sealed_private: Vec<u8>,
    pub master_key_id: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// One audit event, written in the same transaction as the change it describes.
/// Its target's kind and whether the change feed carries it follow from its
/// [`Action`].
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    /// When it happened, in unix microseconds: events within one second keep
    /// their order.
    pub at_us: i64,
    pub actor: String,
    /// The email of the person who acted, as it was then (none for a key).
    pub actor_email: Option<String>,
    pub actor_ip: Option<String>,
    pub workspace_id: Option<String>,
    pub action: Action,
    pub target_id: String,
    pub details: serde_json::Value,
    /// What the webhook event of this change carries as its `data` (the key as
    /// `/v1` shows it), for actions that raise one; written to the outbox in
    /// the same transaction.
    pub event: Option<serde_json::Value>,
}

impl AuditRecord {
    /// The event of `action` on `target_id` (in `workspace_id`) by `actor`, from
    /// its address, at `at_us`: how every management change is recorded.
    pub fn by(
        actor: &Actor,
        at_us: i64,
        action: Action,
        target_id: &str,
        workspace_id: Option<&str>,
        details: serde_json::Value,
    ) -> Self {
        AuditRecord {
            id: 0,
            at_us,
            actor: actor.id.clone(),
            actor_email: actor.email.clone(),
            actor_ip: actor.ip.clone(),
            workspace_id: workspace_id.map(str::to_string),
            action,
            target_id: target_id.to_string(),
            details,
            event: None,
        }
    }

    /// The same record, announcing `data` to webhooks.
    pub fn announcing(mut self, data: serde_json::Value) -> Self {
        self.event = Some(data);
        self
    }
}

/// One audit event as the log holds it. The log also holds what other keymint
/// versions wrote, so its action and target are read as text: an action this
/// version does not know is shown as it is, never refused.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    /// When it happened, in unix microseconds.
    pub at_us: i64,
    pub actor: String,
    /// The email of the person who acted, as it was then (none for a key).
    pub actor_email: Option<String>,
    pub actor_ip: Option<String>,
    pub workspace_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: serde_json::Value,
}

/// Filters for reading the audit log, newest first by the time events happened
/// (`at_us`, then `id`). Times are unix microseconds.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub workspace_id: Option<String>,
    pub target_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub actor_ip: Option<String>,
    /// Events at or after this instant.
    pub from: Option<i64>,
    /// Events before this instant.
    pub to: Option<i64>,
    /// Keyset pagination: events before this `(at_us, id)`, in the listing's order.
    pub before: Option<(i64, i64)>,
    pub limit: i64,
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    /// Wall-clock unix milliseconds of the commit, for the feed's lag.
    pub at_millis: i64,
    /// What changed; `None` for a kind this version does not know (written by a
    /// newer keymint), which the feed answers by dropping everything it holds.
    pub kind: Option<Target>,
    pub target: String,
}

/// Everything keymint persists, named by intent. One implementation per backend.
#[async_trait]
pub trait Store: WebhookStore + Send + Sync + 'static {
    /// Which backend this is, for logs and metrics.
    fn backend(&self) -> &'static str;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes every connection after a clean shutdown, leaving the database complete
    /// on its own (SQLite: the WAL checkpointed into the main file).
    async fn close(&self);

    async fn insert_workspace(&self, ws: &WorkspaceRecord, audit: &AuditRecord) -> StoreResult<()>;
    async fn get_workspace(&self, id: &str) -> StoreResult<WorkspaceRecord>;
    async fn find_workspace_by_name(&self, name: &str) -> StoreResult<Option<WorkspaceRecord>>;
    async fn list_workspaces(&self) -> StoreResult<Vec<WorkspaceRecord>>;
    async fn rename_workspace(&self, id: &str, name: &str, audit: &AuditRecord) -> StoreResult<()>;
    /// Deletes the workspace; with `force`, its keys too (each with its own
    /// `key.delete` event, by the same actor), else `Conflict` while it holds keys.
    async fn delete_workspace(&self, id: &str, force: bool, audit: &AuditRecord)
        -> StoreResult<()>;

    async fn insert_key(&self, key: &KeyRecord, audit: &AuditRecord) -> StoreResult<()>;
    /// The key with this id, for authentication and management alike.
    async fn find_key(&self, id: &str) -> StoreResult<Option<KeyRecord>>;
    /// The keys with these ids (those that exist), in one round trip, with the id of
    /// the newest change committed when they were read (so a cache can tell which
    /// later changes it has already seen).
    async fn find_keys(&self, ids: &[String]) -> StoreResult<(Vec<KeyRecord>, i64)>;
    /// The ids of the keys (at most [`MAX_LOOKUP_MATCHES`]) whose current or
    /// pre-rotation secret has this lookup hash ([`StoredSecret::lookup`]).
    async fn find_keys_by_lookup(&self, lookup: &str) -> StoreResult<Vec<String>>;
    /// Records the lookup hash of key `id`'s current secret (for keys imported
    /// before lookups existed, or under another master key). Not a change an
    /// admin makes: no audit, no version.
    async fn set_secret_lookup(&self, id: &str, lookup: &str) -> StoreResult<()>;
    /// How many keys `filter` selects (its page position and limit ignored).
    async fn count_keys(&self, filter: &KeyFilter) -> StoreResult<i64>;
    async fn list_keys(&self, filter: &KeyFilter) -> StoreResult<Vec<KeyRecord>>;
    /// Writes every mutable field of `key`, if its stored version is still `key.version`;
    /// the stored version becomes `key.version + 1`.
    async fn update_key(&self, key: &KeyRecord, audit: &AuditRecord) -> StoreResult<()>;
    async fn delete_key(&self, id: &str, audit: &AuditRecord) -> StoreResult<()>;

    async fn list_audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
    /// Records an event that changes nothing else (e.g. a refused sign-in).
    async fn append_audit(&self, audit: &AuditRecord) -> StoreResult<()>;

    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// Appends a flush's counters, last uses and client addresses to the usage log,
    /// and inserts the audit events gathered on the token path, in one transaction
    /// (a `COPY` on PostgreSQL) that reads nothing and locks no shared row.
    async fn record_usage(&self, batch: &UsageBatch) -> StoreResult<()>;
    /// Folds the usage log into the hourly rows and client addresses, and the
    /// keys' last uses (which only move forward) and uses of pre-rotation secrets,
    /// as [`Fold`] says when: every flush of every instance before it counts once.
    /// `false`: a [`Fold::Due`] found it was not due.
    async fn fold_usage(&self, fold: Fold) -> StoreResult<bool>;
    /// Forgets hourly and per-address usage before `hours_before`, daily before
    /// `days_before`.
    async fn purge_usage(&self, hours_before: i64, days_before: i64) -> StoreResult<()>;
    /// Tokens issued to `key_id` per client address since `from`, most first.
    async fn address_usage(&self, key_id: &str, from: i64) -> StoreResult<Vec<(String, i64)>>;

    /// Retires `current` and promotes `next` in one transaction, if both are still in
    /// those states. `false`: another instance rotated first.
    async fn rotate_signing_keys(
        &self,
        current: &str,
        next: &str,
        at: i64,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
    /// Emergency rotation: removes `old` (if still current) and makes `new` current,
    /// in one transaction. `false`: `old` was no longer current.
    async fn replace_current_signing_key(
        &self,
        old: &str,
        new: &SigningKeyRecord,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
    /// Removes a signing key (it leaves the JWKS). `false`: already gone.
    async fn delete_signing_key(&self, kid: &str, audit: &AuditRecord) -> StoreResult<bool>;
    /// Replaces the sealed private keys (master key rotation), all or nothing.
    async fn reseal_signing_keys(
        &self,
        resealed: &[SigningKeyRecord],
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// Changes committed after change `after`, oldest first.
    async fn changes_since(&self, after: i64, limit: i64) -> StoreResult<Vec<Change>>;
    /// The id of the newest change (0 when none).
    async fn latest_change(&self) -> StoreResult<i64>;
    /// Forgets changes older than `before_millis`.
    async fn prune_changes(&self, before_millis: i64) -> StoreResult<()>;
    /// Waits up to `timeout` for another instance to announce a change (PostgreSQL
    /// `LISTEN`); `Ok(true)` when one was announced. Backends without notifications
    /// just wait. An error means the notification connection was lost: resync.
    async fn wait_for_change(&self, timeout: std::time::Duration) -> StoreResult<bool>;

    /// Revoked tokens that have not expired at `now`, `(jti, expires_at)`, soonest
    /// to expire first, at most `limit`.
    async fn revoked_tokens(&self, now: i64, limit: i64) -> StoreResult<Vec<(String, i64)>>;
    /// Records that the token `jti` is revoked until `expires_at`, announced on the
    /// change feed; forgets revocations of tokens that expired before `now`.
    async fn revoke_token(
        &self,
        jti: &str,
        key_id: &str,
        expires_at: i64,
        now: i64,
    ) -> StoreResult<()>;
    /// Whether the token `jti` was revoked.
    async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// Uses each JWT id once: for each, `true` the first time, `false` for a
    /// replay, across every instance (one atomic insert for the batch; ids must be
    /// distinct within it). Remembered until their `expires_at` (see
    /// [`Store::purge_jtis`]).
    async fn use_jtis(&self, ids: &[UsedJti]) -> StoreResult<Vec<bool>>;
    /// Forgets JWT ids that expired before `before`.
    async fn purge_jtis(&self, before: i64) -> StoreResult<()>;
    /// Counts failed authentications at `now`, each `(subject, n)` (a key id or an
    /// address, each named once) `n` failures, in one atomic statement: a window
    /// older than `window` seconds starts over. Answers each subject's window start
    /// and its failures so far, across instances, in the order given.
    async fn count_failures(
        &self,
        failures: &[(String, i64)],
        now: i64,
        window: i64,
    ) -> StoreResult<Vec<(i64, i64)>>;
    /// Forgets failure windows that started before `before`.
    async fn purge_failures(&self, before: i64) -> StoreResult<()>;

    /// Usage matching `query`, grouped by `group`.
    async fn usage(&self, query: &UsageQuery, group: UsageGroup) -> StoreResult<Vec<UsageRow>>;

    /// Stores a role binding with its audit event; `Conflict` when the same
    /// subject already has the same role there, `NotFound` when its workspace is gone.
    async fn insert_role_binding(
        &self,
        binding: &RoleBindingRecord,
        audit: &AuditRecord,
    ) -> StoreResult<()>;
    /// Every role binding, oldest first.
    async fn list_role_bindings(&self) -> StoreResult<Vec<RoleBindingRecord>>;
    /// Removes a role binding with its audit event. `false`: there was none.
    async fn delete_role_binding(&self, id: &str, audit: &AuditRecord) -> StoreResult<bool>;

    /// A setting of workspace `id` (JSON text; `{}` when none was set).
    async fn workspace_setting(
        &self,
        workspace_id: &str,
        setting: WorkspaceSetting,
    ) -> StoreResult<String>;
    /// Replaces a setting of workspace `id`, with its audit event.
    async fn set_workspace_setting(
        &self,
        workspace_id: &str,
        setting: WorkspaceSetting,
        value: &str,
        audit: &AuditRecord,
    ) -> StoreResult<()>;

    /// Stores a new console session with its audit event (`session.sign_in`), and
    /// drops sessions last seen before `idle_before` or created before `created_before`.
    async fn insert_session(
        &self,
        session: &SessionRecord,
        audit: &AuditRecord,
        idle_before: i64,
        created_before: i64,
    ) -> StoreResult<()>;
    /// The session whose id hashes to `id_hash`.
    async fn find_session(&self, id_hash: &str) -> StoreResult<Option<SessionRecord>>;
    /// Marks the session as seen at `at`.
    async fn touch_session(&self, id_hash: &str, at: i64) -> StoreResult<()>;
    /// Ends a session (and drops any secret waiting in it), with its audit event when
    /// one is given (`session.sign_out`). `false`: there was no such session.
    async fn delete_session(&self, id_hash: &str, audit: Option<&AuditRecord>)
        -> StoreResult<bool>;
    /// Ends every session of person `person_id` (and drops secrets waiting in them),
    /// with its audit event: how many ended.
    async fn delete_person_sessions(
        &self,
        person_id: &str,
        audit: &AuditRecord,
    ) -> StoreResult<u64>;

    /// Records a sign-in of `person` (by issuer and subject): a new row, or the
    /// existing one with what this sign-in said and its time. Returns the row as
    /// stored (its id and first sign-in kept).
    async fn record_person(&self, person: &PersonRecord) -> StoreResult<PersonRecord>;
    /// The person with id `id`.
    async fn find_person(&self, id: &str) -> StoreResult<Option<PersonRecord>>;
    /// Every person, most recent sign-in first.
    async fn list_people(&self) -> StoreResult<Vec<PersonRecord>>;
    /// Keeps a sign-in through the identity provider under way, and drops those
    /// begun before `expired_before`.
    async fn insert_sso_login(
        &self,
        id_hash: &str,
        sealed: &[u8],
        at: i64,
        expired_before: i64,
    ) -> StoreResult<()>;
    /// Takes (and deletes) a sign-in under way: `(sealed, created_at)`.
    async fn take_sso_login(&self, id_hash: &str) -> StoreResult<Option<(Vec<u8>, i64)>>;

    /// Keeps a device grant waiting, and drops those that expired before `now`.
    async fn insert_device_grant(&self, grant: &DeviceGrantRecord, now: i64) -> StoreResult<()>;
    /// The waiting device grant whose user code is `user_code`.
    async fn find_device_grant(&self, user_code: &str) -> StoreResult<Option<DeviceGrantRecord>>;
    /// Records the person's decision on a pending grant, with its audit event:
    /// `false` when there is no pending grant with that code.
    async fn decide_device_grant(
        &self,
        user_code: &str,
        decision: DeviceDecision,
        person_id: &str,
        audit: &AuditRecord,
    ) -> StoreResult<bool>;
    /// The grant of device code hash `device_hash` as it was, marking it polled at `at`.
    async fn poll_device_grant(
        &self,
        device_hash: &str,
        at: i64,
    ) -> StoreResult<Option<DeviceGrantRecord>>;
    /// Deletes the grant (it was redeemed, denied or expired): `false` when another
    /// poll took it first.
    async fn delete_device_grant(&self, device_hash: &str) -> StoreResult<bool>;

    /// Keeps a sealed secret for the session to show once, replacing any before it.
    async fn put_reveal(
        &self,
        id_hash: &str,
        key_id: &str,
        sealed: &[u8],
        at: i64,
    ) -> StoreResult<()>;
    /// Takes (and deletes) the sealed secret waiting in the session: `(key_id, sealed)`.
    async fn take_reveal(&self, id_hash: &str) -> StoreResult<Option<(String, Vec<u8>)>>;
}

#[cfg(test)]
mod tests {
    use super::error::refused_statement;
    use super::redact_url;

    #[test]
    fn only_errors_of_the_statement_are_refusals() {
        assert!(refused_statement(Some("22021"), true), "PostgreSQL: NUL in text");
        assert!(refused_statement(Some("42P01"), true));
        assert!(!refused_statement(Some("08006"), true), "PostgreSQL: connection failure");
        assert!(!refused_statement(Some("53100"), true), "PostgreSQL: disk full");
        assert!(!refused_statement(Some("57P01"), true), "PostgreSQL: admin shutdown");
        assert!(refused_statement(Some("1"), false), "SQLite: SQL error");
        assert!(refused_statement(Some("2067"), false), "SQLite: unique constraint (extended)");
        assert!(!refused_statement(Some("13"), false), "SQLite: disk full");
        assert!(!refused_statement(Some("5"), false), "SQLite: busy");
        assert!(!refused_statement(None, true));
    }

    #[test]
    fn redact_url_hides_only_the_password() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/keymint"),
            "postgres://app:[REDACTED]@db:5432/keymint"
        );
        assert_eq!(redact_url("postgres://app@db/keymint"), "postgres://app@db/keymint");
        assert_eq!(redact_url("sqlite://keymint.db"), "sqlite://keymint.db");
    }
}

//! The key lifecycle, shared by `/v1/keys` and `keymint keys ...`: every change is
//! checked against the caller's reach and rights, written with its audit event in
//! one transaction, and never returns a secret except at creation or rotation.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::cache::KeyCache;
use super::catalog::ScopeCatalog;
use super::client_auth::{self, ClientAuth};
use super::hashing::{Hasher, NO_SECRET};
use super::policy::{Guardrails, KeyPolicy};
use super::secret::{self, Secret};
use super::validate::{self, invalid};
use super::{Actor, KeyView, ManageError};
use crate::clock::rfc3339;
use crate::clock::Clock;
use crate::oauth::scope::ManagementScope;
use crate::store::{
    AuditRecord, KeyFilter, KeyOrder, KeyRecord, KeySort, KeyStatus, Store, StoreError,
    WorkspaceSetting,
};
use crate::usage::{CallersRefused, Usage};

/// Longest grace period for the old secret after a rotation: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 86_400;

/// The body of a create request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// The workspace to create the key in; the caller's own when absent.
    pub workspace_id: Option<String>,
    /// Unique within the workspace: 1-100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Free text, up to 1000 characters; line breaks allowed.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub description: String,
    /// e.g. `production`, `staging`; fixed for the key's life. Default `production`.
    #[schema(pattern = r"^[a-z0-9_-]{1,32}$")]
    pub environment: Option<String>,
    /// e.g. `access`, `gateway`. Default `access`.
    #[serde(rename = "type")]
    #[schema(pattern = r"^[a-z0-9_-]{1,32}$")]
    pub key_type: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
    #[serde(default)]
    pub audiences: Vec<String>,
    /// RFC 3339; or use `expires_in`.
    pub expires_at: Option<String>,
    /// One of `1h`, `1d`, `7d`, `30d`, `90d`, `180d`, `360d`.
    #[schema(pattern = "^(1h|1d|7d|30d|90d|180d|360d)$")]
    pub expires_in: Option<String>,
    /// An existing secret to import instead of generating one.
    pub secret: Option<String>,
    /// `client_secret_basic` (default), `client_secret_post` or `private_key_jwt`
    /// (the default when `jwks` is given; such a key gets no secret).
    pub token_endpoint_auth_method: Option<String>,
    /// The public keys that verify the key's client assertions (a JWK Set).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Or the https URL where the client publishes them (not with `jwks`).
    pub jwks_uri: Option<String>,
    /// `true`: every token request must carry a DPoP proof (RFC 9449), so every
    /// token is bound to the client's key. Default `false` (DPoP is optional).
    pub dpop_bound_access_tokens: Option<bool>,
}

/// The body of an update request: only the fields present change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyUpdate {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    #[schema(max_length = 1000, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub allowed_cidrs: Option<Vec<String>>,
    pub audiences: Option<Vec<String>>,
    /// RFC 3339, or `null` to remove the expiry.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<String>>,
    #[schema(pattern = "^(1h|1d|7d|30d|90d|180d|360d)$")]
    pub expires_in: Option<String>,
    /// Switches how the key authenticates; to `private_key_jwt` drops its secret.
    pub token_endpoint_auth_method: Option<String>,
    /// Replaces its public keys (no secret needed).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Replaces where its public keys are published (in place of `jwks`).
    pub jwks_uri: Option<String>,
    /// Requires (or stops requiring) DPoP-bound tokens.
    pub dpop_bound_access_tokens: Option<bool>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A key together with its secret: the one-time reveal of create and rotate.
#[derive(Debug)]
pub struct Revealed {
    pub key: KeyView,
    /// `None` for a key that authenticates by assertion (`private_key_jwt`).
    pub secret: Option<Secret>,
    /// What the admin should know about the key (a create's draft warnings).
    pub warnings: Vec<String>,
}

impl Revealed {
    /// The key with `client_id` and `client_secret`, as OAuth clients name them: the
    /// one shape the create and rotate answers (API and CLI) share.
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::to_value(&self.key).unwrap_or_default();
        body["client_id"] = Value::from(self.key.id.clone());
        if let Some(secret) = &self.secret {
            body["client_secret"] = Value::from(secret.expose());
        }
        body["warnings"] = json!(self.warnings);
        body
    }
}

/// A checked create request: what would be stored, and what the admin should know
/// first (e.g. that an IP range lets every address in).
#[derive(Debug, Clone)]
pub struct KeyDraft {
    pub workspace_id: String,
    pub name: String,
    pub description: String,
    pub environment: String,
    pub key_type: String,
    pub scopes: Vec<String>,
    pub allowed_cidrs: Vec<String>,
    pub audiences: Vec<String>,
    pub expires_at: Option<i64>,
    pub imported: bool,
    pub client_auth: ClientAuth,
    pub warnings: Vec<String>,
}

/// What an edit would change (`{field: {from, to}}`), and what it may break.
#[derive(Debug, Clone)]
pub struct EditPreview {
    /// The key as it would be after the edit.
    pub key: KeyView,
    pub changes: Value,
    pub warnings: Vec<String>,
    /// Recent callers that narrower allowed ranges refuse.
    pub callers_refused: Option<CallersRefused>,
}

impl EditPreview {
    fn new(
        key: KeyView,
        changes: Value,
        mut warnings: Vec<String>,
        refused: Option<CallersRefused>,
    ) -> Self {
        if let Some(r) = &refused {
            let addresses: Vec<&str> = r.addresses.iter().map(|a| a.address.as_str()).collect();
            warnings.push(format!(
                "{} tokens issued in the last {} days went to addresses the new ranges refuse: {}",
                r.exchanges,
                r.days,
                addresses.join(", ")
            ));
        }
        EditPreview { key, changes, warnings, callers_refused: refused }
    }

    /// The key as `/v1` and `--json` show an edit: its fields, `changes`,
    /// `warnings`, `callers_refused` and whether it was a `dry_run`.
    pub fn to_json(&self, dry_run: bool) -> Value {
        let mut body = serde_json::to_value(&self.key).unwrap_or_default();
        body["changes"] = self.changes.clone();
        body["warnings"] = json!(self.warnings);
        body["callers_refused"] = json!(self.callers_refused);
        body["dry_run"] = json!(dry_run);
        body
    }
}

/// What an edit from `before` to `after` may break, or let in.
fn edit_warnings(before: &KeyRecord, after: &KeyRecord, now: i64) -> Vec<String> {
    let mut warnings = validate::narrowing_warnings(before, after, now);
    if after.allowed_cidrs != before.allowed_cidrs {
        warnings.extend(validate::cidr_warnings(&after.allowed_cidrs));
    }
    if client_auth::awaits_secret(after) {
        warnings.push("this key has no secret yet: rotate it to get one".into());
    }
    warnings
}

/// A checked edit: the fields to set, each already valid.
struct Edit {
    name: Option<String>,
    description: Option<String>,
    scopes: Option<Vec<String>>,
    cidrs: Option<Vec<String>>,
    audiences: Option<Vec<String>>,
    expires_at: Option<Option<i64>>,
    auth_method: Option<String>,
    jwks: Option<Value>,
    dpop_bound: Option<bool>,
    jwks_uri: Option<String>,
    /// The operator allows `jwks_uri`s on private addresses (and `http`).
    allow_private_jwks_uri: bool,
}

impl Edit {
    /// Applies the edit to `key`: what changed (`{field: {from, to}}`), or `None`.
    fn apply(self, key: &mut KeyRecord) -> Result<Option<Value>, validate::FieldError> {
        let client_auth = ClientAuth::edit(
            key,
            self.auth_method.as_deref(),
            self.jwks.as_ref(),
            self.jwks_uri.as_deref(),
            self.allow_private_jwks_uri,
        )?;
        let mut changes = serde_json::Map::new();
        let mut diff = |field: &str, from: Value, to: Value| {
            if from != to {
                changes.insert(field.into(), json!({"from": from, "to": to}));
            }
        };
        if let Some(v) = self.name {
            diff("name", json!(key.name), json!(v));
            key.name = v;
        }
        if let Some(v) = self.description {
            diff("description", json!(key.description), json!(v));
            key.description = v;
        }
        if let Some(v) = self.scopes {
            diff("scopes", json!(key.scopes), json!(v));
            key.scopes = v;
        }
        if let Some(v) = self.cidrs {
            diff("allowed_cidrs", json!(key.allowed_cidrs), json!(v));
            key.allowed_cidrs = v;
        }
        if let Some(v) = self.audiences {
            diff("audiences", json!(key.audiences), json!(v));
            key.audiences = v;
        }
        if let Some(v) = self.expires_at {
            diff("expires_at", json!(key.expires_at.map(rfc3339)), json!(v.map(rfc3339)));
            key.expires_at = v;
        }
        if let Some(v) = self.dpop_bound {
            diff("dpop_bound_access_tokens", json!(key.dpop_bound), json!(v));
            key.dpop_bound = v;
        }
        for (field, change) in client_auth.map(|auth| auth.apply(key)).unwrap_or_default() {
            changes.insert(field.into(), change);
        }
        Ok((!changes.is_empty()).then_some(Value::Object(changes)))
    }
}

/// The result of a rotation.
#[derive(Debug)]
pub struct Rotation {
    pub revealed: Revealed,
    /// When the old secret stops working (`None`: it already has).
    pub previous_expires_at: Option<i64>,
}

/// Filters of a key listing (`GET /v1/keys`).
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeyListQuery {
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    /// `active` (default), `inactive`, `expired`, `revoked` or `all`.
    #[param(pattern = "^(active|inactive|expired|revoked|all)$")]
    pub status: Option<String>,
    pub environment: Option<String>,
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub key_type: Option<String>,
    /// Key id of the creator, or `cli` / `bootstrap`.
    pub created_by: Option<String>,
    /// A hygiene check: `never-expires`, `never-used`, `unused-90d` (not used, or
    /// created, in 90 days), `any-address` (no IP range, or a range that lets every
    /// address in) or `no-scope`.
    #[param(pattern = "^(never-expires|never-used|unused-90d|any-address|no-scope)$")]
    pub hygiene: Option<String>,
    /// Only this workspace (platform admins; others always see their own).
    pub workspace_id: Option<String>,
    /// The order: `created` (default, oldest first), `last_used` (never used
    /// first, then least recently used), `expires` (soonest first, never-expiring
    /// last); a leading `-` reverses it, e.g. `-last_used`.
    #[param(pattern = "^-?(created|last_used|expires)$")]
    pub sort: Option<String>,
    /// 1-100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (of the same `sort`).
    pub cursor: Option<String>,
}

/// The order `sort` names (see [`KeyListQuery::sort`]).
fn key_sort(sort: Option<&str>) -> Result<KeySort, ManageError> {
    let sort = sort.unwrap_or("created");
    let (descending, name) = match sort.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, sort),
    };
    let by = match name {
        "created" => KeyOrder::Created,
        "last_used" => KeyOrder::LastUsed,
        "expires" => KeyOrder::Expires,
        _ => {
            return Err(invalid(
                "sort",
                "must be created, last_used or expires, with a leading - to reverse",
            )
            .into())
        }
    };
    Ok(KeySort { by, descending })
}

/// One page of keys, oldest first; `next_cursor` is absent on the last page.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct KeyPage {
    pub data: Vec<KeyView>,
    pub next_cursor: Option<String>,
}

/// The key management service.
#[derive(Clone)]
pub struct Keys {
    pub(super) store: Arc<dyn Store>,
    hasher: Arc<Hasher>,
    pub(super) clock: Arc<dyn Clock>,
    cache: Arc<KeyCache>,
    usage: Option<Arc<Usage>>,
    /// `jwks_uri`s may point at private addresses, over `http` too (development).
    allow_private_jwks_uri: bool,
}

impl Keys {
    /// Reads of keys and usage first flush `usage`, so they show every exchange so far.
    pub fn with_usage(mut self, usage: Arc<Usage>) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Accepts `jwks_uri`s on private addresses and over `http` (the operator's
    /// `--allow-private-jwks-uri`).
    pub fn allowing_private_jwks_uris(mut self, allow: bool) -> Self {
        self.allow_private_jwks_uri = allow;
        self
    }

    /// Every change drops the key from `cache`, so it takes effect on the next request.
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<Hasher>,
        clock: Arc<dyn Clock>,
        cache: Arc<KeyCache>,
    ) -> Self {
        Keys { store, hasher, clock, cache, usage: None, allow_private_jwks_uri: false }
    }

    fn audit(&self, actor: &Actor, key: &KeyRecord, action: &str, details: Value) -> AuditRecord {
        AuditRecord {
            id: 0,
            at: self.clock.now(),
            actor: actor.id.clone(),
            actor_ip: actor.ip.clone(),
            workspace_id: Some(key.workspace_id.clone()),
            action: action.into(),
            target_type: "key".into(),
            target_id: key.id.clone(),
            details,
        }
    }

    /// Reading keys takes `keymint:keys:read` (or `write`, which implies it).
    pub(super) fn require_read(actor: &Actor) -> Result<(), ManageError> {
        actor
            .require(ManagementScope::KeysRead)
            .or_else(|_| actor.require(ManagementScope::KeysWrite))
    }

    /// Refuses management scopes the caller does not hold itself (no escalation).
    fn check_grantable(actor: &Actor, scopes: &[String]) -> Result<(), ManageError> {
        let not_held = |s: &&String| ManagementScope::parse(s).is_some_and(|m| !actor.holds(m));
        match scopes.iter().find(not_held) {
            Some(s) => Err(ManageError::Forbidden(format!(
                "cannot grant {s}: the caller does not hold it"
            ))),
            None => Ok(()),
        }
    }

    /// The key policy and scope catalog of workspace `workspace_id`.
    async fn guardrails_of(&self, workspace_id: &str) -> Result<Guardrails, ManageError> {
        let corrupt = |e: String| ManageError::from(StoreError::Corrupt(e));
        let policy =
            self.store.workspace_setting(workspace_id, WorkspaceSetting::KeyPolicy).await?;
        let catalog =
            self.store.workspace_setting(workspace_id, WorkspaceSetting::ScopeCatalog).await?;
        Ok(Guardrails {
            policy: KeyPolicy::parse(&policy).map_err(corrupt)?,
            catalog: ScopeCatalog::parse(&catalog).map_err(corrupt)?,
        })
    }

    /// Loads a key the caller may reach; another workspace's key is "not found".
    pub(super) async fn load(&self, actor: &Actor, id: &str) -> Result<KeyRecord, ManageError> {
        if !super::valid_key_id(id) {
            return Err(ManageError::NotFound("key"));
        }
        match self.store.find_key(id).await? {
            Some(key) if actor.reaches(&key.workspace_id) => Ok(key),
            _ => Err(ManageError::NotFound("key")),
        }
    }

    /// Checks a create request without creating anything: what [`Keys::create`]
    /// would store, with warnings for a console to show before the admin commits.
    pub async fn review(&self, actor: &Actor, new: &NewKey) -> Result<KeyDraft, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let now = self.clock.now();
        let workspace_id = match (&new.workspace_id, &actor.workspace_id) {
            (Some(ws), _) => validate::filter("workspace_id", Some(ws))?.unwrap_or_default(),
            (None, Some(own)) => own.clone(),
            (None, None) => return Err(invalid("workspace_id", "is required here").into()),
        };
        if !actor.reaches(&workspace_id) || !validate::workspace_id_form(&workspace_id) {
            return Err(ManageError::NotFound("workspace"));
        }
        match self.store.get_workspace(&workspace_id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(ManageError::NotFound("workspace")),
            Err(e) => return Err(e.into()),
        }
        let name = validate::name("name", &new.name)?;
        let description = validate::description(&new.description)?;
        let environment =
            validate::label("environment", new.environment.as_deref().unwrap_or("production"))?;
        let key_type = validate::label("type", new.key_type.as_deref().unwrap_or("access"))?;
        let scopes = validate::scopes(&new.scopes)?;
        Self::check_grantable(actor, &scopes)?;
        let allowed_cidrs = validate::cidrs(&new.allowed_cidrs)?;
        let audiences = validate::audiences(&new.audiences)?;
        let guardrails = self.guardrails_of(&workspace_id).await?;
        let expires_in = match (&new.expires_at, &new.expires_in) {
            (None, None) => guardrails.policy.default_expiry(),
            (_, given) => given.as_deref(),
        };
        let expires_at = validate::expiry(new.expires_at.as_deref(), expires_in, now)?;
        let mut warnings = guardrails.check_new(expires_at, &scopes, &allowed_cidrs, now)?;
        if let Some(value) = &new.secret {
            validate::imported_secret(value)?;
        }
        let client_auth = ClientAuth::new_key(
            new.token_endpoint_auth_method.as_deref(),
            new.jwks.as_ref(),
            new.jwks_uri.as_deref(),
            new.secret.is_some(),
            self.allow_private_jwks_uri,
        )?;
        warnings.extend(validate::cidr_warnings(&allowed_cidrs));
        Ok(KeyDraft {
            workspace_id,
            name,
            description,
            environment,
            key_type,
            scopes,
            allowed_cidrs,
            audiences,
            expires_at,
            imported: new.secret.is_some(),
            client_auth,
            warnings,
        })
    }

    /// Creates a key and reveals its secret, once.
    pub async fn create(&self, actor: &Actor, new: NewKey) -> Result<Revealed, ManageError> {
        let KeyDraft {
            workspace_id,
            name,
            description,
            environment,
            key_type,
            scopes,
            allowed_cidrs,
            audiences,
            expires_at,
            client_auth,
            warnings,
            ..
        } = self.review(actor, &new).await?;
        let now = self.clock.now();
        let id = secret::new_key_id();
        let (secret, imported) = match new.secret {
            _ if client_auth.by_assertion() => (None, false),
            Some(value) => (Some(Secret::new(value)), true),
            None => (Some(secret::generate(&id, &environment)), false),
        };
        let (secret_hash, masked_secret) = match &secret {
            Some(s) => (self.hasher.hash(s, imported).await?, secret::mask(s.expose())),
            None => (NO_SECRET.to_string(), String::new()),
        };
        let key = KeyRecord {
            secret_hash,
            masked_secret,
            id,
            workspace_id,
            name,
            description,
            environment,
            key_type,
            scopes,
            allowed_cidrs,
            audiences,
            expires_at,
            status: KeyStatus::Active,
            imported,
            secret_lookup: secret.as_ref().filter(|_| imported).map(|s| self.hasher.lookup(s)),
            previous_secret_hash: None,
            previous_secret_lookup: None,
            auth_method: client_auth.method,
            jwks: client_auth.jwks,
            dpop_bound: new.dpop_bound_access_tokens.unwrap_or(false),
            jwks_uri: client_auth.jwks_uri,
            previous_expires_at: None,
            previous_last_used_at: None,
            previous_use_count: 0,
            previous_last_used_ip: None,
            created_at: now,
            created_by: Some(actor.id.clone()),
            updated_at: now,
            last_used_at: None,
            last_used_ip: None,
            rotated_at: None,
            revoked_at: None,
            revoked_by: None,
            version: 1,
        };
        let details = json!({
            "name": key.name, "environment": key.environment, "type": key.key_type,
            "scopes": key.scopes, "allowed_cidrs": key.allowed_cidrs, "audiences": key.audiences,
            "expires_at": key.expires_at.map(crate::clock::rfc3339), "imported": imported,
            "token_endpoint_auth_method": key.auth_method,
            "dpop_bound_access_tokens": key.dpop_bound,
        });
        self.store.insert_key(&key, &self.audit(actor, &key, "key.create", details)).await?;
        // In case the id was looked up (and remembered as absent) before it existed.
        self.cache.invalidate(&key.id);
        Ok(Revealed { key: KeyView::new(&key, now), secret, warnings })
    }

    /// One key.
    pub async fn get(&self, actor: &Actor, id: &str) -> Result<KeyView, ManageError> {
        Self::require_read(actor)?;
        self.flush_usage().await?;
        let key = self.load(actor, id).await?;
        Ok(KeyView::new(&key, self.clock.now()))
    }

    /// A page of keys, oldest first, in a stable order (`created_at`, then `id`).
    pub async fn list(&self, actor: &Actor, query: &KeyListQuery) -> Result<KeyPage, ManageError> {
        Self::require_read(actor)?;
        self.flush_usage().await?;
        let now = self.clock.now();
        let limit = validate_limit(query.limit)?;
        let asked = validate::filter("workspace_id", query.workspace_id.as_deref())?;
        let workspace_id = if actor.platform {
            asked
        } else {
            match (&asked, &actor.workspace_id) {
                (Some(asked), Some(own)) if asked != own => {
                    return Ok(KeyPage { data: vec![], next_cursor: None })
                }
                (_, own) => own.clone(),
            }
        };
        let asked = query.status.as_deref().unwrap_or("active");
        let (status, unexpired_at) = match KeyStatus::parse(asked) {
            Some(KeyStatus::Active) => (Some(KeyStatus::Active), Some((now, true))),
            Some(KeyStatus::Expired) => (Some(KeyStatus::Active), Some((now, false))),
            Some(stored) => (Some(stored), None),
            None if asked == "all" => (None, None),
            None => {
                return Err(
                    invalid("status", "must be active, inactive, expired, revoked or all").into()
                )
            }
        };
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let sort = key_sort(query.sort.as_deref())?;
        let filter = match query.hygiene.as_deref() {
            None => KeyFilter::default(),
            Some(check) => hygiene_filter(check, now).ok_or_else(|| {
                invalid(
                    "hygiene",
                    "must be never-expires, never-used, unused-90d, any-address or no-scope",
                )
            })?,
        };
        let filter = KeyFilter {
            workspace_id,
            name_contains: validate::filter("q", query.q.as_deref())?.filter(|q| !q.is_empty()),
            status,
            unexpired_at,
            environment: validate::filter("environment", query.environment.as_deref())?,
            key_type: validate::filter("type", query.key_type.as_deref())?,
            created_by: validate::filter("created_by", query.created_by.as_deref())?,
            sort,
            after,
            limit: limit + 1,
            ..filter
        };
        let mut rows = self.store.list_keys(&filter).await?;
        let next_cursor = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|k| encode_cursor(sort.value(k), &k.id))
        } else {
            None
        };
        Ok(KeyPage { data: rows.iter().map(|k| KeyView::new(k, now)).collect(), next_cursor })
    }

    /// Loads a key, applies `change` and writes it with its audit event. `change`
    /// returns the audit details, or `None` when nothing changed (idempotent repeats).
    async fn mutate(
        &self,
        actor: &Actor,
        id: &str,
        action: &str,
        change: impl FnOnce(&mut KeyRecord, i64) -> Result<Option<Value>, ManageError>,
    ) -> Result<(KeyRecord, Option<Value>), ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let key = self.load(actor, id).await?;
        self.write_change(actor, key, action, change).await
    }

    /// [`Keys::mutate`] for a key the caller already loaded (and may write): the
    /// write names the version read, so a change made meanwhile is a conflict.
    async fn write_change(
        &self,
        actor: &Actor,
        mut key: KeyRecord,
        action: &str,
        change: impl FnOnce(&mut KeyRecord, i64) -> Result<Option<Value>, ManageError>,
    ) -> Result<(KeyRecord, Option<Value>), ManageError> {
        let now = self.clock.now();
        let Some(details) = change(&mut key, now)? else {
            return Ok((key, None));
        };
        key.updated_at = now;
        let audit = self.audit(actor, &key, action, details.clone());
        let written = self.store.update_key(&key, &audit).await;
        self.cache.invalidate(&key.id);
        written.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound("key"),
            e => e.into(),
        })?;
        key.version += 1;
        Ok((key, Some(details)))
    }

    /// A key that authenticates by assertion has no secret to rotate: its public
    /// keys change by an edit of `jwks`.
    fn refuse_if_secretless(key: &KeyRecord) -> Result<(), ManageError> {
        if key.auth_method == client_auth::PRIVATE_KEY_JWT {
            return Err(ManageError::Conflict(format!(
                "key {} authenticates with private_key_jwt and has no secret; change its jwks, \
                 or set token_endpoint_auth_method to client_secret_basic first",
                key.id
            )));
        }
        Ok(())
    }

    fn refuse_if_revoked(key: &KeyRecord, what: &str) -> Result<(), ManageError> {
        if key.status == KeyStatus::Revoked {
            Err(ManageError::Conflict(format!(
                "key {} is revoked; revocation is permanent, so it cannot be {what}",
                key.id
            )))
        } else {
            Ok(())
        }
    }

    /// Revokes a key, permanently. Revoking a revoked key changes nothing.
    pub async fn revoke(&self, actor: &Actor, id: &str) -> Result<KeyView, ManageError> {
        let by = actor.id.clone();
        let (key, _) = self
            .mutate(actor, id, "key.revoke", |key, now| {
                if key.status == KeyStatus::Revoked {
                    return Ok(None);
                }
                let before = std::mem::replace(&mut key.status, KeyStatus::Revoked);
                key.revoked_at = Some(now);
                key.revoked_by = Some(by);
                key.previous_secret_hash = None;
                key.previous_expires_at = None;
                Ok(Some(json!({"status": {"from": before, "to": "revoked"}})))
            })
            .await?;
        Ok(KeyView::new(&key, self.clock.now()))
    }

    /// Deactivates (`active = false`) or reactivates a key. Repeats change nothing;
    /// a revoked key cannot be either.
    pub async fn set_active(
        &self,
        actor: &Actor,
        id: &str,
        active: bool,
    ) -> Result<KeyView, ManageError> {
        let (action, target) = if active {
            ("key.activate", KeyStatus::Active)
        } else {
            ("key.deactivate", KeyStatus::Inactive)
        };
        let (key, _) = self
            .mutate(actor, id, action, |key, _| {
                Self::refuse_if_revoked(key, if active { "activated" } else { "deactivated" })?;
                if key.status == target {
                    return Ok(None);
                }
                let before = std::mem::replace(&mut key.status, target);
                Ok(Some(json!({"status": {"from": before, "to": target}})))
            })
            .await?;
        Ok(KeyView::new(&key, self.clock.now()))
    }

    /// Edits a key. Returns the key, what changed (`{field: {from, to}}`) and what
    /// the change may break at once, so every door can warn that calls may start
    /// failing.
    pub async fn update(
        &self,
        actor: &Actor,
        id: &str,
        update: KeyUpdate,
    ) -> Result<EditPreview, ManageError> {
        let now = self.clock.now();
        // Validate everything before touching the key.
        let edit = self.check_edit(actor, update, now)?;
        actor.require(ManagementScope::KeysWrite)?;
        let key = self.load(actor, id).await?;
        let guardrails = self.guardrails_of(&key.workspace_id).await?;
        let mut warnings = Vec::new();
        let mut before = None;
        let (key, details) = self
            .write_change(actor, key, "key.update", |key, _| {
                Self::refuse_if_revoked(key, "edited")?;
                let earlier = key.clone();
                let changes = edit.apply(key)?;
                warnings = guardrails.check_edit(&earlier, key, now)?;
                warnings.extend(edit_warnings(&earlier, key, now));
                before = Some(earlier);
                Ok(changes)
            })
            .await?;
        let refused = match &before {
            Some(before) => self.callers_refused(before, &key).await?,
            None => None,
        };
        let changes = details.unwrap_or_else(|| json!({}));
        Ok(EditPreview::new(KeyView::new(&key, now), changes, warnings, refused))
    }

    /// What [`Keys::update`] would answer, without saving anything.
    pub async fn preview_update(
        &self,
        actor: &Actor,
        id: &str,
        update: KeyUpdate,
    ) -> Result<EditPreview, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let now = self.clock.now();
        let edit = self.check_edit(actor, update, now)?;
        let before = self.load(actor, id).await?;
        Self::refuse_if_revoked(&before, "edited")?;
        let mut after = before.clone();
        let changes = edit.apply(&mut after)?.unwrap_or_else(|| json!({}));
        let mut warnings =
            self.guardrails_of(&before.workspace_id).await?.check_edit(&before, &after, now)?;
        warnings.extend(edit_warnings(&before, &after, now));
        let refused = self.callers_refused(&before, &after).await?;
        Ok(EditPreview::new(KeyView::new(&after, now), changes, warnings, refused))
    }

    fn check_edit(&self, actor: &Actor, update: KeyUpdate, now: i64) -> Result<Edit, ManageError> {
        let allow_private_jwks_uri = self.allow_private_jwks_uri;
        let name = update.name.as_deref().map(|n| validate::name("name", n)).transpose()?;
        let description = update.description.as_deref().map(validate::description).transpose()?;
        let scopes = update.scopes.as_deref().map(validate::scopes).transpose()?;
        if let Some(scopes) = &scopes {
            Self::check_grantable(actor, scopes)?;
        }
        let cidrs = update.allowed_cidrs.as_deref().map(validate::cidrs).transpose()?;
        let audiences = update.audiences.as_deref().map(validate::audiences).transpose()?;
        let expires_at = match (&update.expires_at, &update.expires_in) {
            (None, None) => None,
            (Some(None), None) => Some(None),
            (Some(Some(at)), in_) => Some(validate::expiry(Some(at), in_.as_deref(), now)?),
            (None, Some(in_)) => Some(validate::expiry(None, Some(in_), now)?),
            (Some(None), Some(_)) => {
                return Err(invalid("expires_in", "give expires_at or expires_in, not both").into())
            }
        };
        Ok(Edit {
            name,
            description,
            scopes,
            cidrs,
            audiences,
            expires_at,
            auth_method: update.token_endpoint_auth_method,
            jwks: update.jwks,
            dpop_bound: update.dpop_bound_access_tokens,
            jwks_uri: update.jwks_uri,
            allow_private_jwks_uri,
        })
    }

    /// Gives the key a new secret, revealed once. The old secret stops working at once
    /// (`grace_seconds` 0) or when the grace period ends; a second rotation during a
    /// grace ends the older secret's grace at once.
    pub async fn rotate(
        &self,
        actor: &Actor,
        id: &str,
        grace_seconds: i64,
    ) -> Result<Rotation, ManageError> {
        if !(0..=MAX_GRACE_SECONDS).contains(&grace_seconds) {
            return Err(invalid(
                "grace_seconds",
                format!("must be between 0 and {MAX_GRACE_SECONDS}"),
            )
            .into());
        }
        actor.require(ManagementScope::KeysWrite)?;
        let current = self.load(actor, id).await?;
        Self::refuse_if_revoked(&current, "rotated")?;
        Self::refuse_if_secretless(&current)?;
        let secret = secret::generate(&current.id, &current.environment);
        let hash = self.hasher.hash(&secret, false).await?;
        let (key, _) = self
            .mutate(actor, id, "key.rotate", |key, now| {
                Self::refuse_if_revoked(key, "rotated")?;
                Self::refuse_if_secretless(key)?;
                let old = std::mem::replace(&mut key.secret_hash, hash);
                key.masked_secret = secret::mask(secret.expose());
                key.imported = false;
                key.rotated_at = Some(now);
                key.previous_last_used_at = None;
                key.previous_use_count = 0;
                key.previous_last_used_ip = None;
                let old_lookup = key.secret_lookup.take();
                // A key that had no secret has nothing to keep working.
                if grace_seconds > 0 && old != NO_SECRET {
                    key.previous_secret_hash = Some(old);
                    key.previous_secret_lookup = old_lookup;
                    key.previous_expires_at = Some(now + grace_seconds);
                } else {
                    key.previous_secret_hash = None;
                    key.previous_secret_lookup = None;
                    key.previous_expires_at = None;
                }
                Ok(Some(json!({
                    "grace_seconds": grace_seconds,
                    "previous_secret_expires_at": key.previous_expires_at.map(rfc3339),
                })))
            })
            .await?;
        Ok(Rotation {
            previous_expires_at: key.previous_expires_at,
            revealed: Revealed {
                key: KeyView::new(&key, self.clock.now()),
                secret: Some(secret),
                warnings: vec![],
            },
        })
    }

    /// Ends a rotation's grace period now: the pre-rotation secret stops working at
    /// once (tokens it minted stop being accepted by `/v1` and introspection).
    /// Without a grace period running, nothing changes.
    pub async fn end_grace(&self, actor: &Actor, id: &str) -> Result<KeyView, ManageError> {
        let (key, _) = self
            .mutate(actor, id, "key.end_grace", |key, now| {
                let Some(until) = key.previous_expires_at.filter(|until| *until > now) else {
                    return Ok(None);
                };
                key.previous_secret_hash = None;
                key.previous_expires_at = None;
                Ok(Some(json!({
                    "previous_secret_expires_at": {"from": rfc3339(until), "to": rfc3339(now)},
                })))
            })
            .await?;
        Ok(KeyView::new(&key, self.clock.now()))
    }

    /// Refuses unless `typed` is the key's name: the guard a person passes before a
    /// permanent action (revoke, delete) from a console.
    pub async fn confirm_name(
        &self,
        actor: &Actor,
        id: &str,
        typed: &str,
    ) -> Result<(), ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let key = self.load(actor, id).await?;
        Ok(validate::confirmation(typed, &key.name, "key")?)
    }

    /// Deletes the row; the audit log keeps the event.
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<(), ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let key = self.load(actor, id).await?;
        let details = json!({"name": key.name, "status": key.status});
        let audit = self.audit(actor, &key, "key.delete", details);
        let deleted = self.store.delete_key(&key.id, &audit).await;
        self.cache.invalidate(&key.id);
        deleted.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound("key"),
            e => e.into(),
        })
    }

    pub(super) async fn flush_usage(&self) -> Result<(), ManageError> {
        if let Some(usage) = &self.usage {
            usage.flush().await?;
        }
        Ok(())
    }
}

/// The hygiene checks: `(value, what it finds)`, as `GET /v1/keys?hygiene=` takes them.
pub const HYGIENE_CHECKS: [(&str, &str); 5] = [
    ("never-expires", "Never expire"),
    ("never-used", "Never used"),
    ("unused-90d", "Unused for 90 days"),
    ("any-address", "Usable from any address"),
    ("no-scope", "Without a scope"),
];

/// The keys hygiene check `check` finds at `now`; `None` for an unknown check.
fn hygiene_filter(check: &str, now: i64) -> Option<KeyFilter> {
    let mut filter = KeyFilter::default();
    match check {
        "never-expires" => filter.never_expires = true,
        "never-used" => filter.never_used = true,
        "unused-90d" => filter.unused_since = Some(now - 90 * 86_400),
        "any-address" => filter.any_address = true,
        "no-scope" => filter.no_scope = true,
        _ => return None,
    }
    Some(filter)
}

/// How many active keys one hygiene check finds.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct HygieneCount {
    /// The check, as `GET /v1/keys?hygiene=` takes it.
    pub check: &'static str,
    pub label: &'static str,
    pub keys: i64,
}

impl Keys {
    /// How many active keys each hygiene check finds in workspace `workspace_id`
    /// (the caller's own unless a platform admin; every workspace for a platform
    /// admin who names none).
    pub async fn hygiene(
        &self,
        actor: &Actor,
        workspace_id: Option<&str>,
    ) -> Result<Vec<HygieneCount>, ManageError> {
        Self::require_read(actor)?;
        let asked = validate::filter("workspace_id", workspace_id)?;
        let workspace_id = match (asked, &actor.workspace_id) {
            (Some(ws), _) if actor.reaches(&ws) => Some(ws),
            (Some(_), _) => Some(String::new()),
            (None, own) if !actor.platform => own.clone(),
            (None, _) => None,
        };
        self.flush_usage().await?;
        let now = self.clock.now();
        let mut counts = Vec::with_capacity(HYGIENE_CHECKS.len());
        for (check, label) in HYGIENE_CHECKS {
            let filter = KeyFilter {
                workspace_id: workspace_id.clone(),
                status: Some(KeyStatus::Active),
                unexpired_at: Some((now, true)),
                ..hygiene_filter(check, now).unwrap_or_default()
            };
            counts.push(HygieneCount { check, label, keys: self.store.count_keys(&filter).await? });
        }
        Ok(counts)
    }
}

/// A page size: 1 to 100, default 50.
pub fn validate_limit(limit: Option<i64>) -> Result<i64, ManageError> {
    let limit = limit.unwrap_or(50);
    if (1..=100).contains(&limit) {
        Ok(limit)
    } else {
        Err(invalid("limit", "must be between 1 and 100").into())
    }
}

fn encode_cursor(created_at: i64, id: &str) -> String {
    B64.encode(format!("{created_at}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ManageError> {
    let bad = || ManageError::from(invalid("cursor", "is not a cursor returned by this API"));
    let text = B64.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    if !super::valid_key_id(id) {
        return Err(bad());
    }
    Ok((at.parse().map_err(|_| bad())?, id.to_string()))
}

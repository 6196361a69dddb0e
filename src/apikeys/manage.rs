//! The key lifecycle, shared by `/v1/keys` and `keymint keys ...`: every change is
//! checked against the caller's reach and rights, written with its audit event in
//! one transaction, and never returns a secret except at creation or rotation.

use std::sync::Arc;

use serde_json::{json, Value};

use super::cache::KeyCache;
use super::catalog::ScopeCatalog;
use super::claims;
use super::client_auth::ClientAuth;
use super::default_workspace;
pub use super::draft::{KeyDraft, NewKey, Revealed};
use super::hashing::Hasher;
use super::policy::{Guardrails, KeyPolicy};
use super::secret::{self, Secret};
use super::validate::{self, invalid};
use super::{Actor, KeyView, ManageError};
use crate::clock::rfc3339;
use crate::clock::Clock;
use crate::store::{
    AuditRecord, Credential, KeyRecord, KeyStatus, PreviousSecret, Store, StoreError, StoredSecret,
    WorkspaceSetting,
};
use crate::usage::Usage;
use crate::vocab::scope::{ManagementScope, Scope};
use crate::vocab::Action;

/// Longest grace period for the old secret after a rotation: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 86_400;

/// The result of a rotation.
#[derive(Debug)]
pub struct Rotation {
    pub revealed: Revealed,
    /// When the old secret stops working (`None`: it already has).
    pub previous_expires_at: Option<i64>,
}

/// The key management service.
#[derive(Clone)]
pub struct Keys {
    pub(super) store: Arc<dyn Store>,
    pub(super) hasher: Arc<Hasher>,
    pub(super) clock: Arc<dyn Clock>,
    cache: Arc<KeyCache>,
    usage: Option<Arc<Usage>>,
    /// `jwks_uri`s may point at private addresses, over `http` too (development).
    pub(super) allow_private_jwks_uri: bool,
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

    fn audit(&self, actor: &Actor, key: &KeyRecord, action: Action, details: Value) -> AuditRecord {
        let at_us = self.clock.now_micros();
        let view = serde_json::to_value(KeyView::new(key, at_us / 1_000_000)).unwrap_or_default();
        AuditRecord::by(actor, at_us, action, &key.id, Some(&key.workspace_id), details)
            .announcing(view)
    }

    /// Reading keys takes `keymint:keys:read` (or `write`, which implies it).
    pub(super) fn require_read(actor: &Actor) -> Result<(), ManageError> {
        actor
            .require(ManagementScope::KeysRead)
            .or_else(|_| actor.require(ManagementScope::KeysWrite))
    }

    /// Refuses management scopes the caller does not hold itself (no escalation).
    pub(super) fn check_grantable(actor: &Actor, scopes: &[Scope]) -> Result<(), ManageError> {
        let not_held = |s: &&Scope| s.management().is_some_and(|m| !actor.holds(m));
        match scopes.iter().find(not_held) {
            Some(s) => Err(ManageError::Forbidden(format!(
                "cannot grant {s}: the caller does not hold it"
            ))),
            None => Ok(()),
        }
    }

    /// The key policy and scope catalog of workspace `workspace_id`.
    pub(super) async fn guardrails_of(
        &self,
        workspace_id: &str,
    ) -> Result<Guardrails, ManageError> {
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
    /// Whether `actor` may import an existing secret instead of having one
    /// generated: the one rule the API applies and the console's form follows.
    pub fn may_import(actor: &Actor) -> bool {
        actor.holds(ManagementScope::KeysWrite)
    }

    pub async fn review(&self, actor: &Actor, new: &NewKey) -> Result<KeyDraft, ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let now = self.clock.now();
        let workspace_id = match (&new.workspace_id, &actor.workspace_id) {
            (Some(ws), _) => validate::filter("workspace_id", Some(ws))?.unwrap_or_default(),
            (None, Some(own)) => own.clone(),
            // A caller with no workspace of its own (the local CLI) creates in the
            // default one ([`Keys::create`] makes it first if there is none yet).
            (None, None) => match default_workspace::find(self.store.as_ref()).await? {
                Some(ws) => ws.id,
                None => {
                    return Err(invalid(
                        "workspace_id",
                        "is required: there is no default workspace yet",
                    )
                    .into())
                }
            },
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
            if !Self::may_import(actor) {
                return Err(ManageError::Forbidden(
                    "importing a secret needs the keymint:keys:write scope".into(),
                ));
            }
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
        let claims = new.claims.as_ref().map(claims::claims).transpose()?.unwrap_or_default();
        let owner = new.owner.as_deref().map(claims::owner).transpose()?.flatten();
        let federated = claims::federated(&new.federated_credentials, self.allow_private_jwks_uri)?;
        Ok(KeyDraft {
            claims,
            owner,
            federated,
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
        if new.workspace_id.is_none() && actor.workspace_id.is_none() {
            actor.require(ManagementScope::KeysWrite)?;
            default_workspace::ensure(self.store.as_ref(), self.clock.as_ref()).await?;
        }
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
            claims,
            owner,
            federated,
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
        let credential = match client_auth {
            ClientAuth::PublicKeys(source) => Credential::PublicKeys(source),
            ClientAuth::Secret(method) => {
                let current = match &secret {
                    Some(s) => Some(self.stored_secret(s, imported).await?),
                    None => None,
                };
                Credential::Secret { method, current, previous: None }
            }
        };
        let key = KeyRecord {
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
            credential,
            dpop_bound: new.dpop_bound_access_tokens.unwrap_or(false),
            claims,
            owner,
            federated,
            previous_use: None,
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
            "token_endpoint_auth_method": key.credential.method().as_str(),
            "dpop_bound_access_tokens": key.dpop_bound,
            "claims": key.claims, "owner": key.owner, "federated_credentials": key.federated,
        });
        self.store.insert_key(&key, &self.audit(actor, &key, Action::KeyCreate, details)).await?;
        // In case the id was looked up (and remembered as absent) before it existed.
        self.cache.invalidate(&key.id);
        Ok(Revealed { key: KeyView::new(&key, now), secret, warnings })
    }

    /// How `secret` is stored: hashed, masked, and (imported) findable by its value.
    async fn stored_secret(
        &self,
        secret: &Secret,
        imported: bool,
    ) -> Result<StoredSecret, ManageError> {
        Ok(StoredSecret {
            hash: self.hasher.hash(secret, imported).await?,
            masked: secret::mask(secret.expose()),
            imported,
            lookup: imported.then(|| self.hasher.lookup(secret)),
        })
    }

    /// One key.
    pub async fn get(&self, actor: &Actor, id: &str) -> Result<KeyView, ManageError> {
        Self::require_read(actor)?;
        self.settle_usage().await?;
        let key = self.load(actor, id).await?;
        Ok(KeyView::new(&key, self.clock.now()))
    }

    /// Loads a key, applies `change` and writes it with its audit event. `change`
    /// returns the audit details, or `None` when nothing changed (idempotent repeats).
    async fn mutate(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        change: impl FnOnce(&mut KeyRecord, i64) -> Result<Option<Value>, ManageError>,
    ) -> Result<(KeyRecord, Option<Value>), ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let key = self.load(actor, id).await?;
        self.write_change(actor, key, action, change).await
    }

    /// [`Keys::mutate`] for a key the caller already loaded (and may write): the
    /// write names the version read, so a change made meanwhile is a conflict.
    pub(super) async fn write_change(
        &self,
        actor: &Actor,
        mut key: KeyRecord,
        action: Action,
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

    /// The current and pre-rotation secrets of `key`, to change them. A key that
    /// authenticates by assertion has none to rotate: its public keys change by an
    /// edit of `jwks`.
    fn secrets_of(
        key: &mut KeyRecord,
    ) -> Result<(&mut Option<StoredSecret>, &mut Option<PreviousSecret>), ManageError> {
        match &mut key.credential {
            Credential::Secret { current, previous, .. } => Ok((current, previous)),
            Credential::PublicKeys(_) => Err(ManageError::Conflict(format!(
                "key {} authenticates with private_key_jwt and has no secret; change its jwks, \
                 or set token_endpoint_auth_method to client_secret_basic first",
                key.id
            ))),
        }
    }

    pub(super) fn refuse_if_revoked(key: &KeyRecord, what: &str) -> Result<(), ManageError> {
        if key.status == KeyStatus::Revoked {
            Err(ManageError::Conflict(format!(
                "key {} is revoked; revocation is permanent, so it cannot be {what}",
                key.id
            )))
        } else {
            Ok(())
        }
    }

    /// Revokes a key, permanently. Revoking a revoked key changes nothing. With
    /// `typed` (a console asks a person to type the key's name), the name is checked
    /// against the very row the revocation writes.
    pub async fn revoke(
        &self,
        actor: &Actor,
        id: &str,
        typed: Option<&str>,
    ) -> Result<KeyView, ManageError> {
        let change = revocation(actor.id.clone(), typed.map(str::to_string), None);
        let (key, _) = self.mutate(actor, id, Action::KeyRevoke, change).await?;
        Ok(KeyView::new(&key, self.clock.now()))
    }

    /// Revokes the key `holder` authenticated as, by its holder's own word (RFC
    /// 7009 with possession as proof: `POST /oauth/revoke` with the key's secret as
    /// the token): no admin needed, audited as the key revoking itself.
    pub async fn revoke_own(
        &self,
        holder: &super::auth::Authenticated,
        ip: Option<std::net::IpAddr>,
    ) -> Result<KeyView, ManageError> {
        let key = &holder.key;
        let actor = Actor {
            id: key.id.clone(),
            email: None,
            ip: ip.map(|ip| ip.to_string()),
            workspace_id: Some(key.workspace_id.clone()),
            platform: false,
            scopes: Vec::new(),
        };
        let fresh = self.load(&actor, &key.id).await?;
        let change = revocation(actor.id.clone(), None, Some("revoked by its holder"));
        let (key, _) = self.write_change(&actor, fresh, Action::KeyRevoke, change).await?;
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
            (Action::KeyActivate, KeyStatus::Active)
        } else {
            (Action::KeyDeactivate, KeyStatus::Inactive)
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
        let mut current = self.load(actor, id).await?;
        Self::refuse_if_revoked(&current, "rotated")?;
        Self::secrets_of(&mut current)?;
        let secret = secret::generate(&current.id, &current.environment);
        let stored = self.stored_secret(&secret, false).await?;
        let (key, _) = self
            .mutate(actor, id, Action::KeyRotate, |key, now| {
                Self::refuse_if_revoked(key, "rotated")?;
                let (current, previous) = Self::secrets_of(key)?;
                // A key that had no secret has nothing to keep working.
                *previous = current.replace(stored).filter(|_| grace_seconds > 0).map(|old| {
                    PreviousSecret {
                        hash: old.hash,
                        lookup: old.lookup,
                        expires_at: now + grace_seconds,
                    }
                });
                key.rotated_at = Some(now);
                key.previous_use = None;
                Ok(Some(json!({
                    "grace_seconds": grace_seconds,
                    "previous_secret_expires_at": previous_expires_at(key).map(rfc3339),
                })))
            })
            .await?;
        Ok(Rotation {
            previous_expires_at: previous_expires_at(&key),
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
            .mutate(actor, id, Action::KeyEndGrace, |key, now| {
                let Credential::Secret { previous, .. } = &mut key.credential else {
                    return Ok(None);
                };
                let Some(until) = previous.as_ref().map(|p| p.expires_at).filter(|at| *at > now)
                else {
                    return Ok(None);
                };
                *previous = None;
                Ok(Some(json!({
                    "previous_secret_expires_at": {"from": rfc3339(until), "to": rfc3339(now)},
                })))
            })
            .await?;
        Ok(KeyView::new(&key, self.clock.now()))
    }

    /// Deletes the row; the audit log keeps the event. With `typed`, only if it is
    /// the key's name (see [`Keys::revoke`]).
    pub async fn delete(
        &self,
        actor: &Actor,
        id: &str,
        typed: Option<&str>,
    ) -> Result<(), ManageError> {
        actor.require(ManagementScope::KeysWrite)?;
        let key = self.load(actor, id).await?;
        if let Some(typed) = typed {
            validate::confirmation(typed, &key.name, "key")?;
        }
        let details = json!({"name": key.name, "status": key.status});
        let audit = self.audit(actor, &key, Action::KeyDelete, details);
        let deleted = self.store.delete_key(&key.id, &audit).await;
        self.cache.invalidate(&key.id);
        deleted.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound("key"),
            e => e.into(),
        })
    }

    pub(super) async fn settle_usage(&self) -> Result<(), ManageError> {
        if let Some(usage) = &self.usage {
            usage.settle().await?;
        }
        Ok(())
    }
}

/// When the pre-rotation secret of `key` stops (or stopped) working.
fn previous_expires_at(key: &KeyRecord) -> Option<i64> {
    key.credential.previous().map(|p| p.expires_at)
}

/// The change that revokes a key (`by` names who did it; `typed`, when a person
/// typed the key's name to confirm; `reason`, said in the audit event). Revoking
/// a revoked key changes nothing.
pub(super) fn revocation(
    by: String,
    typed: Option<String>,
    reason: Option<&'static str>,
) -> impl FnOnce(&mut KeyRecord, i64) -> Result<Option<Value>, ManageError> {
    move |key, now| {
        if let Some(typed) = typed {
            validate::confirmation(&typed, &key.name, "key")?;
        }
        if key.status == KeyStatus::Revoked {
            return Ok(None);
        }
        let before = std::mem::replace(&mut key.status, KeyStatus::Revoked);
        key.revoked_at = Some(now);
        key.revoked_by = Some(by);
        if let Credential::Secret { previous, .. } = &mut key.credential {
            *previous = None;
        }
        let mut details = json!({"status": {"from": before, "to": "revoked"}});
        if let Some(reason) = reason {
            details["reason"] = json!(reason);
        }
        Ok(Some(details))
    }
}

//! Workspaces (tenants): create, list, rename, delete, and the default workspace
//! that holds the first platform-admin key.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::apikeys::cache::KeyCache;
use crate::apikeys::catalog::ScopeCatalog;
use crate::apikeys::default_workspace;
use crate::apikeys::policy::KeyPolicy;
use crate::apikeys::secret::random_base62;
use crate::clock::{rfc3339, Clock};
use crate::store::{AuditRecord, KeyFilter, Store, StoreError, WorkspaceRecord, WorkspaceSetting};
use crate::vocab::scope::ManagementScope;
use crate::vocab::{Action, Actor, FieldError, ManageError};

pub use crate::apikeys::default_workspace::DEFAULT_WORKSPACE;

/// A workspace as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

impl From<&WorkspaceRecord> for WorkspaceView {
    fn from(w: &WorkspaceRecord) -> Self {
        WorkspaceView { id: w.id.clone(), name: w.name.clone(), created_at: rfc3339(w.created_at) }
    }
}

/// The body of a create or rename request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceInput {
    /// 1-100 characters, no control characters; unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*\S[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
}

/// The workspace service.
#[derive(Clone)]
pub struct Workspaces {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cache: Arc<KeyCache>,
}

impl Workspaces {
    /// Deleting a workspace drops its keys from `cache`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, cache: Arc<KeyCache>) -> Self {
        Workspaces { store, clock, cache }
    }

    fn audit(
        &self,
        actor: &Actor,
        id: &str,
        action: Action,
        details: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord::by(actor, self.clock.now_micros(), action, id, Some(id), details)
    }

    /// Reading workspaces takes a key or workspace management scope.
    fn require_reader(actor: &Actor) -> Result<(), ManageError> {
        [ManagementScope::KeysRead, ManagementScope::KeysWrite, ManagementScope::WorkspacesAdmin]
            .into_iter()
            .find_map(|s| actor.require(s).ok())
            .ok_or_else(|| {
                ManageError::Forbidden("this action needs the keymint:keys:read scope".into())
            })
    }

    fn require_platform(actor: &Actor) -> Result<(), ManageError> {
        actor.require(ManagementScope::WorkspacesAdmin)
    }

    /// Creates a workspace (platform admins only).
    pub async fn create(
        &self,
        actor: &Actor,
        input: WorkspaceInput,
    ) -> Result<WorkspaceView, ManageError> {
        Self::require_platform(actor)?;
        let name = crate::apikeys::validate_name("name", &input.name)?;
        let ws = WorkspaceRecord {
            id: format!("ws_{}", random_base62(12)),
            name,
            created_at: self.clock.now(),
        };
        let audit = self.audit(actor, &ws.id, Action::WorkspaceCreate, json!({"name": ws.name}));
        self.store.insert_workspace(&ws, &audit).await?;
        Ok((&ws).into())
    }

    /// The workspaces the caller reaches.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<WorkspaceView>, ManageError> {
        Self::require_reader(actor)?;
        let all = self.store.list_workspaces().await?;
        Ok(all.iter().filter(|w| actor.reaches(&w.id)).map(Into::into).collect())
    }

    /// One workspace the caller reaches.
    pub async fn get(&self, actor: &Actor, id: &str) -> Result<WorkspaceView, ManageError> {
        Self::require_reader(actor)?;
        if !actor.reaches(id) || !crate::apikeys::workspace_id_form(id) {
            return Err(ManageError::NotFound("workspace"));
        }
        match self.store.get_workspace(id).await {
            Ok(w) => Ok((&w).into()),
            Err(StoreError::NotFound) => Err(ManageError::NotFound("workspace")),
            Err(e) => Err(e.into()),
        }
    }

    /// Renames a workspace (platform admins only).
    pub async fn rename(
        &self,
        actor: &Actor,
        id: &str,
        input: WorkspaceInput,
    ) -> Result<WorkspaceView, ManageError> {
        Self::require_platform(actor)?;
        let before = self.get(actor, id).await?;
        let name = crate::apikeys::validate_name("name", &input.name)?;
        let audit =
            self.audit(actor, id, Action::WorkspaceRename, json!({"name": [before.name, name]}));
        self.store.rename_workspace(id, &name, &audit).await.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound("workspace"),
            e => e.into(),
        })?;
        self.get(actor, id).await
    }

    /// A setting of a workspace the caller reaches.
    pub async fn setting<T: Setting>(&self, actor: &Actor, id: &str) -> Result<T, ManageError> {
        let ws = self.get(actor, id).await?;
        let text = self.store.workspace_setting(&ws.id, T::KIND).await?;
        serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("stored {}: {e}", T::NAME)).into())
    }

    /// Replaces a setting of a workspace (platform admins only), audited with its
    /// before and after. Keys that exist keep working; a setting applies to every
    /// later create and edit.
    pub async fn set_setting<T: Setting>(
        &self,
        actor: &Actor,
        id: &str,
        value: T,
    ) -> Result<T, ManageError> {
        Self::require_platform(actor)?;
        let before: T = self.setting(actor, id).await?;
        value.check(self.clock.now())?;
        if before == value {
            return Ok(value);
        }
        let details = json!({ T::NAME: {"from": before, "to": value} });
        let audit = self.audit(actor, id, T::ACTION, details);
        let text = serde_json::to_string(&value).unwrap_or_else(|_| "{}".into());
        self.store.set_workspace_setting(id, T::KIND, &text, &audit).await.map_err(
            |e| match e {
                StoreError::NotFound => ManageError::NotFound("workspace"),
                e => e.into(),
            },
        )?;
        Ok(value)
    }

    /// The key policy of a workspace the caller reaches.
    pub async fn key_policy(&self, actor: &Actor, id: &str) -> Result<KeyPolicy, ManageError> {
        self.setting(actor, id).await
    }

    /// Replaces the key policy of a workspace (platform admins only).
    pub async fn set_key_policy(
        &self,
        actor: &Actor,
        id: &str,
        policy: KeyPolicy,
    ) -> Result<KeyPolicy, ManageError> {
        self.set_setting(actor, id, policy).await
    }

    /// The scope catalog of a workspace the caller reaches.
    pub async fn scope_catalog(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<ScopeCatalog, ManageError> {
        self.setting(actor, id).await
    }

    /// Replaces the scope catalog of a workspace (platform admins only).
    pub async fn set_scope_catalog(
        &self,
        actor: &Actor,
        id: &str,
        catalog: ScopeCatalog,
    ) -> Result<ScopeCatalog, ManageError> {
        self.set_setting(actor, id, catalog).await
    }

    /// Deletes a workspace; refused while it holds keys unless `force` (which deletes them).
    /// With `typed` (a console asks a person to type the workspace's name), only if
    /// it is that name.
    pub async fn delete(
        &self,
        actor: &Actor,
        id: &str,
        force: bool,
        typed: Option<&str>,
    ) -> Result<(), ManageError> {
        Self::require_platform(actor)?;
        if actor.workspace_id.as_deref() == Some(id) {
            return Err(ManageError::Conflict("a caller cannot delete its own workspace".into()));
        }
        let before = self.get(actor, id).await?;
        if let Some(typed) = typed {
            crate::apikeys::validate_confirmation(typed, &before.name, "workspace")?;
        }
        if self.holds_last_platform_admin(id).await? {
            return Err(ManageError::Conflict(
                "this workspace holds the last active platform-admin key; create one in \
                 another workspace first"
                    .into(),
            ));
        }
        let audit = self.audit(
            actor,
            id,
            Action::WorkspaceDelete,
            json!({"name": before.name, "force": force}),
        );
        let deleted = self.store.delete_workspace(id, force, &audit).await;
        self.cache.clear();
        deleted.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound("workspace"),
            StoreError::Conflict(_) => ManageError::Conflict(
                "the workspace still holds keys; delete them first or pass force=true".into(),
            ),
            e => e.into(),
        })
    }

    /// Whether workspace `id` holds an active platform-admin key and no other
    /// workspace does: deleting it would leave nobody able to administer keymint.
    async fn holds_last_platform_admin(&self, id: &str) -> Result<bool, ManageError> {
        let platform_admins = |inside: bool| KeyFilter {
            workspace_id: inside.then(|| id.to_string()),
            outside_workspace_id: (!inside).then(|| id.to_string()),
            status: Some(crate::store::KeyStatus::Active),
            unexpired_at: Some((self.clock.now(), true)),
            has_scope: Some(ManagementScope::WorkspacesAdmin.as_str().into()),
            limit: 1,
            ..KeyFilter::default()
        };
        if !self.store.list_keys(&platform_admins(false)).await?.is_empty() {
            return Ok(false);
        }
        Ok(!self.store.list_keys(&platform_admins(true)).await?.is_empty())
    }

    /// The default workspace, created if missing.
    pub async fn ensure_default(&self) -> Result<WorkspaceRecord, ManageError> {
        default_workspace::ensure(self.store.as_ref(), self.clock.as_ref()).await
    }
}

/// A workspace setting kept as JSON text: the key policy or the scope catalog.
pub trait Setting: Serialize + DeserializeOwned + PartialEq {
    const KIND: WorkspaceSetting;
    /// Its name in messages.
    const NAME: &'static str;
    /// What the audit log calls setting it.
    const ACTION: Action;
    /// Refuses a value an admin may not set.
    fn check(&self, now: i64) -> Result<(), FieldError>;
}

impl Setting for KeyPolicy {
    const KIND: WorkspaceSetting = WorkspaceSetting::KeyPolicy;
    const NAME: &'static str = "key_policy";
    const ACTION: Action = Action::WorkspaceKeyPolicy;
    fn check(&self, now: i64) -> Result<(), FieldError> {
        KeyPolicy::check(self, now)
    }
}

impl Setting for ScopeCatalog {
    const KIND: WorkspaceSetting = WorkspaceSetting::ScopeCatalog;
    const NAME: &'static str = "scope_catalog";
    const ACTION: Action = Action::WorkspaceScopeCatalog;
    fn check(&self, _now: i64) -> Result<(), FieldError> {
        ScopeCatalog::check(self)
    }
}

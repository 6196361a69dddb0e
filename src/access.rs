//! Role bindings: which people get which rights. A binding gives a role
//! (`platform-admin`, `workspace-admin`, `read-only`) to a subject (an identity
//! provider group, or one email address) in one workspace or in all. Managing
//! them takes `keymint:workspaces:admin`, as every right they can give is at most
//! a platform admin's.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::apikeys::workspace_id_form;
use crate::clock::{rfc3339, Clock};
use crate::store::{AuditRecord, RoleBindingRecord, Store, StoreError};
use crate::vocab::base62::random_base62;
use crate::vocab::role::{Role, Subject};
use crate::vocab::scope::ManagementScope;
use crate::vocab::{invalid, Action, Actor, ManageError};

/// The body of a create request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBindingInput {
    /// `group:<name>` (members of an identity-provider group) or
    /// `email:<address>` (one person, by verified email).
    #[schema(
        example = "group:keymint-admins",
        max_length = 256,
        pattern = r"^(group:[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?|email:[^\s@\x00-\x1f\x7f-\x9f]+@[^\s@.\x00-\x1f\x7f-\x9f][^\s@\x00-\x1f\x7f-\x9f]*\.[^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f])$"
    )]
    pub subject: String,
    /// The workspace the role applies in; absent or null for every workspace.
    pub workspace_id: Option<String>,
    /// `platform-admin`, `workspace-admin` or `read-only`.
    #[schema(example = "read-only", pattern = "^(platform-admin|workspace-admin|read-only)$")]
    pub role: String,
}

/// A role binding as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct RoleBindingView {
    pub id: String,
    pub subject: String,
    /// `null`: every workspace.
    pub workspace_id: Option<String>,
    pub role: String,
    pub created_at: String,
    pub created_by: String,
}

impl From<&RoleBindingRecord> for RoleBindingView {
    fn from(b: &RoleBindingRecord) -> Self {
        RoleBindingView {
            id: b.id.clone(),
            subject: b.subject.to_string(),
            workspace_id: b.workspace_id.clone(),
            role: b.role.as_str().to_string(),
            created_at: rfc3339(b.created_at_us.div_euclid(1_000_000)),
            created_by: b.created_by.clone(),
        }
    }
}

/// The role binding service, shared by `/v1/role-bindings` and the CLI.
#[derive(Clone)]
pub struct RoleBindings {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl RoleBindings {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        RoleBindings { store, clock }
    }

    /// Binds a role to a subject, once per subject, workspace and role.
    pub async fn create(
        &self,
        actor: &Actor,
        input: RoleBindingInput,
    ) -> Result<RoleBindingView, ManageError> {
        actor.require(ManagementScope::WorkspacesAdmin)?;
        let subject = Subject::parse(&input.subject)?;
        let role = Role::parse(&input.role).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            invalid("role", format!("must be one of {}", names.join(", ")))
        })?;
        let workspace_id = input.workspace_id.filter(|ws| !ws.is_empty());
        if workspace_id.as_deref().is_some_and(|ws| !workspace_id_form(ws)) {
            return Err(ManageError::NotFound("workspace"));
        }
        if role.spans_workspaces() && workspace_id.is_some() {
            return Err(invalid(
                "workspace_id",
                "must be null for platform-admin, which acts on every workspace",
            )
            .into());
        }
        let record = RoleBindingRecord {
            id: format!("rb_{}", random_base62(12)),
            subject,
            workspace_id,
            role,
            created_at_us: self.clock.now_micros(),
            created_by: actor.id.clone(),
        };
        let audit = self.audit(actor, &record, Action::RoleBindingCreate);
        self.store.insert_role_binding(&record, &audit).await.map_err(|e| match e {
            StoreError::NotFound => ManageError::NotFound("workspace"),
            e => e.into(),
        })?;
        Ok(RoleBindingView::from(&record))
    }

    /// Every role binding, oldest first.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<RoleBindingView>, ManageError> {
        actor.require(ManagementScope::WorkspacesAdmin)?;
        Ok(self.store.list_role_bindings().await?.iter().map(RoleBindingView::from).collect())
    }

    /// Removes a binding: the rights it gave end at once.
    pub async fn delete(&self, actor: &Actor, id: &str) -> Result<(), ManageError> {
        actor.require(ManagementScope::WorkspacesAdmin)?;
        let bindings = self.store.list_role_bindings().await?;
        let binding =
            bindings.iter().find(|b| b.id == id).ok_or(ManageError::NotFound("role binding"))?;
        let audit = self.audit(actor, binding, Action::RoleBindingDelete);
        if self.store.delete_role_binding(id, &audit).await? {
            Ok(())
        } else {
            Err(ManageError::NotFound("role binding"))
        }
    }

    /// The audit event of `action` on `binding`, which names what it binds.
    fn audit(&self, actor: &Actor, binding: &RoleBindingRecord, action: Action) -> AuditRecord {
        let details = json!({
            "subject": binding.subject.to_string(),
            "workspace_id": binding.workspace_id,
            "role": binding.role.as_str(),
        });
        AuditRecord::by(
            actor,
            self.clock.now_micros(),
            action,
            &binding.id,
            binding.workspace_id.as_deref(),
            details,
        )
    }
}

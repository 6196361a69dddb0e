//! Who acts: a key calling the management API, or the local CLI, with the
//! rights its management scopes give and the workspaces it reaches.

use super::scope::ManagementScope;
use super::ManageError;

/// Who performs a management action, for access control and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The caller's key id, a person's id (`p_...`), or `cli` / `bootstrap` for
    /// local commands.
    pub id: String,
    /// A person's email address, which the audit log shows beside their id.
    pub email: Option<String>,
    pub ip: Option<String>,
    /// The caller's own workspace (where keys it creates go by default).
    pub workspace_id: Option<String>,
    /// Reaches every workspace: an admin key holding `keymint:workspaces:admin`,
    /// the CLI, or a person bound to a role in every workspace. What it may do
    /// there is still what its scopes say.
    pub platform: bool,
    /// The management scopes the caller holds.
    pub scopes: Vec<ManagementScope>,
}

impl Actor {
    /// The local operator, acting through the CLI with full rights.
    pub fn cli() -> Self {
        Actor {
            id: "cli".into(),
            email: None,
            ip: None,
            workspace_id: None,
            platform: true,
            scopes: ManagementScope::ALL.to_vec(),
        }
    }

    /// What the caller may do, in one word for people: `platform admin` (every
    /// workspace), `workspace admin` (writes keys in its own) or `read-only`.
    pub fn role(&self) -> &'static str {
        if self.holds(ManagementScope::WorkspacesAdmin) {
            "platform admin"
        } else if self.holds(ManagementScope::KeysWrite) {
            "workspace admin"
        } else {
            "read-only"
        }
    }

    /// Whether the caller holds management scope `scope`.
    pub fn holds(&self, scope: ManagementScope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Refuses the action unless the caller holds management scope `scope`.
    pub fn require(&self, scope: ManagementScope) -> Result<(), ManageError> {
        if self.holds(scope) {
            Ok(())
        } else {
            Err(ManageError::Forbidden(format!("this action needs the {scope} scope")))
        }
    }

    /// Whether the caller may see and act on things in `workspace_id`.
    pub fn reaches(&self, workspace_id: &str) -> bool {
        self.platform || self.workspace_id.as_deref() == Some(workspace_id)
    }

    /// The workspace a read across a workspace covers: the one `asked` for, which
    /// the caller must reach (a workspace out of its reach is not found, as it is
    /// on every door and every read), else the caller's own, or every workspace
    /// (`None`) for a platform admin.
    pub fn read_scope(&self, asked: Option<String>) -> Result<Option<String>, ManageError> {
        match asked {
            Some(ws) if self.reaches(&ws) => Ok(Some(ws)),
            Some(_) => Err(ManageError::NotFound("workspace")),
            None if self.platform => Ok(None),
            None => Ok(self.workspace_id.clone()),
        }
    }
}

//! API keys: the secret format, secret storage, client authentication and the
//! management lifecycle (create, list, edit, rotate, revoke ...) shared by the
//! HTTP API and the CLI.

mod auth;
pub mod cache;
pub mod catalog;
pub mod client_auth;
mod edit;
pub mod hashing;
pub mod jwks;
mod listing;
mod manage;
pub mod policy;
pub mod secret;
mod usage;
mod validate;
mod view;

pub use auth::{
    address_allowed, authenticate, secret_backed, secret_tag, token_backed, usable, valid_key_id,
    AuthFailure, Authenticated, TOKEN_ID_LEN,
};
pub use edit::{EditPreview, KeyUpdate};
pub use listing::{validate_limit, HygieneCount, KeyListQuery, KeyPage, HYGIENE_CHECKS};
pub use manage::{KeyDraft, Keys, NewKey, Revealed, Rotation, MAX_GRACE_SECONDS};
pub use usage::PREVIEW_DAYS;
pub use validate::{
    cidrs as validate_cidrs, confirmation as validate_confirmation, filter as validate_filter,
    instant as validate_instant, invalid as field_error, name as validate_name, workspace_id_form,
    FieldError,
};
pub use view::{key_status, KeyView};

use crate::oauth::scope::ManagementScope;

/// Who performs a management action, for access control and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The caller's key id, or `cli` / `bootstrap` for local commands.
    pub id: String,
    pub ip: Option<String>,
    /// The caller's own workspace (where keys it creates go by default).
    pub workspace_id: Option<String>,
    /// Acts on every workspace (holds `keymint:workspaces:admin`, or is the CLI).
    pub platform: bool,
    /// The management scopes the caller holds.
    pub scopes: Vec<ManagementScope>,
}

impl Actor {
    /// The local operator, acting through the CLI with full rights.
    pub fn cli() -> Self {
        Actor {
            id: "cli".into(),
            ip: None,
            workspace_id: None,
            platform: true,
            scopes: ManagementScope::ALL.to_vec(),
        }
    }

    /// Key `key` acting with the management scopes among `granted` that it still
    /// holds; `None` when none of them opens the management API. The one rule for
    /// `/v1` tokens and console sessions.
    pub fn for_key<'a>(
        key: &crate::store::KeyRecord,
        granted: impl IntoIterator<Item = &'a str>,
        ip: Option<std::net::IpAddr>,
    ) -> Option<Actor> {
        let scopes: Vec<ManagementScope> = granted
            .into_iter()
            .filter(|s| key.scopes.iter().any(|k| k == s))
            .filter_map(ManagementScope::parse)
            .collect();
        scopes.iter().any(|s| s.opens_management_api()).then(|| Actor {
            id: key.id.clone(),
            ip: ip.map(|ip| ip.to_string()),
            workspace_id: Some(key.workspace_id.clone()),
            platform: scopes.contains(&ManagementScope::WorkspacesAdmin),
            scopes,
        })
    }

    /// What the caller may do, in one word for people: `platform admin` (every
    /// workspace), `workspace admin` (writes keys in its own) or `read-only`.
    pub fn role(&self) -> &'static str {
        if self.platform {
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

/// Errors of management operations; the HTTP layer maps each to a problem type.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("{0}")]
    Forbidden(String),
    #[error("the service is busy; retry shortly")]
    Busy,
    #[error("the database is unavailable")]
    Unavailable(#[source] crate::store::StoreError),
    /// A fault of keymint's own (corrupt data, a refused statement): logged with its
    /// causes where it is mapped, answered generically.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::store::StoreError> for ManageError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound => ManageError::NotFound("resource"),
            StoreError::Conflict(why) => ManageError::Conflict(why.to_string()),
            e @ (StoreError::Corrupt(_) | StoreError::Rejected(_)) => {
                ManageError::Internal(Box::new(e))
            }
            e @ StoreError::Unavailable(_) => ManageError::Unavailable(e),
        }
    }
}

impl From<hashing::HashError> for ManageError {
    fn from(e: hashing::HashError) -> Self {
        match e {
            hashing::HashError::Busy => ManageError::Busy,
            e @ hashing::HashError::Corrupt => ManageError::Internal(Box::new(e)),
        }
    }
}

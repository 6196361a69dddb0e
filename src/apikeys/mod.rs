//! API keys: the secret format, secret storage, client authentication and the
//! management lifecycle (create, list, edit, rotate, revoke ...) shared by the
//! HTTP API and the CLI.

mod auth;
pub mod cache;
pub mod catalog;
pub mod claims;
pub mod client_auth;
pub mod default_workspace;
mod draft;
mod edit;
mod expiry;
pub mod github;
pub mod hashing;
pub mod jwks;
pub mod jwks_uri;
pub mod leaks;
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
    instant as validate_instant, name as validate_name, workspace_id_form,
};
pub use view::{key_status, KeyView};

use crate::vocab::scope::{ManagementScope, Scope};
use crate::vocab::{Actor, ManageError};

impl Actor {
    /// Key `key` acting with the management scopes among `granted` that it still
    /// holds; `None` when none of them opens the management API. The one rule for
    /// `/v1` tokens and console sessions.
    pub fn for_key(
        key: &crate::store::KeyRecord,
        granted: impl IntoIterator<Item = ManagementScope>,
        ip: Option<std::net::IpAddr>,
    ) -> Option<Actor> {
        let scopes: Vec<ManagementScope> =
            granted.into_iter().filter(|s| key.scopes.contains(&Scope::Management(*s))).collect();
        scopes.iter().any(|s| s.opens_management_api()).then(|| Actor {
            id: key.id.clone(),
            email: None,
            ip: ip.map(|ip| ip.to_string()),
            workspace_id: Some(key.workspace_id.clone()),
            platform: scopes.contains(&ManagementScope::WorkspacesAdmin),
            scopes,
        })
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

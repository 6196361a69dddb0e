//! The records of people and their access: role bindings, people who signed in,
//! the sessions keys and people hold, and the CLI's device grants.

use crate::vocab::role::{Role, Subject};

/// A role binding: the rights people matching `subject` get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleBindingRecord {
    pub id: String,
    pub subject: Subject,
    /// `None`: every workspace (platform admins).
    pub workspace_id: Option<String>,
    pub role: Role,
    /// When it was made, in unix microseconds: bindings list in that order.
    pub created_at_us: i64,
    pub created_by: String,
}

/// A console session. The id itself is never stored: rows are found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Hex SHA-256 of the session id.
    pub id_hash: String,
    pub holder: SessionHolder,
    pub created_at: i64,
    pub seen_at: i64,
}

/// Who signed in to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionHolder {
    /// An admin key (the break-glass door), with the tag of the stored hash of the
    /// secret it signed in with: a rotation ends the session.
    Key { key_id: String, secret_tag: String },
    /// A person who signed in through the identity provider.
    Person { person_id: String },
}

/// A person who signed in through the identity provider: what their last sign-in
/// said of them. Their rights come from role bindings, not from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    /// `p_...`, keymint's own id.
    pub id: String,
    pub issuer: String,
    /// The identity provider's `sub`.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The groups the last sign-in carried.
    pub groups: Vec<String>,
    pub first_sign_in_us: i64,
    pub last_sign_in_us: i64,
}

/// The CLI signing in as a person (RFC 8628): waiting for the person's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrantRecord {
    /// Hex SHA-256 of the device code the CLI holds.
    pub device_hash: String,
    /// The code the person types in the console.
    pub user_code: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub polled_at: i64,
    pub decision: DeviceDecision,
    /// Who approved it (or denied it).
    pub person_id: Option<String>,
}

/// What the person decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceDecision {
    Pending,
    Approved,
    Denied,
}

stored_text!(DeviceDecision { Pending => "pending", Approved => "approved", Denied => "denied" });

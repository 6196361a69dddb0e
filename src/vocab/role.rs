//! What a person may do: a role, bound to a subject (an identity-provider group,
//! or one email address) in one workspace or in all. A role grants exactly the
//! rights of the management scopes it names, so people and admin keys are
//! judged by the same rules.

use std::fmt;

use super::error::{invalid, FieldError};
use super::scope::ManagementScope;

/// A role a binding gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Every management right, on every workspace.
    PlatformAdmin,
    /// Reads and writes keys and reads the audit log, in its workspace.
    WorkspaceAdmin,
    /// Reads keys and the audit log, in its workspace.
    ReadOnly,
}

impl Role {
    /// Every role, most rights first.
    pub const ALL: [Role; 3] = [Role::PlatformAdmin, Role::WorkspaceAdmin, Role::ReadOnly];

    /// Its name in the API, the CLI and the console.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform-admin",
            Role::WorkspaceAdmin => "workspace-admin",
            Role::ReadOnly => "read-only",
        }
    }

    /// The role `name` names.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The management scopes it grants: what an admin key with the same rights holds.
    pub fn scopes(self) -> &'static [ManagementScope] {
        use ManagementScope::*;
        match self {
            Role::PlatformAdmin => {
                &[KeysRead, KeysWrite, AuditRead, SigningKeysAdmin, WorkspacesAdmin]
            }
            Role::WorkspaceAdmin => &[KeysRead, KeysWrite, AuditRead],
            Role::ReadOnly => &[KeysRead, AuditRead],
        }
    }

    /// Whether it acts on every workspace, so a binding of it names none.
    pub fn spans_workspaces(self) -> bool {
        self == Role::PlatformAdmin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a binding is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Every member of this identity-provider group (`group:<name>`).
    Group(String),
    /// The person with this verified email address (`email:<address>`),
    /// compared without regard to case.
    Email(String),
}

/// Longest subject, prefix included.
const MAX_SUBJECT_LEN: usize = 256;

impl Subject {
    /// Parses `group:<name>` or `email:<address>`; an address is kept in lower case.
    pub fn parse(text: &str) -> Result<Subject, FieldError> {
        let bad = |why: &str| invalid("subject", why);
        if text.chars().count() > MAX_SUBJECT_LEN {
            return Err(bad("must be at most 256 characters"));
        }
        if text.chars().any(char::is_control) {
            return Err(bad("must not contain control characters"));
        }
        match text.split_once(':') {
            Some(("group", name)) if !name.trim().is_empty() && name.trim() == name => {
                Ok(Subject::Group(name.to_string()))
            }
            Some(("group", _)) => Err(bad("group:<name> needs a name, with no spaces around it")),
            Some(("email", address)) => match address.split_once('@') {
                Some((local, domain))
                    if !local.is_empty()
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !address.chars().any(char::is_whitespace)
                        && address.matches('@').count() == 1 =>
                {
                    Ok(Subject::Email(address.to_lowercase()))
                }
                _ => Err(bad("email:<address> needs an address such as ana@example.com")),
            },
            _ => Err(bad("must be group:<name> or email:<address>")),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Group(name) => write!(f, "group:{name}"),
            Subject::Email(address) => write!(f, "email:{address}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_a_group_or_one_address() {
        assert_eq!(
            Subject::parse("group:keymint-admins").unwrap().to_string(),
            "group:keymint-admins"
        );
        assert_eq!(
            Subject::parse("email:Ana@Example.COM").unwrap().to_string(),
            "email:ana@example.com"
        );
        for bad in [
            "ana@example.com",
            "group:",
            "group: admins",
            "email:ana",
            "email:@example.com",
            "email:ana@example",
            "email:a b@example.com",
            "email:a@b@example.com",
            "user:ana",
            "group:a\u{7}",
        ] {
            assert_eq!(Subject::parse(bad).unwrap_err().field, "subject", "{bad:?}");
        }
        assert!(Subject::parse(&format!("group:{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn roles_grant_the_rights_of_their_scopes() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert!(role.scopes().contains(&ManagementScope::KeysRead), "{role}");
            assert!(!role.scopes().contains(&ManagementScope::Introspect), "{role}");
        }
        assert!(!Role::ReadOnly.scopes().contains(&ManagementScope::KeysWrite));
        assert!(Role::WorkspaceAdmin.scopes().contains(&ManagementScope::KeysWrite));
        assert!(!Role::WorkspaceAdmin.scopes().contains(&ManagementScope::WorkspacesAdmin));
        assert!(Role::PlatformAdmin.scopes().contains(&ManagementScope::WorkspacesAdmin));
        assert_eq!(Role::parse("admin"), None);
    }
}

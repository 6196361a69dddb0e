//! What happened: every action the audit log records, what it is about, and
//! whether other instances must apply it. A new action is a new variant, and the
//! compiler then asks every place that must react (its name, its target, the
//! change feed) to say how.

/// What an audit event, or a change of the change feed, is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Key,
    Workspace,
    SigningKey,
    RoleBinding,
    Person,
    Webhook,
    /// An access token revoked (RFC 7009): a change of the feed only, never an
    /// audit event.
    Token,
}

impl Target {
    /// Every target, in a fixed order.
    pub const ALL: [Target; 7] = [
        Target::Key,
        Target::Workspace,
        Target::SigningKey,
        Target::RoleBinding,
        Target::Person,
        Target::Webhook,
        Target::Token,
    ];

    /// Its name in the audit log and the change feed.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Key => "key",
            Target::Workspace => "workspace",
            Target::SigningKey => "signing_key",
            Target::RoleBinding => "role_binding",
            Target::Person => "person",
            Target::Webhook => "webhook",
            Target::Token => "token",
        }
    }

    /// The target `name` names, if any (a newer keymint may name others).
    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Every action the audit log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    KeyCreate,
    KeyUpdate,
    KeyRotate,
    KeyEndGrace,
    KeyActivate,
    KeyDeactivate,
    KeyRevoke,
    KeyDelete,
    /// A key expires within a week (announced once, by the expiry job).
    KeyExpiring,
    /// A key's secret was reported found in public (a secret scanner), and the
    /// workspace's leak response applied.
    KeyLeaked,
    /// A rotation's grace period ran out while the old secret was still in use.
    KeyGraceLapsed,
    WorkspaceCreate,
    WorkspaceRename,
    WorkspaceDelete,
    WorkspaceKeyPolicy,
    WorkspaceScopeCatalog,
    SigningKeyCreate,
    SigningKeyRotate,
    SigningKeyEmergencyRotate,
    SigningKeyRemove,
    SigningKeyReseal,
    SessionSignIn,
    SessionSignOut,
    RoleBindingCreate,
    RoleBindingDelete,
    /// A person signed in through the identity provider.
    PersonSignIn,
    /// A person signed out of one session.
    PersonSignOut,
    /// A person the identity provider vouched for was refused: no role reaches them.
    PersonRefused,
    /// Every session of a person was ended (sign out everywhere).
    PersonSessionsEnd,
    /// A person let the CLI act as them (the device flow).
    PersonDeviceApprove,
    /// A person refused a CLI's request to act as them.
    PersonDeviceDeny,
    /// An existing key was refused at the token, introspection or revocation
    /// endpoint (the client only ever sees `invalid_client`).
    TokenRefused,
    WebhookCreate,
    WebhookUpdate,
    /// A webhook endpoint's signing secret was replaced (the old one signs beside
    /// it for a while).
    WebhookRotate,
    WebhookDelete,
}

impl Action {
    /// Every action, in the order of the audit log's documentation.
    pub const ALL: [Action; 36] = [
        Action::KeyCreate,
        Action::KeyUpdate,
        Action::KeyRotate,
        Action::KeyEndGrace,
        Action::KeyActivate,
        Action::KeyDeactivate,
        Action::KeyRevoke,
        Action::KeyDelete,
        Action::KeyExpiring,
        Action::KeyLeaked,
        Action::KeyGraceLapsed,
        Action::WorkspaceCreate,
        Action::WorkspaceRename,
        Action::WorkspaceDelete,
        Action::WorkspaceKeyPolicy,
        Action::WorkspaceScopeCatalog,
        Action::SigningKeyCreate,
        Action::SigningKeyRotate,
        Action::SigningKeyEmergencyRotate,
        Action::SigningKeyRemove,
        Action::SigningKeyReseal,
        Action::SessionSignIn,
        Action::SessionSignOut,
        Action::RoleBindingCreate,
        Action::RoleBindingDelete,
        Action::PersonSignIn,
        Action::PersonSignOut,
        Action::PersonRefused,
        Action::PersonSessionsEnd,
        Action::PersonDeviceApprove,
        Action::PersonDeviceDeny,
        Action::TokenRefused,
        Action::WebhookCreate,
        Action::WebhookUpdate,
        Action::WebhookRotate,
        Action::WebhookDelete,
    ];

    /// Its name in the audit log, e.g. `key.revoke`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::KeyCreate => "key.create",
            Action::KeyUpdate => "key.update",
            Action::KeyRotate => "key.rotate",
            Action::KeyEndGrace => "key.end_grace",
            Action::KeyActivate => "key.activate",
            Action::KeyDeactivate => "key.deactivate",
            Action::KeyRevoke => "key.revoke",
            Action::KeyDelete => "key.delete",
            Action::KeyExpiring => "key.expiring",
            Action::KeyLeaked => "key.leaked",
            Action::KeyGraceLapsed => "key.grace_lapsed",
            Action::WorkspaceCreate => "workspace.create",
            Action::WorkspaceRename => "workspace.rename",
            Action::WorkspaceDelete => "workspace.delete",
            Action::WorkspaceKeyPolicy => "workspace.key_policy",
            Action::WorkspaceScopeCatalog => "workspace.scope_catalog",
            Action::SigningKeyCreate => "signing_key.create",
            Action::SigningKeyRotate => "signing_key.rotate",
            Action::SigningKeyEmergencyRotate => "signing_key.emergency_rotate",
            Action::SigningKeyRemove => "signing_key.remove",
            Action::SigningKeyReseal => "signing_key.reseal",
            Action::SessionSignIn => "session.sign_in",
            Action::SessionSignOut => "session.sign_out",
            Action::RoleBindingCreate => "role_binding.create",
            Action::RoleBindingDelete => "role_binding.delete",
            Action::PersonSignIn => "person.sign_in",
            Action::PersonSignOut => "person.sign_out",
            Action::PersonRefused => "person.refused",
            Action::PersonSessionsEnd => "person.sessions_end",
            Action::PersonDeviceApprove => "person.device_approve",
            Action::PersonDeviceDeny => "person.device_deny",
            Action::TokenRefused => "token.refused",
            Action::WebhookCreate => "webhook.create",
            Action::WebhookUpdate => "webhook.update",
            Action::WebhookRotate => "webhook.rotate",
            Action::WebhookDelete => "webhook.delete",
        }
    }

    /// The action `name` names, if any.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// What it is about.
    pub fn target(self) -> Target {
        use Action::*;
        match self {
            KeyCreate | KeyUpdate | KeyRotate | KeyEndGrace | KeyActivate | KeyDeactivate
            | KeyRevoke | KeyDelete | KeyExpiring | KeyLeaked | KeyGraceLapsed | SessionSignIn
            | SessionSignOut | TokenRefused => Target::Key,
            WorkspaceCreate
            | WorkspaceRename
            | WorkspaceDelete
            | WorkspaceKeyPolicy
            | WorkspaceScopeCatalog => Target::Workspace,
            SigningKeyCreate
            | SigningKeyRotate
            | SigningKeyEmergencyRotate
            | SigningKeyRemove
            | SigningKeyReseal => Target::SigningKey,
            RoleBindingCreate | RoleBindingDelete => Target::RoleBinding,
            PersonSignIn | PersonSignOut | PersonRefused | PersonSessionsEnd
            | PersonDeviceApprove | PersonDeviceDeny => Target::Person,
            WebhookCreate | WebhookUpdate | WebhookRotate | WebhookDelete => Target::Webhook,
        }
    }

    /// Whether it changes what other instances hold in memory (a key, a
    /// workspace's keys, the signing keys), so that the change feed must carry
    /// it. A refusal or a console session changes nothing they hold, nor does a
    /// role binding: rights are read from the database at each sign-in.
    pub fn announces_change(self) -> bool {
        use Action::*;
        match self {
            KeyCreate
            | KeyUpdate
            | KeyRotate
            | KeyEndGrace
            | KeyActivate
            | KeyDeactivate
            | KeyRevoke
            | KeyDelete
            | KeyLeaked
            | WorkspaceCreate
            | WorkspaceRename
            | WorkspaceDelete
            | WorkspaceKeyPolicy
            | WorkspaceScopeCatalog
            | SigningKeyCreate
            | SigningKeyRotate
            | SigningKeyEmergencyRotate
            | SigningKeyRemove
            | SigningKeyReseal => true,
            KeyExpiring | KeyGraceLapsed | SessionSignIn | SessionSignOut | RoleBindingCreate
            | RoleBindingDelete | PersonSignIn | PersonSignOut | PersonRefused
            | PersonSessionsEnd | PersonDeviceApprove | PersonDeviceDeny | TokenRefused
            | WebhookCreate | WebhookUpdate | WebhookRotate | WebhookDelete => false,
        }
    }

    /// The webhook event it raises, if any (docs/webhooks.md): every change of a
    /// key's lifecycle and a signing key rotation.
    pub fn webhook_event(self) -> Option<&'static str> {
        use Action::*;
        Some(match self {
            KeyCreate => "key.created",
            KeyUpdate => "key.updated",
            KeyRotate => "key.rotated",
            KeyEndGrace | KeyGraceLapsed => "key.grace_ended",
            KeyActivate => "key.activated",
            KeyDeactivate => "key.deactivated",
            KeyRevoke => "key.revoked",
            KeyDelete => "key.deleted",
            KeyExpiring => "key.expiring",
            KeyLeaked => "key.leaked",
            SigningKeyRotate | SigningKeyEmergencyRotate => "signing_key.rotated",
            _ => return None,
        })
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_action_and_names_its_target() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
            let (target, _) = action.as_str().split_once('.').unwrap_or_default();
            let target = if target == "session" || target == "token" { "key" } else { target };
            assert_eq!(action.target().as_str(), target, "{action}");
        }
        for target in Target::ALL {
            assert_eq!(Target::parse(target.as_str()), Some(target));
        }
        assert_eq!(Action::parse("key.teleport"), None);
    }
}

//! People: who signed in through the organisation's identity provider, and what
//! they may do. A person's rights are never stored: they are worked out from the
//! role bindings and the `--sso-admin-groups` at every sign-in and every request
//! of their sessions, so deleting a binding ends the rights it gave at once, and
//! leaving a group at the provider ends them at the next sign-in.
//!
//! A person acts as an [`Actor`](crate::vocab::Actor) like an admin key, with the management scopes
//! of their role, so every domain function judges them by the same rules:
//!
//! - a member of an admin group, or a person bound to `platform-admin`, is a
//!   platform admin;
//! - otherwise the binding that grants the most rights decides: a role in every
//!   workspace (`workspace_id` null) reaches every workspace with that role's
//!   scopes; a role in one workspace reaches that one (of several such, the
//!   strongest role, then the first workspace by id);
//! - an `email:` binding matches only an address the provider says is verified,
//!   compared without regard to case.

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;

use crate::clock::{rfc3339, Clock};
use crate::sso::Identity;
use crate::store::{AuditRecord, PersonRecord, RoleBindingRecord, Store, StoreError};
use crate::vocab::base62::random_base62;
use crate::vocab::role::{Role, Subject};
use crate::vocab::scope::ManagementScope;
use crate::vocab::{Action, Actor, ManageError};

/// What a person may do: a role, in one workspace or (`None`) in every one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub workspace_id: Option<String>,
}

impl Grant {
    /// The actor a person with this grant is.
    pub fn actor(&self, person: &PersonRecord, ip: Option<std::net::IpAddr>) -> Actor {
        Actor {
            id: person.id.clone(),
            email: person.email.clone(),
            ip: ip.map(|ip| ip.to_string()),
            workspace_id: self.workspace_id.clone(),
            platform: self.workspace_id.is_none(),
            scopes: self.role.scopes().to_vec(),
        }
    }
}

/// The grant `bindings` and `admin_groups` give `person`, if any.
pub fn grant_of(
    person: &PersonRecord,
    bindings: &[RoleBindingRecord],
    admin_groups: &[String],
) -> Option<Grant> {
    if person.groups.iter().any(|g| admin_groups.contains(g)) {
        return Some(Grant { role: Role::PlatformAdmin, workspace_id: None });
    }
    let email = person.email.as_deref().filter(|_| person.email_verified).map(str::to_lowercase);
    let matches = |subject: &Subject| match subject {
        Subject::Group(name) => person.groups.contains(name),
        Subject::Email(address) => email.as_deref() == Some(address.as_str()),
    };
    // Most rights first; a role in every workspace before the same role in one;
    // then the first workspace by id.
    let rank = |g: &Grant| {
        let strength = Role::ALL.iter().position(|r| *r == g.role).unwrap_or(usize::MAX);
        (strength, g.workspace_id.is_some(), g.workspace_id.clone())
    };
    bindings
        .iter()
        .filter(|b| matches(&b.subject))
        .map(|b| Grant { role: b.role, workspace_id: b.workspace_id.clone() })
        .min_by_key(rank)
}

/// Why a person signing in gets no session.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "you signed in as {0}, but no role in keymint is given to you; ask a platform admin \
         to bind a role to your group or email address"
    )]
    NoRole(String),
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[from] StoreError),
}

/// A person as `/v1/people` and the People page show them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PersonView {
    /// keymint's id of the person (`p_...`), which the audit log names.
    pub id: String,
    /// The identity provider's issuer and subject (`sub`).
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// The groups their last sign-in carried.
    pub groups: Vec<String>,
    /// Their role now (`platform-admin`, `workspace-admin`, `read-only`), or
    /// `null` when no binding reaches them any more.
    pub role: Option<String>,
    /// Where the role applies: `null` for every workspace.
    pub workspace_id: Option<String>,
    pub first_sign_in_at: String,
    pub last_sign_in_at: String,
}

/// The people service, shared by the console's sign-in, `/v1/people` and the
/// console's People page.
#[derive(Clone)]
pub struct People {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    admin_groups: Arc<Vec<String>>,
}

impl People {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, admin_groups: Vec<String>) -> Self {
        People { store, clock, admin_groups: Arc::new(admin_groups) }
    }

    /// Records a sign-in the provider vouched for, and what it gives: the person
    /// and the actor they are, or the refusal (audited) when no role reaches them.
    pub async fn sign_in(
        &self,
        identity: Identity,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(PersonRecord, Actor), Refusal> {
        let now = self.clock.now_micros();
        let person = self
            .store
            .record_person(&PersonRecord {
                id: format!("p_{}", random_base62(16)),
                issuer: identity.issuer,
                subject: identity.subject,
                email: identity.email,
                email_verified: identity.email_verified,
                name: identity.name,
                groups: identity.groups,
                first_sign_in_us: now,
                last_sign_in_us: now,
            })
            .await?;
        match self.actor_of(&person, ip).await? {
            Some(actor) => Ok((person, actor)),
            None => {
                let who = person.email.clone().unwrap_or_else(|| person.subject.clone());
                let audit = self.audit_refusal(&person, ip);
                self.store.append_audit(&audit).await?;
                Err(Refusal::NoRole(who))
            }
        }
    }

    /// The actor `person` is now, from the bindings as they stand: `None` when no
    /// role reaches them.
    pub async fn actor_of(
        &self,
        person: &PersonRecord,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Option<Actor>, StoreError> {
        let bindings = self.store.list_role_bindings().await?;
        Ok(grant_of(person, &bindings, &self.admin_groups).map(|g| g.actor(person, ip)))
    }

    /// The person with id `id`.
    pub async fn find(&self, id: &str) -> Result<Option<PersonRecord>, StoreError> {
        self.store.find_person(id).await
    }

    /// Everyone who has signed in, most recent first, with their role now.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<PersonView>, ManageError> {
        actor.require(ManagementScope::WorkspacesAdmin)?;
        let bindings = self.store.list_role_bindings().await?;
        let people = self.store.list_people().await?;
        Ok(people
            .iter()
            .map(|p| {
                let grant = grant_of(p, &bindings, &self.admin_groups);
                PersonView {
                    id: p.id.clone(),
                    issuer: p.issuer.clone(),
                    subject: p.subject.clone(),
                    email: p.email.clone(),
                    email_verified: p.email_verified,
                    name: p.name.clone(),
                    groups: p.groups.clone(),
                    role: grant.as_ref().map(|g| g.role.as_str().to_string()),
                    workspace_id: grant.and_then(|g| g.workspace_id),
                    first_sign_in_at: rfc3339(p.first_sign_in_us.div_euclid(1_000_000)),
                    last_sign_in_at: rfc3339(p.last_sign_in_us.div_euclid(1_000_000)),
                }
            })
            .collect())
    }

    /// Ends every session of person `id` (console and CLI): how many ended.
    pub async fn sign_out_everywhere(&self, actor: &Actor, id: &str) -> Result<u64, ManageError> {
        actor.require(ManagementScope::WorkspacesAdmin)?;
        let person = self.store.find_person(id).await?.ok_or(ManageError::NotFound("person"))?;
        let audit = AuditRecord::by(
            actor,
            self.clock.now_micros(),
            Action::PersonSessionsEnd,
            &person.id,
            None,
            json!({ "email": person.email }),
        );
        Ok(self.store.delete_person_sessions(&person.id, &audit).await?)
    }

    fn audit_refusal(&self, person: &PersonRecord, ip: Option<std::net::IpAddr>) -> AuditRecord {
        AuditRecord {
            id: 0,
            at_us: self.clock.now_micros(),
            actor: person.id.clone(),
            actor_email: person.email.clone(),
            actor_ip: ip.map(|ip| ip.to_string()),
            workspace_id: None,
            action: Action::PersonRefused,
            target_id: person.id.clone(),
            details: json!({ "groups": person.groups, "email_verified": person.email_verified }),
            event: None,
        }
    }
}

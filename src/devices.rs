//! The CLI signing in as a person: the device authorization grant (RFC 8628) at
//! keymint itself. `keymint login --sso` asks `POST /oauth/device_authorization`
//! for a device code and a user code, prints where to approve it, and polls `POST
//! /oauth/token`. The person, signed in to the console through the identity
//! provider, sees the code and approves or denies it. On approval the CLI gets a
//! short-lived management token for the person and a refresh token, which is the
//! id of a session of the person's own: its rights are the person's rights as the
//! role bindings stand, and "Sign out everywhere" ends it and every token that
//! stands on it.

use std::net::IpAddr;
use std::sync::Arc;

use aws_lc_rs::digest;
use serde_json::json;

use crate::clock::Clock;
use crate::oauth::{ExchangeError, Issued, TokenService};
use crate::people::People;
use crate::sessions::{Session, SessionError, SessionId, Sessions, SignedIn};
use crate::store::{AuditRecord, DeviceDecision, DeviceGrantRecord, Store, StoreError};
use crate::vocab::base62::{random_base62, random_from};
use crate::vocab::{Action, ManageError};

/// The client id the CLI uses at the device endpoints (a public client: it holds
/// no secret).
pub const CLI_CLIENT_ID: &str = "keymint-cli";
/// How long a device code waits for the person, in seconds.
pub const DEVICE_SECONDS: i64 = 600;
/// The least time between two polls, in seconds (RFC 8628 section 3.5).
pub const INTERVAL: i64 = 5;
/// The letters of a user code: no vowels (no words), no look-alikes.
const USER_CODE_LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";

/// What the device endpoint answers (RFC 8628 section 3.2), less the URIs the
/// door adds.
#[derive(Debug)]
pub struct Authorization {
    pub device_code: String,
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// What a CLI gets for an approved device code.
#[derive(Debug)]
pub struct Redeemed {
    pub issued: Issued,
    /// The id of the person's new session, the CLI's refresh token.
    pub refresh_token: String,
}

/// Why the token endpoint gives no token (RFC 8628 section 3.5, RFC 6749 5.2).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("this grant is for the client {CLI_CLIENT_ID}")]
    InvalidClient,
    #[error("{0}")]
    InvalidGrant(&'static str),
    #[error("the person has not approved this device code yet")]
    AuthorizationPending,
    #[error("polling too fast: wait the interval between polls")]
    SlowDown,
    #[error("the device code expired: run keymint login --sso again")]
    ExpiredToken,
    #[error("the person denied this device code, or no role reaches them")]
    AccessDenied,
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[from] StoreError),
    #[error("the token could not be made")]
    Internal(#[source] ExchangeError),
}

impl From<SessionError> for DeviceError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Ended => {
                DeviceError::InvalidGrant("the session has ended: run keymint login --sso again")
            }
            SessionError::Unavailable(e) => DeviceError::Unavailable(e),
            SessionError::Sealing(_) => DeviceError::InvalidGrant("the session cannot be used"),
        }
    }
}

/// The device flow service, shared by the OAuth endpoints and the console's
/// approval page.
#[derive(Clone)]
pub struct Devices {
    store: Arc<dyn Store>,
    sessions: Sessions,
    people: People,
    tokens: Arc<TokenService>,
    clock: Arc<dyn Clock>,
}

impl Devices {
    pub fn new(
        store: Arc<dyn Store>,
        sessions: Sessions,
        people: People,
        tokens: Arc<TokenService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Devices { store, sessions, people, tokens, clock }
    }

    /// A new device code for the CLI, and the user code the person will type.
    pub async fn authorize(&self, client_id: &str) -> Result<Authorization, DeviceError> {
        if client_id != CLI_CLIENT_ID {
            return Err(DeviceError::InvalidClient);
        }
        let now = self.clock.now();
        let device_code = random_base62(43);
        for _ in 0..4 {
            let user_code = new_user_code();
            let grant = DeviceGrantRecord {
                device_hash: hash(&device_code),
                user_code: user_code.clone(),
                created_at: now,
                expires_at: now + DEVICE_SECONDS,
                polled_at: 0,
                decision: DeviceDecision::Pending,
                person_id: None,
            };
            match self.store.insert_device_grant(&grant, now).await {
                Ok(()) => {
                    return Ok(Authorization {
                        device_code,
                        user_code,
                        expires_in: DEVICE_SECONDS,
                        interval: INTERVAL,
                    })
                }
                // Two codes alike among those waiting: draw another.
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeviceError::InvalidGrant("no free user code; try again"))
    }

    /// The code `user_code` as typed (any case, with or without its dash), if it
    /// waits for a decision.
    pub async fn waiting(&self, user_code: &str) -> Result<Option<String>, StoreError> {
        let Some(code) = normalise(user_code) else { return Ok(None) };
        let grant = self.store.find_device_grant(&code).await?;
        let now = self.clock.now();
        Ok(grant
            .filter(|g| g.decision == DeviceDecision::Pending && g.expires_at > now)
            .map(|g| g.user_code))
    }

    /// The signed-in person's decision on `user_code`. Only a person decides: the
    /// CLI will act as whoever approves it.
    pub async fn decide(
        &self,
        session: &Session,
        user_code: &str,
        approve: bool,
    ) -> Result<(), ManageError> {
        if !matches!(session.who, SignedIn::Person { .. }) {
            return Err(ManageError::Forbidden(
                "sign in with SSO to approve a device: the CLI acts as the person who approves it"
                    .into(),
            ));
        }
        let code = self.waiting(user_code).await?.ok_or(ManageError::NotFound("device code"))?;
        let (decision, action) = if approve {
            (DeviceDecision::Approved, Action::PersonDeviceApprove)
        } else {
            (DeviceDecision::Denied, Action::PersonDeviceDeny)
        };
        let actor = &session.actor;
        let audit = AuditRecord::by(
            actor,
            self.clock.now_micros(),
            action,
            &actor.id,
            actor.workspace_id.as_deref(),
            json!({ "user_code": code }),
        );
        if self.store.decide_device_grant(&code, decision, &actor.id, &audit).await? {
            Ok(())
        } else {
            Err(ManageError::NotFound("device code"))
        }
    }

    /// The token endpoint's answer to a poll with `device_code`.
    pub async fn redeem(
        &self,
        client_id: &str,
        device_code: &str,
        ip: Option<IpAddr>,
    ) -> Result<Redeemed, DeviceError> {
        if client_id != CLI_CLIENT_ID {
            return Err(DeviceError::InvalidClient);
        }
        let now = self.clock.now();
        let device_hash = hash(device_code);
        let grant = self
            .store
            .poll_device_grant(&device_hash, now)
            .await?
            .ok_or(DeviceError::InvalidGrant("unknown or used device code"))?;
        if grant.expires_at <= now {
            self.store.delete_device_grant(&device_hash).await?;
            return Err(DeviceError::ExpiredToken);
        }
        let person_id = match (grant.decision, grant.person_id) {
            (DeviceDecision::Pending, _) if now - grant.polled_at < INTERVAL => {
                return Err(DeviceError::SlowDown)
            }
            (DeviceDecision::Pending, _) => return Err(DeviceError::AuthorizationPending),
            (DeviceDecision::Approved, Some(person_id)) => person_id,
            (DeviceDecision::Denied | DeviceDecision::Approved, _) => {
                self.store.delete_device_grant(&device_hash).await?;
                return Err(DeviceError::AccessDenied);
            }
        };
        // Used once: of two polls racing, one gets the token.
        if !self.store.delete_device_grant(&device_hash).await? {
            return Err(DeviceError::InvalidGrant("unknown or used device code"));
        }
        let person = self.people.find(&person_id).await?.ok_or(DeviceError::AccessDenied)?;
        let actor = self.people.actor_of(&person, ip).await?.ok_or(DeviceError::AccessDenied)?;
        let (id, session) = self.sessions.sign_in_person(&person, actor, "keymint CLI").await?;
        let issued = self
            .tokens
            .issue_for_person(&session.actor, &id.hash(), CLI_CLIENT_ID)
            .map_err(DeviceError::Internal)?;
        Ok(Redeemed { issued, refresh_token: id.expose().to_string() })
    }

    /// A new token for the session behind `refresh_token`, while it stands.
    pub async fn refresh(
        &self,
        client_id: &str,
        refresh_token: &str,
        ip: Option<IpAddr>,
    ) -> Result<Issued, DeviceError> {
        if client_id != CLI_CLIENT_ID {
            return Err(DeviceError::InvalidClient);
        }
        let id = SessionId::parse(refresh_token)
            .ok_or(DeviceError::InvalidGrant("not a refresh token keymint issued"))?;
        let session = self.sessions.resume(&id, ip).await?;
        if !matches!(session.who, SignedIn::Person { .. }) {
            return Err(DeviceError::InvalidGrant("not a refresh token keymint issued"));
        }
        self.tokens
            .issue_for_person(&session.actor, &id.hash(), CLI_CLIENT_ID)
            .map_err(DeviceError::Internal)
    }
}

fn hash(device_code: &str) -> String {
    digest::digest(&digest::SHA256, device_code.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A user code: 8 letters as `BCDF-GHJK` (20^8, about 2^34.6, against at most
/// the codes waiting at once, each for 10 minutes).
fn new_user_code() -> String {
    let letters = random_from(USER_CODE_LETTERS, 8);
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// A typed user code in its stored form, or `None` when it cannot be one.
fn normalise(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (letters.len() == 8 && letters.bytes().all(|b| USER_CODE_LETTERS.contains(&b)))
        .then(|| format!("{}-{}", &letters[..4], &letters[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typed_forgivingly() {
        let code = new_user_code();
        assert_eq!(normalise(&code.to_lowercase().replace('-', " ")), Some(code.clone()));
        assert_eq!(normalise("bcdf ghjk"), Some("BCDF-GHJK".into()));
        assert_eq!(normalise("ABCD-EFGH"), None, "vowels are not in the alphabet");
        assert_eq!(normalise("BCDF-GHJ"), None);
    }
}

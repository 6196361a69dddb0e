//! Console sessions: an admin signs in with an admin key (checked by the same code
//! and failure limits as the token endpoint), and each later request resumes the
//! session under the rules that end it.
//!
//! - The session id is 32 random base62 characters (about 190 bits), held only in
//!   the admin's cookie; the store keeps its SHA-256.
//! - A session ends after [`IDLE_SECONDS`](crate::sessions::IDLE_SECONDS) without
//!   a request, [`LIFETIME_SECONDS`](crate::sessions::LIFETIME_SECONDS) after
//!   sign-in, at sign-out, and at the first request after its key is revoked,
//!   deactivated, deleted or expired, loses its management scopes, or stops
//!   accepting the secret it signed in with (a rotation, once any grace is over).
//! - Forms carry a token derived from the session id, so a page from elsewhere
//!   cannot make one.
//! - A secret revealed by a create or a rotation waits in the store sealed under a
//!   key derived from the session id, and is deleted when shown: the database alone
//!   cannot open it, and no page shows it twice.

use std::net::IpAddr;
use std::sync::Arc;

use aws_lc_rs::{digest, hmac};
use serde_json::json;

use crate::apikeys::cache::KeyCache;
use crate::apikeys::secret::{self, Secret};
use crate::apikeys::{self, AuthFailure};
use crate::clock::Clock;
use crate::oauth::{Proof, TokenService};
use crate::signing::{MasterKey, MasterKeyError};
use crate::store::{AuditRecord, KeyRecord, SessionRecord, Store, StoreError};
use crate::vocab::scope::Scope;
use crate::vocab::{Action, Actor};

/// A session ends after this long without a request: 30 minutes.
pub const IDLE_SECONDS: i64 = 30 * 60;
/// A session ends this long after sign-in, however active: 12 hours.
pub const LIFETIME_SECONDS: i64 = 12 * 3600;
/// The last-seen time is written at most this often per session.
const TOUCH_SECONDS: i64 = 60;
/// Length of a session id.
const ID_LEN: usize = 32;
/// Longest user agent kept in the audit log.
const USER_AGENT_MAX: usize = 200;

/// A session id: the bearer credential of a console session. `Debug` hides it.
pub struct SessionId(Secret);

impl SessionId {
    /// A session id as read from a cookie; `None` unless it has the form keymint makes.
    pub fn parse(value: &str) -> Option<Self> {
        (value.len() == ID_LEN && value.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| SessionId(Secret::new(value.to_string())))
    }

    /// The value to put in the cookie.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    fn hash(&self) -> String {
        hex(digest::digest(&digest::SHA256, self.expose().as_bytes()).as_ref())
    }

    /// A value derived from the id for `purpose`, which reveals nothing of the id.
    fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, self.expose().as_bytes()), purpose);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId([REDACTED])")
    }
}

/// A live session: who is signed in and what the console may offer them.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in key, acting with its management scopes.
    pub actor: Actor,
    pub key_name: String,
    pub masked_secret: String,
    pub workspace_id: String,
    /// The token every form of this session carries.
    pub form_token: String,
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// One answer for every wrong id, secret, status or address, as at `/oauth/token`.
    #[error("the client ID or secret is wrong, or this key cannot sign in now")]
    Refused,
    #[error("this key holds no management scope, so it cannot sign in to the console")]
    NotAdmin,
    #[error("too many failed attempts; try again in {0} seconds")]
    Throttled(u64),
    #[error("the service is busy; try again shortly")]
    Busy,
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[source] StoreError),
}

/// Why a session could not be resumed or used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No such session, or it ended (timed out, signed out, its key changed).
    #[error("the session has ended; sign in again")]
    Ended,
    #[error("the database is unavailable; try again shortly")]
    Unavailable(#[from] StoreError),
    #[error("the secret could not be sealed for display")]
    Sealing(#[from] MasterKeyError),
}

/// The console session service.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn Store>,
    cache: Arc<KeyCache>,
    tokens: Arc<TokenService>,
    clock: Arc<dyn Clock>,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<KeyCache>,
        tokens: Arc<TokenService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Sessions { store, cache, tokens, clock }
    }

    /// Signs in with an admin key's id and secret; a new session id every time.
    pub async fn sign_in(
        &self,
        client_id: &str,
        secret: &Secret,
        ip: Option<IpAddr>,
        user_agent: &str,
    ) -> Result<(SessionId, Session), SignInError> {
        let auth = match self.tokens.authenticate_client(client_id, Proof::Secret(secret), ip).await
        {
            Ok(auth) => auth,
            Err(AuthFailure::Refused(_) | AuthFailure::KeyRefused { .. }) => {
                return Err(SignInError::Refused)
            }
            Err(AuthFailure::Throttled(seconds)) => return Err(SignInError::Throttled(seconds)),
            Err(AuthFailure::Busy) => return Err(SignInError::Busy),
            Err(AuthFailure::Unavailable(e)) => return Err(SignInError::Unavailable(e)),
        };
        let key = auth.key.as_ref();
        let actor = Actor::for_key(key, key.scopes.iter().filter_map(Scope::management), ip)
            .ok_or(SignInError::NotAdmin)?;
        let now = self.clock.now();
        let id = SessionId(Secret::new(secret::random_base62(ID_LEN)));
        let record = SessionRecord {
            id_hash: id.hash(),
            key_id: key.id.clone(),
            secret_tag: auth.secret_tag(),
            created_at: now,
            seen_at: now,
        };
        let audit = self.audit(key, ip, Action::SessionSignIn, user_agent);
        self.store
            .insert_session(&record, &audit, now - IDLE_SECONDS, now - LIFETIME_SECONDS)
            .await
            .map_err(SignInError::Unavailable)?;
        let session = Self::session(&id, key, actor);
        Ok((id, session))
    }

    /// The session behind `id`, if it still stands at this request.
    pub async fn resume(
        &self,
        id: &SessionId,
        ip: Option<IpAddr>,
    ) -> Result<Session, SessionError> {
        let hash = id.hash();
        let record = self.store.find_session(&hash).await?.ok_or(SessionError::Ended)?;
        let now = self.clock.now();
        let key =
            if now - record.seen_at > IDLE_SECONDS || now - record.created_at > LIFETIME_SECONDS {
                None
            } else {
                self.cache
                    .find(self.store.as_ref(), &record.key_id)
                    .await?
                    .filter(|key| apikeys::secret_backed(key, &record.secret_tag, now))
            };
        let actor = key.as_ref().and_then(|key| {
            Actor::for_key(key, key.scopes.iter().filter_map(Scope::management), ip)
                .map(|a| (key, a))
        });
        let Some((key, actor)) = actor else {
            self.store.delete_session(&hash, None).await?;
            return Err(SessionError::Ended);
        };
        if now - record.seen_at >= TOUCH_SECONDS {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Self::session(id, key, actor))
    }

    /// Ends the session, audited with the address and user agent.
    pub async fn sign_out(
        &self,
        id: &SessionId,
        session: &Session,
        ip: Option<IpAddr>,
        user_agent: &str,
    ) -> Result<(), SessionError> {
        let key = self.cache.find(self.store.as_ref(), &session.actor.id).await?;
        let audit = key.map(|key| self.audit(&key, ip, Action::SessionSignOut, user_agent));
        self.store.delete_session(&id.hash(), audit.as_ref()).await?;
        Ok(())
    }

    /// Keeps `secret` of key `key_id` for the session to show once.
    pub async fn hold_secret(
        &self,
        id: &SessionId,
        key_id: &str,
        secret: &Secret,
    ) -> Result<(), SessionError> {
        let sealed = Self::sealer(id).seal(key_id, secret.expose().as_bytes())?;
        self.store.put_reveal(&id.hash(), key_id, &sealed, self.clock.now()).await?;
        Ok(())
    }

    /// The secret of key `key_id` held for this session, once: `None` when it was
    /// shown already (or never held).
    pub async fn take_secret(
        &self,
        id: &SessionId,
        key_id: &str,
    ) -> Result<Option<Secret>, SessionError> {
        let Some((held_for, sealed)) = self.store.take_reveal(&id.hash()).await? else {
            return Ok(None);
        };
        if held_for != key_id {
            return Ok(None);
        }
        Ok(Self::sealer(id)
            .open(key_id, &sealed)
            .ok()
            .and_then(|plain| String::from_utf8(plain).ok())
            .map(Secret::new))
    }

    fn sealer(id: &SessionId) -> MasterKey {
        MasterKey::from_bytes(id.derive(b"keymint console reveal"))
    }

    fn session(id: &SessionId, key: &KeyRecord, actor: Actor) -> Session {
        Session {
            actor,
            key_name: key.name.clone(),
            masked_secret: key.credential.masked().to_string(),
            workspace_id: key.workspace_id.clone(),
            form_token: hex(&id.derive(b"keymint console form")),
        }
    }

    fn audit(
        &self,
        key: &KeyRecord,
        ip: Option<IpAddr>,
        action: Action,
        user_agent: &str,
    ) -> AuditRecord {
        let user_agent: String =
            user_agent.chars().filter(|c| !c.is_control()).take(USER_AGENT_MAX).collect();
        AuditRecord {
            id: 0,
            at_us: self.clock.now_micros(),
            actor: key.id.clone(),
            actor_ip: ip.map(|ip| ip.to_string()),
            workspace_id: Some(key.workspace_id.clone()),
            action,
            target_id: key.id.clone(),
            details: json!({ "user_agent": user_agent }),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` is the session's form token, compared in constant time.
pub fn form_token_matches(session: &Session, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    given.len() == session.form_token.len()
        && bool::from(given.as_bytes().ct_eq(session.form_token.as_bytes()))
}

//! Sessions: a person signs in through the identity provider (the console's
//! callback, or the CLI's device flow), or an admin signs in with an admin key
//! (checked by the same code and failure limits as the token endpoint), and each
//! later request resumes the session under the rules that end it.
//!
//! - The session id is 32 random base62 characters (about 190 bits), held only in
//!   the browser's cookie (or as the CLI's refresh token); the store keeps its
//!   SHA-256.
//! - A session ends after [`IDLE_SECONDS`](crate::sessions::IDLE_SECONDS) without
//!   a request, [`LIFETIME_SECONDS`](crate::sessions::LIFETIME_SECONDS) after
//!   sign-in, at sign-out, and at the first request after: for a key, it is
//!   revoked, deactivated, deleted or expired, loses its management scopes, or
//!   stops accepting the secret it signed in with (a rotation, once any grace is
//!   over); for a person, no role binding reaches them any more, or they were
//!   signed out everywhere.
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
use crate::people::People;
use crate::signing::{MasterKey, MasterKeyError};
use crate::sso::Pending;
use crate::store::{
    AuditRecord, KeyRecord, PersonRecord, SessionHolder, SessionRecord, Store, StoreError,
};
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

    /// Its SHA-256, in hex: how the store finds the session, and how a person's
    /// CLI token names the session it stands on.
    pub fn hash(&self) -> String {
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
    /// Who acts: the signed-in key with its management scopes, or the person with
    /// the scopes of their role as the bindings stand now.
    pub actor: Actor,
    pub who: SignedIn,
    /// The token every form of this session carries.
    pub form_token: String,
}

/// Who signed in, as the console's header shows them.
#[derive(Debug, Clone)]
pub enum SignedIn {
    /// An admin key (the break-glass door).
    Key { name: String, masked_secret: String },
    /// A person, by the email (or else the name, or the subject) their provider gave.
    Person { shown_as: String },
}

/// How long a sign-in through the identity provider may take, in seconds.
pub const SSO_LOGIN_SECONDS: i64 = 10 * 60;

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
    people: People,
    clock: Arc<dyn Clock>,
}

impl Sessions {
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<KeyCache>,
        tokens: Arc<TokenService>,
        people: People,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Sessions { store, cache, tokens, people, clock }
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
        let holder = SessionHolder::Key { key_id: key.id.clone(), secret_tag: auth.secret_tag() };
        let session = Session { actor, who: Self::key_shown(key), form_token: String::new() };
        self.open(holder, session, Action::SessionSignIn, user_agent)
            .await
            .map_err(SignInError::Unavailable)
    }

    /// Signs in a person the identity provider vouched for, as the actor their
    /// role makes them (see [`People::sign_in`]).
    pub async fn sign_in_person(
        &self,
        person: &PersonRecord,
        actor: Actor,
        user_agent: &str,
    ) -> Result<(SessionId, Session), StoreError> {
        let holder = SessionHolder::Person { person_id: person.id.clone() };
        let session = Session { actor, who: Self::person_shown(person), form_token: String::new() };
        self.open(holder, session, Action::PersonSignIn, user_agent).await
    }

    /// Stores a new session held by `holder`, audited as `action` by its actor.
    async fn open(
        &self,
        holder: SessionHolder,
        mut session: Session,
        action: Action,
        user_agent: &str,
    ) -> Result<(SessionId, Session), StoreError> {
        let now = self.clock.now();
        let id = SessionId(Secret::new(secret::random_base62(ID_LEN)));
        let record = SessionRecord { id_hash: id.hash(), holder, created_at: now, seen_at: now };
        let audit = self.audit(&session.actor, action, user_agent);
        self.store
            .insert_session(&record, &audit, now - IDLE_SECONDS, now - LIFETIME_SECONDS)
            .await?;
        session.form_token = Self::form_token(&id);
        Ok((id, session))
    }

    /// The session behind `id`, if it still stands at this request.
    pub async fn resume(
        &self,
        id: &SessionId,
        ip: Option<IpAddr>,
    ) -> Result<Session, SessionError> {
        let (actor, who, _) = self.resume_hash(&id.hash(), ip).await?;
        Ok(Session { actor, who, form_token: Self::form_token(id) })
    }

    /// The person acting through a CLI token that stands on session `hash`: who
    /// they are now, if the session stands and is theirs.
    pub async fn person_by_token(
        &self,
        person_id: &str,
        hash: &str,
        ip: Option<IpAddr>,
    ) -> Result<Actor, SessionError> {
        match self.resume_hash(hash, ip).await? {
            (actor, _, SessionHolder::Person { person_id: holder }) if holder == person_id => {
                Ok(actor)
            }
            _ => Err(SessionError::Ended),
        }
    }

    /// Resumes the session whose id hashes to `hash`: who acts, as whom they are
    /// shown, and who holds it. A session that no longer stands is deleted.
    async fn resume_hash(
        &self,
        hash: &str,
        ip: Option<IpAddr>,
    ) -> Result<(Actor, SignedIn, SessionHolder), SessionError> {
        let record = self.store.find_session(hash).await?.ok_or(SessionError::Ended)?;
        let now = self.clock.now();
        let live =
            now - record.seen_at <= IDLE_SECONDS && now - record.created_at <= LIFETIME_SECONDS;
        let standing = if live { self.standing(&record.holder, ip, now).await? } else { None };
        let Some((actor, who)) = standing else {
            self.store.delete_session(hash, None).await?;
            return Err(SessionError::Ended);
        };
        if now - record.seen_at >= TOUCH_SECONDS {
            self.store.touch_session(hash, now).await?;
        }
        Ok((actor, who, record.holder))
    }

    /// Who `holder` acts as now, if they still may: a key that still stands with
    /// the secret it signed in with and a management scope; a person whom a role
    /// still reaches.
    async fn standing(
        &self,
        holder: &SessionHolder,
        ip: Option<IpAddr>,
        now: i64,
    ) -> Result<Option<(Actor, SignedIn)>, StoreError> {
        Ok(match holder {
            SessionHolder::Key { key_id, secret_tag } => self
                .cache
                .find(self.store.as_ref(), key_id)
                .await?
                .filter(|key| apikeys::secret_backed(key, secret_tag, now))
                .and_then(|key| {
                    Actor::for_key(&key, key.scopes.iter().filter_map(Scope::management), ip)
                        .map(|actor| (actor, Self::key_shown(&key)))
                }),
            SessionHolder::Person { person_id } => match self.people.find(person_id).await? {
                Some(person) => self
                    .people
                    .actor_of(&person, ip)
                    .await?
                    .map(|actor| (actor, Self::person_shown(&person))),
                None => None,
            },
        })
    }

    /// Ends the session, audited with the address and user agent.
    pub async fn sign_out(
        &self,
        id: &SessionId,
        session: &Session,
        ip: Option<IpAddr>,
        user_agent: &str,
    ) -> Result<(), SessionError> {
        let action = match session.who {
            SignedIn::Key { .. } => Action::SessionSignOut,
            SignedIn::Person { .. } => Action::PersonSignOut,
        };
        let actor = Actor { ip: ip.map(|ip| ip.to_string()), ..session.actor.clone() };
        let audit = self.audit(&actor, action, user_agent);
        self.store.delete_session(&id.hash(), Some(&audit)).await?;
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

    fn form_token(id: &SessionId) -> String {
        hex(&id.derive(b"keymint console form"))
    }

    fn key_shown(key: &KeyRecord) -> SignedIn {
        SignedIn::Key { name: key.name.clone(), masked_secret: key.credential.masked().to_string() }
    }

    fn person_shown(person: &PersonRecord) -> SignedIn {
        let shown_as = person.email.clone().or_else(|| person.name.clone());
        SignedIn::Person { shown_as: shown_as.unwrap_or_else(|| person.subject.clone()) }
    }

    /// The event of a session's `action` by `actor` (who is also its target).
    fn audit(&self, actor: &Actor, action: Action, user_agent: &str) -> AuditRecord {
        let user_agent: String =
            user_agent.chars().filter(|c| !c.is_control()).take(USER_AGENT_MAX).collect();
        AuditRecord::by(
            actor,
            self.clock.now_micros(),
            action,
            &actor.id,
            actor.workspace_id.as_deref(),
            json!({ "user_agent": user_agent }),
        )
    }

    /// Keeps a sign-in through the identity provider under way for the browser
    /// that began it: the handle for its cookie.
    pub async fn hold_sso_login(&self, pending: &Pending) -> Result<SessionId, SessionError> {
        let handle = SessionId(Secret::new(secret::random_base62(ID_LEN)));
        let plain = serde_json::to_vec(pending).map_err(|e| {
            SessionError::Unavailable(StoreError::Corrupt(format!("sso login: {e}")))
        })?;
        let sealed = Self::login_sealer(&handle).seal("sso", &plain)?;
        let now = self.clock.now();
        self.store.insert_sso_login(&handle.hash(), &sealed, now, now - SSO_LOGIN_SECONDS).await?;
        Ok(handle)
    }

    /// Takes the sign-in under way behind `handle`, once: `None` when it was
    /// taken already, never begun, or began too long ago.
    pub async fn take_sso_login(&self, handle: &SessionId) -> Result<Option<Pending>, StoreError> {
        let Some((sealed, at)) = self.store.take_sso_login(&handle.hash()).await? else {
            return Ok(None);
        };
        if self.clock.now() - at > SSO_LOGIN_SECONDS {
            return Ok(None);
        }
        Ok(Self::login_sealer(handle)
            .open("sso", &sealed)
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok()))
    }

    fn login_sealer(handle: &SessionId) -> MasterKey {
        MasterKey::from_bytes(handle.derive(b"keymint sso login"))
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

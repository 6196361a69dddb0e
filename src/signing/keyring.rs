//! The [`Keyring`](crate::signing::Keyring): the signing keys in memory (signing and the JWKS never touch the
//! database) and their lifecycle.
//!
//! - A `next` key is published in the JWKS for at least the JWKS max-age before it
//!   signs, so every resource server's cache holds it by then.
//! - `current` signs; at most one, enforced by a unique index in both backends.
//! - `retired` stays published until every token it signed has expired (token
//!   lifetime plus clock leeway), then is removed.
//!
//! Every instance runs [`Keyring::tick`]; each transition is a compare-and-set in the
//! store, so when several instances tick together exactly one performs it and the
//! others adopt the result through the change feed.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;
use serde_json::{json, Value};

use super::{check_master_key, decoding_key, Algorithm, MasterKey, SigningError, SigningKey};
use crate::clock::rfc3339;
use crate::store::{AuditRecord, SigningKeyRecord, SigningKeyState, Store, StoreError};
use crate::vocab::Action;

/// When keys move between states.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over.
    pub interval_seconds: i64,
    /// How long a `next` key is published before it signs (the JWKS max-age).
    pub publish_seconds: i64,
    /// How long a retired key stays published (token lifetime plus leeway).
    pub retire_seconds: i64,
}

/// The keys of one moment: who signs, what is published, who can be verified.
struct KeySet {
    current: Arc<SigningKey>,
    current_since: i64,
    jwks: bytes::Bytes,
    verifiers: HashMap<String, (Algorithm, jsonwebtoken::DecodingKey)>,
}

/// A signing key as `/v1/signing-keys` shows it (public facts only).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SigningKeyView {
    pub kid: String,
    pub alg: String,
    pub state: SigningKeyState,
    pub created_at: String,
    pub activated_at: Option<String>,
    pub retired_at: Option<String>,
    /// For a `next` key: when it starts signing; for a `retired` key: when it leaves the JWKS.
    pub transition_at: Option<String>,
    /// For a `next` key: whether it has been published for at least the JWKS
    /// max-age, so every verifier's cache holds it and it may sign.
    pub published_long_enough: Option<bool>,
}

/// What an on-demand rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Rotated {
    /// A next key is published and will sign at `signs_from`.
    Scheduled,
    /// The next key signs now.
    Rotated,
    /// Emergency: the old key is gone and a new one signs.
    Replaced,
}

impl Rotated {
    /// The name `/v1`, the CLI and the console give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rotated::Scheduled => "scheduled",
            Rotated::Rotated => "rotated",
            Rotated::Replaced => "replaced",
        }
    }
}

/// What an on-demand rotation did, to which key, and when it signs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RotationOutcome {
    pub outcome: Rotated,
    pub kid: String,
    pub signs_from: String,
}

/// The signing keys in memory.
pub struct Keyring {
    store: Arc<dyn Store>,
    master: MasterKey,
    alg: Algorithm,
    policy: RotationPolicy,
    set: RwLock<Arc<KeySet>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// An event about signing key `kid` at `at` (unix seconds: the keyring's
/// decisions are taken at whole seconds).
fn audit(actor: &str, action: Action, kid: &str, at: i64, details: Value) -> AuditRecord {
    AuditRecord {
        id: 0,
        at_us: at * 1_000_000,
        actor: actor.into(),
        actor_email: None,
        actor_ip: None,
        workspace_id: None,
        action,
        target_id: kid.into(),
        details,
        event: None,
    }
}

impl Keyring {
    /// Seals a secret keymint must read back (a webhook signing secret) under the
    /// master key, bound to `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SigningError> {
        Ok(self.master.seal(context, plaintext)?)
    }

    /// Opens what [`Keyring::seal`] sealed with the same `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        self.master.open(context, sealed).ok()
    }

    /// The id of the master key that seals now.
    pub fn master_key_id(&self) -> &str {
        self.master.id()
    }

    /// Loads the keys from the store, creating the first signing key if there is none
    /// (when several instances start together, the unique index lets one win).
    pub async fn load(
        store: Arc<dyn Store>,
        master: MasterKey,
        alg: Algorithm,
        policy: RotationPolicy,
        now: i64,
    ) -> Result<Self, SigningError> {
        let mut records = store.list_signing_keys().await?;
        if !records.iter().any(|r| r.state == SigningKeyState::Current) {
            let record = new_record(&master, alg, SigningKeyState::Current, now)?;
            let event = audit(
                "system",
                Action::SigningKeyCreate,
                &record.kid,
                now,
                json!({"alg": alg.name(), "state": "current"}),
            );
            match store.insert_signing_key(&record, &event).await {
                Ok(()) => {
                    tracing::info!(kid = %record.kid, alg = alg.name(), "created a signing key")
                }
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            records = store.list_signing_keys().await?;
        }
        let set = build_set(&master, &records)?;
        Ok(Keyring { store, master, alg, policy, set: RwLock::new(Arc::new(set)) })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.set.read() {
            Ok(set) => set.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The key that signs now.
    pub fn current(&self) -> Arc<SigningKey> {
        self.snapshot().current.clone()
    }

    /// When the current key started signing.
    pub fn current_since(&self) -> i64 {
        self.snapshot().current_since
    }

    /// The serialized JWKS document (RFC 7517 section 5).
    pub fn jwks(&self) -> bytes::Bytes {
        self.snapshot().jwks.clone()
    }

    /// The verifier for a published `kid`, if any.
    pub fn verifier(&self, kid: &str) -> Option<(Algorithm, jsonwebtoken::DecodingKey)> {
        self.snapshot().verifiers.get(kid).cloned()
    }

    /// Re-reads the keys from the store. On failure the keys in memory stay in use.
    pub async fn reload(&self) -> Result<(), SigningError> {
        let records = self.store.list_signing_keys().await?;
        let set = build_set(&self.master, &records)?;
        if let Ok(mut slot) = self.set.write() {
            *slot = Arc::new(set);
        }
        Ok(())
    }

    /// The signing keys, for administrators, as they stand at `now`.
    pub async fn list(&self, now: i64) -> Result<Vec<SigningKeyView>, StoreError> {
        let records = self.store.list_signing_keys().await?;
        Ok(records
            .iter()
            .map(|r| SigningKeyView {
                kid: r.kid.clone(),
                alg: r.alg.name().to_string(),
                state: r.state,
                created_at: rfc3339(r.created_at),
                activated_at: r.activated_at.map(rfc3339),
                retired_at: r.retired_at.map(rfc3339),
                transition_at: match r.state {
                    SigningKeyState::Next => {
                        Some(rfc3339(r.created_at + self.policy.publish_seconds))
                    }
                    SigningKeyState::Retired => {
                        r.retired_at.map(|at| rfc3339(at + self.policy.retire_seconds))
                    }
                    _ => None,
                },
                published_long_enough: (r.state == SigningKeyState::Next)
                    .then(|| now >= r.created_at + self.policy.publish_seconds),
            })
            .collect())
    }

    /// Performs every transition that is due at `now`: publish a next key ahead of the
    /// scheduled rotation, promote a next key published long enough, remove retired
    /// keys whose tokens have all expired. Returns whether anything changed.
    pub async fn tick(&self, now: i64) -> Result<bool, SigningError> {
        let records = self.store.list_signing_keys().await?;
        let current = records.iter().find(|r| r.state == SigningKeyState::Current);
        let next = records.iter().find(|r| r.state == SigningKeyState::Next);
        let mut changed = false;
        match (current, next) {
            (Some(cur), Some(next)) if now >= next.created_at + self.policy.publish_seconds => {
                changed |= self.promote(&cur.kid, &next.kid, now, "system").await?;
            }
            (Some(cur), None)
                if now
                    >= cur.activated_at.unwrap_or(cur.created_at)
                        + self.policy.interval_seconds
                        - self.policy.publish_seconds =>
            {
                changed |= self.publish_next(now, "system").await?.is_some();
            }
            _ => {}
        }
        for old in records.iter().filter(|r| r.state == SigningKeyState::Retired) {
            if now >= old.retired_at.unwrap_or(old.created_at) + self.policy.retire_seconds {
                let event = audit(
                    "system",
                    Action::SigningKeyRemove,
                    &old.kid,
                    now,
                    json!({"state": {"from": "retired", "to": "removed"}}),
                );
                changed |= self.store.delete_signing_key(&old.kid, &event).await?;
            }
        }
        if changed {
            self.reload().await?;
        }
        Ok(changed)
    }

    async fn promote(
        &self,
        current: &str,
        next: &str,
        now: i64,
        actor: &str,
    ) -> Result<bool, SigningError> {
        let event = audit(
            actor,
            Action::SigningKeyRotate,
            next,
            now,
            json!({"current": {"from": current, "to": next}}),
        );
        let done = self.store.rotate_signing_keys(current, next, now, &event).await?;
        if done {
            tracing::info!(retired = current, current = next, "signing key rotated");
        }
        Ok(done)
    }

    /// Publishes a new `next` key; `None` when another instance published one first.
    async fn publish_next(&self, now: i64, actor: &str) -> Result<Option<String>, SigningError> {
        let record = new_record(&self.master, self.alg, SigningKeyState::Next, now)?;
        let event = audit(
            actor,
            Action::SigningKeyCreate,
            &record.kid,
            now,
            json!({"alg": self.alg.name(), "state": "next"}),
        );
        match self.store.insert_signing_key(&record, &event).await {
            Ok(()) => {
                tracing::info!(kid = %record.kid, "published the next signing key");
                Ok(Some(record.kid))
            }
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Rotates on demand. Normally a next key is published now and signs once it has
    /// been published for the JWKS max-age (at once if one already has). In an
    /// emergency the current key is dropped from the JWKS at once and a new key
    /// signs immediately; tokens the old key signed stop verifying.
    pub async fn rotate(
        &self,
        now: i64,
        emergency: bool,
        actor: &str,
    ) -> Result<RotationOutcome, SigningError> {
        let records = self.store.list_signing_keys().await?;
        let current = records
            .iter()
            .find(|r| r.state == SigningKeyState::Current)
            .ok_or(SigningError::NoCurrent)?;
        if emergency {
            let record = new_record(&self.master, self.alg, SigningKeyState::Current, now)?;
            let event = audit(
                actor,
                Action::SigningKeyEmergencyRotate,
                &record.kid,
                now,
                json!({"removed": current.kid, "current": record.kid}),
            );
            if !self.store.replace_current_signing_key(&current.kid, &record, &event).await? {
                return Err(SigningError::Raced);
            }
            self.reload().await?;
            tracing::warn!(removed = %current.kid, current = %record.kid, "emergency signing key rotation");
            return Ok(RotationOutcome {
                outcome: Rotated::Replaced,
                kid: record.kid,
                signs_from: rfc3339(now),
            });
        }
        let next = match records.iter().find(|r| r.state == SigningKeyState::Next) {
            Some(next) => (next.kid.clone(), next.created_at),
            None => match self.publish_next(now, actor).await? {
                Some(kid) => (kid, now),
                None => {
                    let again = self.store.list_signing_keys().await?;
                    let next = again
                        .iter()
                        .find(|r| r.state == SigningKeyState::Next)
                        .ok_or(SigningError::Raced)?;
                    (next.kid.clone(), next.created_at)
                }
            },
        };
        let signs_from = next.1 + self.policy.publish_seconds;
        let outcome =
            if now >= signs_from && self.promote(&current.kid, &next.0, now, actor).await? {
                Rotated::Rotated
            } else {
                Rotated::Scheduled
            };
        self.reload().await?;
        Ok(RotationOutcome { outcome, kid: next.0, signs_from: rfc3339(signs_from.max(now)) })
    }

    /// Re-seals every private key under `new_master`, all or nothing. Instances must
    /// then be restarted with the new master key; until then they keep signing with
    /// the keys they hold.
    pub async fn reseal(&self, new_master: &MasterKey, now: i64) -> Result<usize, SigningError> {
        let records = self.store.list_signing_keys().await?;
        check_master_key(&self.master, &records)?;
        let mut resealed = Vec::with_capacity(records.len());
        for record in &records {
            let der = self.master.open(&record.kid, &record.sealed_private).map_err(|_| {
                SigningError::Damaged { kid: record.kid.clone(), master: self.master.id().into() }
            })?;
            resealed.push(SigningKeyRecord {
                sealed_private: new_master.seal(&record.kid, &der)?,
                master_key_id: new_master.id().to_string(),
                ..record.clone()
            });
        }
        let event = audit(
            "cli",
            Action::SigningKeyReseal,
            "*",
            now,
            json!({"master_key": {"from": self.master.id(), "to": new_master.id()}, "keys": records.len()}),
        );
        self.store.reseal_signing_keys(&resealed, &event).await?;
        Ok(resealed.len())
    }
}

/// A new signing key row in `state`, sealed under `master`.
fn new_record(
    master: &MasterKey,
    alg: Algorithm,
    state: SigningKeyState,
    now: i64,
) -> Result<SigningKeyRecord, SigningError> {
    let (key, der) = SigningKey::generate(alg)?;
    Ok(SigningKeyRecord {
        kid: key.kid().to_string(),
        alg,
        state,
        public_jwk: key.public_jwk().to_string(),
        sealed_private: master.seal(key.kid(), &der)?,
        master_key_id: master.id().to_string(),
        created_at: now,
        activated_at: (state == SigningKeyState::Current).then_some(now),
        retired_at: None,
    })
}

fn build_set(master: &MasterKey, records: &[SigningKeyRecord]) -> Result<KeySet, SigningError> {
    check_master_key(master, records)?;
    let mut current = None;
    let mut keys = Vec::new();
    let mut verifiers = HashMap::new();
    for record in records {
        let corrupt = |why: String| SigningError::Corrupt { kid: record.kid.clone(), why };
        let jwk: Value = serde_json::from_str(&record.public_jwk)
            .map_err(|e| corrupt(format!("its public JWK does not parse: {e}")))?;
        if let Some(verifier) = decoding_key(&jwk) {
            verifiers.insert(record.kid.clone(), verifier);
        }
        if record.state == SigningKeyState::Current {
            let alg = record.alg;
            let der = master.open(&record.kid, &record.sealed_private).map_err(|_| {
                SigningError::Damaged { kid: record.kid.clone(), master: master.id().to_string() }
            })?;
            let since = record.activated_at.unwrap_or(record.created_at);
            current = Some((Arc::new(SigningKey::from_pkcs8(alg, &der)?), since));
        }
        keys.push(jwk);
    }
    let (current, current_since) = current.ok_or(SigningError::NoCurrent)?;
    let jwks = bytes::Bytes::from(json!({ "keys": keys }).to_string());
    Ok(KeySet { current, current_since, jwks, verifiers })
}

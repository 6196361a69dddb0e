//! Raw-key verification: during a migration, an API that still receives raw API
//! keys asks introspection whether a key is good, under the token endpoint's rules
//! (status, expiry, grace, the allowlist against the caller's client address, and
//! the failure limits).
//!
//! A generated secret names its key. An imported (legacy) value names nothing, so
//! it is found by its keyed lookup hash ([`Hasher::lookup`](crate::apikeys::hashing::Hasher::lookup)):
//! from memory when this instance has seen it, else in one indexed query; the
//! match is then verified like any secret. A warm key costs no database round
//! trip and no signature.

use std::net::IpAddr;
use std::sync::Arc;

use crate::apikeys::secret::{self, Secret};
use crate::apikeys::{AuthFailure, Authenticated};
use crate::oauth::{Proof, TokenService, VerifyError};
use crate::store::KeyRecord;
use crate::vocab::scope::{ManagementScope, Scope};
use crate::vocab::Outcome;

/// What raw-key introspection says of a value.
#[derive(Debug)]
pub enum RawKeyCheck {
    /// The value is a secret of this key, which may be used now.
    Active(Arc<KeyRecord>),
    /// Wrong, unknown, revoked, expired, deactivated, not allowed from the
    /// client's address, or throttled: the caller learns only that.
    Inactive,
}

impl TokenService {
    /// RFC 7662 with a raw API key as the token, for `caller` (which must hold
    /// `keymint:introspect`). `client_ip` is the address the key was presented
    /// from, as the gateway saw it: the key's allowlist is checked against it (no
    /// address: a key with an allowlist is inactive), and failures count against
    /// it. Every verification is counted in usage (`verified`, or the refusal).
    pub async fn introspect_raw_key(
        &self,
        caller: &Authenticated,
        value: &Secret,
        client_ip: Option<IpAddr>,
    ) -> Result<RawKeyCheck, VerifyError> {
        if !caller.key.scopes.contains(&Scope::Management(ManagementScope::Introspect)) {
            return Err(VerifyError::Insufficient(
                "introspection needs the keymint:introspect scope".into(),
            ));
        }
        match self.verify_raw_key(value, client_ip).await {
            Ok(Some(auth)) => Ok(RawKeyCheck::Active(auth.key)),
            Ok(None) => Ok(RawKeyCheck::Inactive),
            Err(AuthFailure::Unavailable(e)) => Err(VerifyError::Unavailable(e)),
            Err(AuthFailure::Busy) => Err(VerifyError::Busy),
            Err(_) => Ok(RawKeyCheck::Inactive),
        }
    }

    /// The key `value` is a secret of, if it may be used now from `ip`.
    async fn verify_raw_key(
        &self,
        value: &Secret,
        ip: Option<IpAddr>,
    ) -> Result<Option<Authenticated>, AuthFailure> {
        if secret::looks_generated(value.expose()) {
            // The value names its key even when its checksum fails (the refusal then
            // counts against that key, as at the token endpoint); a value without
            // a key id is checked as an unknown id.
            let id = secret::claimed_id(value.expose()).unwrap_or("-").to_string();
            return self.verify_for(&id, value, ip).await;
        }
        let now = self.clock.now();
        // Before any lookup, so a flood of unknown values from one address costs the
        // database a bounded number of queries.
        self.limiter.check(None, ip, now).map_err(|b| AuthFailure::Throttled(b.seconds()))?;
        let lookup = self.hasher.lookup(value);
        let remembered = self.keys.remembered_lookup(&lookup);
        if let Some(id) = &remembered {
            match self.verify_for(id, value, ip).await {
                Err(AuthFailure::KeyRefused { outcome: Outcome::WrongSecret, .. }) => {
                    // The key's secret changed since: look again.
                    self.keys.forget_lookup(&lookup);
                }
                other => return other,
            }
        }
        let ids = self.store.find_keys_by_lookup(&lookup).await.map_err(|e| {
            tracing::warn!(error = %crate::report::Chain(&e), "database error while looking up a raw key");
            AuthFailure::Unavailable(e)
        })?;
        // The key just tried from memory already answered (and was counted).
        let ids: Vec<String> =
            ids.into_iter().filter(|id| Some(id) != remembered.as_ref()).collect();
        if ids.is_empty() {
            if remembered.is_none() {
                self.limiter.failed(None, ip, now).await;
            }
            return Ok(None);
        }
        let mut last = Ok(None);
        for id in ids {
            last = self.verify_for(&id, value, ip).await;
            match &last {
                Ok(Some(_)) => {
                    self.keys.remember_lookup(&lookup, &id);
                    break;
                }
                // The same value imported into another key: try the next.
                Err(AuthFailure::KeyRefused { outcome: Outcome::WrongSecret, .. }) => {}
                _ => break,
            }
        }
        last
    }

    /// Authenticates `value` as key `id`'s secret from `ip`, as the token endpoint
    /// does, and counts a success as a verification.
    async fn verify_for(
        &self,
        id: &str,
        value: &Secret,
        ip: Option<IpAddr>,
    ) -> Result<Option<Authenticated>, AuthFailure> {
        let auth = self.check_client(id, Proof::Secret(value), ip).await?;
        self.usage.used(&auth.key, Outcome::Verified, ip, auth.previous_secret);
        Ok(Some(auth))
    }
}

//! Client authentication at the token endpoint: is this the secret of this key,
//! and may the key get a token now?
//!
//! Order matters: the secret's format and checksum are checked offline first; then
//! the key is looked up and the secret verified (an unknown id does the same work as
//! a known one); only then are status, expiry and address checked, so every refusal
//! costs the same and answers the same.

use std::net::IpAddr;
use std::str::FromStr;

use super::hashing::{HashError, Hasher};
use super::secret::{self, Secret};
use std::sync::Arc;

use super::cache::KeyCache;
use crate::store::{KeyRecord, KeyStatus, Store, StoreError};
use crate::vocab::Outcome;

/// A successful authentication.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub key: Arc<KeyRecord>,
    /// The pre-rotation secret (still in its grace period) was used.
    pub previous_secret: bool,
}

/// Why authentication failed. Clients see one answer (`invalid_client`) for every
/// `Refused` reason; the reason goes to logs, usage and metrics.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthFailure {
    #[error("refused: {0}")]
    Refused(&'static str),
    /// The key exists but may not have a token now (wrong secret, status, address).
    #[error("refused: {reason}")]
    KeyRefused { reason: &'static str, outcome: Outcome, workspace_id: String },
    /// Too many failed attempts for this key id or address: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled(u64),
    #[error("secret verification is saturated")]
    Busy,
    /// The store failed (logged once where it happened, with this cause).
    #[error("database unavailable")]
    Unavailable(#[source] StoreError),
}

impl AuthFailure {
    /// `key` exists but may not be used now, for `reason`.
    pub fn refused(key: &KeyRecord, outcome: Outcome, reason: &'static str) -> Self {
        AuthFailure::KeyRefused { reason, outcome, workspace_id: key.workspace_id.clone() }
    }

    /// A short, fixed label for metrics (never a client-supplied value).
    pub fn metric_reason(&self) -> &'static str {
        match self {
            AuthFailure::Refused(reason) | AuthFailure::KeyRefused { reason, .. } => reason,
            AuthFailure::Throttled(_) => "throttled",
            AuthFailure::Busy => "busy",
            AuthFailure::Unavailable(_) => "database unavailable",
        }
    }
}

impl From<HashError> for AuthFailure {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AuthFailure::Busy,
            HashError::Corrupt => AuthFailure::Refused("corrupt stored hash"),
        }
    }
}

pub fn valid_key_id(id: &str) -> bool {
    id.len() == secret::ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Authenticates `client_id` with `presented` at time `now` from address `ip`.
///
/// A secret in keymint's format, with a valid checksum and this key id, that does
/// not match the key as this instance remembers it may be newer than the memory
/// (a rotation or a creation by another instance or the CLI, not yet seen through
/// the change feed): the key is read again once, within the cache's refresh
/// bound, before the secret is refused. A secret valid when the client received
/// it is never refused for being too new.
pub async fn authenticate(
    keys: &KeyCache,
    store: &dyn Store,
    hasher: &Hasher,
    client_id: &str,
    presented: &Secret,
    now: i64,
    ip: Option<IpAddr>,
) -> Result<Authenticated, AuthFailure> {
    let failed = |e| store_failure(e, client_id);
    let well_formed = if secret::looks_generated(presented.expose()) {
        match secret::parse(presented.expose()) {
            Ok(embedded) if embedded == client_id => Ok(true),
            Ok(_) => Err("secret belongs to another key id"),
            Err(_) => Err("malformed secret"),
        }
    } else {
        Ok(false)
    };
    if !valid_key_id(client_id) {
        if well_formed.is_ok() {
            hasher.verify_unknown(presented).await?;
        }
        return Err(AuthFailure::Refused(well_formed.err().unwrap_or("malformed client id")));
    }
    // Refused offline, with no hashing; but a key that exists was presented a
    // wrong secret, which its usage and audit log show like any other.
    let well_formed = match well_formed {
        Ok(well_formed) => well_formed,
        Err(reason) => {
            return Err(match keys.find(store, client_id).await.map_err(failed)? {
                Some(key) => AuthFailure::refused(&key, Outcome::WrongSecret, reason),
                None => AuthFailure::Refused(reason),
            })
        }
    };
    let mut key = keys.find(store, client_id).await.map_err(failed)?;
    if key.is_none() && well_formed {
        if let Some(fresh) = keys.refresh(store, client_id).await.map_err(failed)? {
            key = fresh;
        }
    }
    let Some(mut key) = key else {
        hasher.verify_unknown(presented).await?;
        return Err(AuthFailure::Refused("unknown client id"));
    };
    let mut matched = matching_secret(hasher, &key, presented, now).await?;
    if matched.is_none() && well_formed {
        if let Some(Some(fresh)) = keys.refresh(store, client_id).await.map_err(failed)? {
            key = fresh;
            matched = matching_secret(hasher, &key, presented, now).await?;
        }
    }
    let Some(previous_secret) = matched else {
        return Err(AuthFailure::refused(&key, Outcome::WrongSecret, "wrong secret"));
    };
    usable(&key, now, ip)?;
    Ok(Authenticated { key, previous_secret })
}

/// Whether a key whose client proved its identity may be used at `now` from `ip`:
/// it is active (not deactivated, expired or revoked) and the address is allowed.
pub fn usable(key: &KeyRecord, now: i64, ip: Option<IpAddr>) -> Result<(), AuthFailure> {
    let fail = |outcome, reason| Err(AuthFailure::refused(key, outcome, reason));
    match super::key_status(key, now) {
        KeyStatus::Active => {}
        KeyStatus::Revoked => return fail(Outcome::KeyInactive, "key revoked"),
        KeyStatus::Inactive => return fail(Outcome::KeyInactive, "key deactivated"),
        KeyStatus::Expired => return fail(Outcome::KeyInactive, "key expired"),
    }
    if !address_allowed(&key.allowed_cidrs, ip) {
        return fail(Outcome::AddressNotAllowed, "address not allowed");
    }
    Ok(())
}

/// A store failure on the authentication path for `client_id`: logged here, once,
/// with its cause and the client it concerns (never a secret), and answered as
/// "unavailable" or, for a row that cannot be decoded, as a refusal.
fn store_failure(e: StoreError, client_id: &str) -> AuthFailure {
    match e {
        StoreError::Corrupt(why) => {
            tracing::error!(error = %why, client_id, "a key row cannot be decoded");
            AuthFailure::Refused("corrupt key row")
        }
        e => {
            tracing::warn!(error = %crate::report::Chain(&e), client_id, "database error while authenticating a client");
            AuthFailure::Unavailable(e)
        }
    }
}

/// Which of the key's secrets `presented` is: `Some(false)` the current one,
/// `Some(true)` the pre-rotation one (during its grace period), `None` neither.
async fn matching_secret(
    hasher: &Hasher,
    key: &KeyRecord,
    presented: &Secret,
    now: i64,
) -> Result<Option<bool>, HashError> {
    let current = match key.credential.current() {
        Some(current) => hasher.verify(&current.hash, presented).await?,
        // No secret (public keys, or none yet): as long as a key that does not exist takes.
        None => {
            hasher.verify_unknown(presented).await?;
            false
        }
    };
    if current {
        return Ok(Some(false));
    }
    match key.credential.in_grace(now) {
        Some(previous) if hasher.verify(&previous.hash, presented).await? => Ok(Some(true)),
        _ => Ok(None),
    }
}

/// What the tag of a key without a secret is computed from: its tokens (minted by
/// assertion) carry the tag of this text, as they always have.
const NO_SECRET: &str = "none";

/// The tag of `key`'s current secret ([`NO_SECRET`]'s for a key without one).
fn current_tag(key: &KeyRecord) -> String {
    secret_tag(key.credential.current().map_or(NO_SECRET, |s| s.hash.as_str()))
}

/// A short tag naming one stored secret hash (8 base62 characters of its SHA-256),
/// carried at the start of the `jti` of every token minted with that secret, so a
/// token can be traced to the secret that minted it without revealing anything.
pub fn secret_tag(stored_hash: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, stored_hash.as_bytes());
    secret::base62(&digest.as_ref()[..8], SECRET_TAG_LEN)
}

/// Length of [`secret_tag`].
pub const SECRET_TAG_LEN: usize = 8;

impl Authenticated {
    /// The tag of the secret that authenticated (current or pre-rotation).
    pub fn secret_tag(&self) -> String {
        match (self.key.credential.previous(), self.previous_secret) {
            (Some(previous), true) => secret_tag(&previous.hash),
            _ => current_tag(&self.key),
        }
    }
}

/// Whether a token of `key` (with this `jti`, issued at `iat`) is still backed by a
/// secret that works at `now`: the key is active and the secret that minted the
/// token is its current one, or its pre-rotation one while the grace period runs.
/// The one rule for `/v1` callers and introspection alike.
pub fn token_backed(key: &KeyRecord, jti: &str, iat: i64, now: i64) -> bool {
    // A token from token exchange carries its subject token's id first
    // (`{subject jti}.{random}`): it stands on the secret that minted the first.
    let jti = jti.split('.').next().unwrap_or(jti);
    match jti.get(..SECRET_TAG_LEN).filter(|_| jti.len() == SECRET_TAG_LEN + TOKEN_ID_LEN) {
        Some(tag) => secret_backed(key, tag, now),
        // A token minted before tags existed: judged by its issue time.
        None => {
            super::key_status(key, now) == KeyStatus::Active
                && (key.credential.in_grace(now).is_some()
                    || key.rotated_at.is_none_or(|rotated| rotated <= iat))
        }
    }
}

/// Whether the secret tagged `tag` ([`secret_tag`]) still works for `key` at `now`:
/// the key is active and the secret is its current one, or its pre-rotation one
/// while the grace period runs. Tokens and console sessions end by this rule.
pub fn secret_backed(key: &KeyRecord, tag: &str, now: i64) -> bool {
    super::key_status(key, now) == KeyStatus::Active
        && (tag == current_tag(key)
            || key.credential.in_grace(now).is_some_and(|p| tag == secret_tag(&p.hash)))
}

/// Random characters of a token id after the secret tag.
pub const TOKEN_ID_LEN: usize = 22;

/// Whether `ip` falls in one of `cidrs` (an empty list allows every address). An
/// IPv4-mapped IPv6 address is checked as the IPv4 address it maps.
pub fn address_allowed(cidrs: &[String], ip: Option<IpAddr>) -> bool {
    if cidrs.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    cidrs.iter().filter_map(|c| ipnet::IpNet::from_str(c).ok()).any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_allowlist_allows_everyone() {
        assert!(address_allowed(&[], Some("203.0.113.9".parse().unwrap())));
    }

    #[test]
    fn v4_v6_and_mapped_addresses_match_their_rules() {
        let cidrs = vec!["10.0.0.0/8".to_string(), "2001:db8::/32".to_string()];
        assert!(address_allowed(&cidrs, Some("10.9.8.7".parse().unwrap())));
        assert!(address_allowed(&cidrs, Some("::ffff:10.9.8.7".parse().unwrap())));
        assert!(address_allowed(&cidrs, Some("2001:db8::5".parse().unwrap())));
        assert!(!address_allowed(&cidrs, Some("11.0.0.1".parse().unwrap())));
        assert!(!address_allowed(&cidrs, Some("::ffff:11.0.0.1".parse().unwrap())));
        assert!(!address_allowed(&cidrs, None));
    }
}

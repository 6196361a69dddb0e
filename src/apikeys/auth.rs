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
use crate::store::{KeyRecord, Store, StoreError};

/// A successful authentication.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub key: Arc<KeyRecord>,
    /// The pre-rotation secret (still in its grace period) was used.
    pub previous_secret: bool,
}

/// Why authentication failed. Clients see one answer (`invalid_client`) for every
/// `Refused` reason; the reason goes to logs, usage and metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("refused: {0}")]
    Refused(&'static str),
    /// The key exists but may not have a token now (wrong secret, status, address).
    #[error("refused: {reason}")]
    KeyRefused { reason: &'static str, workspace_id: String },
    /// Too many failed attempts for this key id or address: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled(u64),
    #[error("secret verification is saturated")]
    Busy,
    #[error("database unavailable")]
    Unavailable,
}

impl AuthFailure {
    /// A short, fixed label for metrics (never a client-supplied value).
    pub fn metric_reason(&self) -> &'static str {
        match self {
            AuthFailure::Refused(reason) | AuthFailure::KeyRefused { reason, .. } => reason,
            AuthFailure::Throttled(_) => "throttled",
            AuthFailure::Busy => "busy",
            AuthFailure::Unavailable => "database unavailable",
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
pub async fn authenticate(
    keys: &KeyCache,
    store: &dyn Store,
    hasher: &Hasher,
    client_id: &str,
    presented: &Secret,
    now: i64,
    ip: Option<IpAddr>,
) -> Result<Authenticated, AuthFailure> {
    if secret::looks_generated(presented.expose()) {
        match secret::parse(presented.expose()) {
            Ok(embedded) if embedded == client_id => {}
            Ok(_) => return Err(AuthFailure::Refused("secret belongs to another key id")),
            Err(_) => return Err(AuthFailure::Refused("malformed secret")),
        }
    }
    if !valid_key_id(client_id) {
        hasher.verify_unknown(presented).await?;
        return Err(AuthFailure::Refused("malformed client id"));
    }
    let key = match keys.find(store, client_id).await {
        Ok(Some(key)) => key,
        Ok(None) => {
            hasher.verify_unknown(presented).await?;
            return Err(AuthFailure::Refused("unknown client id"));
        }
        Err(StoreError::Corrupt(_)) => return Err(AuthFailure::Refused("corrupt key row")),
        Err(_) => return Err(AuthFailure::Unavailable),
    };
    let fail = |reason: &'static str| {
        Err(AuthFailure::KeyRefused { reason, workspace_id: key.workspace_id.clone() })
    };

    let mut previous_secret = false;
    if !hasher.verify(&key.secret_hash, presented).await? {
        let in_grace = matches!(key.previous_expires_at, Some(until) if until > now);
        match (&key.previous_secret_hash, in_grace) {
            (Some(previous), true) if hasher.verify(previous, presented).await? => {
                previous_secret = true;
            }
            _ => return fail("wrong secret"),
        }
    }
    match super::key_status(&key, now) {
        "active" => {}
        "revoked" => return fail("key revoked"),
        "inactive" => return fail("key deactivated"),
        "expired" => return fail("key expired"),
        _ => return fail("key status unknown"),
    }
    if !address_allowed(&key.allowed_cidrs, ip) {
        return fail("address not allowed");
    }
    Ok(Authenticated { key, previous_secret })
}

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

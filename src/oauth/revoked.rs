//! Revoked access tokens held in memory, so checking a token (introspection,
//! `/v1`, token exchange) asks the database nothing. Loaded at start, kept in step
//! by the change feed (each revocation is announced on it, so another instance
//! learns it within a poll, at once on PostgreSQL), reloaded when the feed
//! resyncs. Tokens live minutes, so the set stays small; past [`MAX_HELD`]
//! unexpired revocations it stops holding them and every check asks the database,
//! as before.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::clock::Clock;
use crate::store::{Store, StoreResult};

/// Most revocations held; past it, checks go to the database.
pub const MAX_HELD: usize = 100_000;

/// What this instance knows of revocations.
enum Known {
    /// Every revoked token not yet expired: `jti` → its `exp`.
    All(HashMap<String, i64>),
    /// Not loaded, or too many to hold: ask the database.
    Unknown,
}

/// The revoked tokens. One per process.
pub struct Revoked {
    known: RwLock<Known>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// How long a revocation the feed announces is held: no token revoked now
    /// outlives it (the longest token life, and leeway).
    hold_seconds: i64,
}

impl Revoked {
    /// Knows nothing until [`Revoked::reload`].
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, hold_seconds: i64) -> Self {
        Revoked { known: RwLock::new(Known::Unknown), store, clock, hold_seconds }
    }

    /// A revocation the change feed announced (its expiry is not on the feed).
    pub fn announced(&self, jti: &str) {
        self.insert(jti, self.clock.now() + self.hold_seconds);
    }

    /// Reads every unexpired revocation from the database.
    pub async fn reload(&self) -> StoreResult<()> {
        let now = self.clock.now();
        let rows = self.store.revoked_tokens(now, MAX_HELD as i64 + 1).await?;
        let known = if rows.len() > MAX_HELD {
            Known::Unknown
        } else {
            Known::All(rows.into_iter().collect())
        };
        if let Ok(mut held) = self.known.write() {
            *held = known;
        }
        Ok(())
    }

    /// Holds that `jti` is revoked until `expires_at` (a revocation here, or one
    /// the change feed announced). Expired revocations are dropped as it grows.
    pub fn insert(&self, jti: &str, expires_at: i64) {
        let now = self.clock.now();
        let Ok(mut known) = self.known.write() else { return };
        if let Known::All(held) = &mut *known {
            held.insert(jti.to_string(), expires_at);
            if held.len() % 1024 == 0 {
                held.retain(|_, exp| *exp >= now);
            }
            if held.len() > MAX_HELD {
                *known = Known::Unknown;
            }
        }
    }

    /// Forgets everything held: checks ask the database until the next reload.
    pub fn forget(&self) {
        if let Ok(mut known) = self.known.write() {
            *known = Known::Unknown;
        }
    }

    /// Whether any of `ids` was revoked: from memory, or from the database when
    /// memory does not know.
    pub async fn any(&self, ids: &[&str]) -> StoreResult<bool> {
        let answer = match self.known.read().as_deref() {
            Ok(Known::All(held)) => Some(ids.iter().any(|id| held.contains_key(*id))),
            _ => None,
        };
        if let Some(answer) = answer {
            return Ok(answer);
        }
        for id in ids {
            if self.store.is_token_revoked(id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

//! Brute-force limits on client authentication: failed attempts are counted per
//! key id and per client address in fixed windows; once either count reaches its
//! limit, further attempts are refused (429) until the window ends, before any
//! secret is checked, so a flood costs no argon2 work. Counters live in memory,
//! per instance, and never grow without bound.
//!
//! The per-key limit applies to attempts with secrets that are not in keymint's
//! format, the only ones that can match an imported (possibly weak) secret. A
//! generated secret carries 190 random bits and is checked in microseconds, so
//! guessing it needs no limit, and a stranger who knows a public `client_id` cannot
//! lock its owner out by sending wrong generated-format secrets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Most counters kept; past this, expired ones are dropped, then all (fail open).
const MAX_ENTRIES: usize = 100_000;

/// Failed-authentication limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_key: u32,
    pub per_ip: u32,
    pub window_seconds: i64,
}

/// Which limit an attempt ran into, and the seconds until its window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// The key id's limit (secrets that could match an imported value).
    Key(u64),
    /// The client address's limit.
    Address(u64),
}

impl Blocked {
    pub fn seconds(self) -> u64 {
        match self {
            Blocked::Key(s) | Blocked::Address(s) => s,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    failures: u32,
}

impl Window {
    /// Seconds to wait, if this window has reached `limit` at `now`.
    fn blocks(&self, limit: u32, length: i64, now: i64) -> Option<u64> {
        let ends = self.start + length;
        (now < ends && self.failures >= limit)
            .then(|| u64::try_from(ends - now).unwrap_or(1).max(1))
    }

    fn count(&mut self, length: i64, now: i64) {
        if now >= self.start + length {
            *self = Window { start: now, failures: 0 };
        }
        self.failures = self.failures.saturating_add(1);
    }
}

#[derive(Debug, Default)]
struct Windows {
    keys: HashMap<String, Window>,
    ips: HashMap<IpAddr, Window>,
}

/// Counts failures and decides whether an attempt may proceed. Checking allocates
/// nothing, so the check costs a successful exchange almost nothing.
#[derive(Debug)]
pub struct FailureLimiter {
    limits: Limits,
    windows: Mutex<Windows>,
}

impl FailureLimiter {
    pub fn new(limits: Limits) -> Self {
        FailureLimiter { limits, windows: Mutex::new(Windows::default()) }
    }

    /// `Err` when an attempt for `key_id` from `ip` must wait: the key's limit is
    /// named first when both are reached.
    pub fn check(&self, key_id: Option<&str>, ip: Option<IpAddr>, now: i64) -> Result<(), Blocked> {
        let Ok(w) = self.windows.lock() else { return Ok(()) };
        let length = self.limits.window_seconds;
        let by_key = key_id
            .and_then(|id| w.keys.get(id))
            .and_then(|k| k.blocks(self.limits.per_key, length, now));
        let by_ip = ip
            .and_then(|ip| w.ips.get(&ip))
            .and_then(|i| i.blocks(self.limits.per_ip, length, now));
        match (by_key, by_ip) {
            (Some(seconds), _) => Err(Blocked::Key(seconds)),
            (None, Some(seconds)) => Err(Blocked::Address(seconds)),
            (None, None) => Ok(()),
        }
    }

    /// Records a failed attempt for `key_id` from `ip`.
    pub fn failed(&self, key_id: Option<&str>, ip: Option<IpAddr>, now: i64) {
        let Ok(mut w) = self.windows.lock() else { return };
        let length = self.limits.window_seconds;
        if w.keys.len() + w.ips.len() >= MAX_ENTRIES {
            w.keys.retain(|_, k| now < k.start + length);
            w.ips.retain(|_, i| now < i.start + length);
            if w.keys.len() + w.ips.len() >= MAX_ENTRIES {
                *w = Windows::default();
            }
        }
        let fresh = Window { start: now, failures: 0 };
        if let Some(id) = key_id {
            match w.keys.get_mut(id) {
                Some(k) => k.count(length, now),
                None => {
                    w.keys.insert(id.to_string(), Window { failures: 1, ..fresh });
                }
            }
        }
        if let Some(ip) = ip {
            w.ips.entry(ip).or_insert(fresh).count(length, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> FailureLimiter {
        FailureLimiter::new(Limits { per_key: 3, per_ip: 5, window_seconds: 60 })
    }

    #[test]
    fn a_key_is_blocked_after_its_limit_until_the_window_ends() {
        let l = limiter();
        for i in 0..3 {
            assert!(l.check(Some("k1"), None, 100).is_ok(), "attempt {i}");
            l.failed(Some("k1"), None, 100);
        }
        assert_eq!(l.check(Some("k1"), None, 110), Err(Blocked::Key(50)));
        assert!(l.check(Some("k2"), None, 110).is_ok(), "other keys are unaffected");
        assert!(l.check(Some("k1"), None, 160).is_ok(), "a new window");
    }

    #[test]
    fn an_address_is_blocked_across_keys() {
        let l = limiter();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..5 {
            l.failed(Some(&format!("k{i}")), Some(ip), 0);
        }
        assert_eq!(l.check(Some("fresh"), Some(ip), 1), Err(Blocked::Address(59)));
        assert!(l.check(Some("fresh"), Some("192.0.2.2".parse().unwrap()), 1).is_ok());
    }
}

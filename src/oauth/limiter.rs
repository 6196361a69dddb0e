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

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    failures: u32,
}

/// Counts failures and decides whether an attempt may proceed.
#[derive(Debug)]
pub struct FailureLimiter {
    limits: Limits,
    windows: Mutex<HashMap<String, Window>>,
}

impl FailureLimiter {
    pub fn new(limits: Limits) -> Self {
        FailureLimiter { limits, windows: Mutex::new(HashMap::new()) }
    }

    fn subjects(key_id: Option<&str>, ip: Option<IpAddr>) -> [(Option<String>, bool); 2] {
        [(key_id.map(|id| format!("k:{id}")), true), (ip.map(|ip| format!("i:{ip}")), false)]
    }

    /// `Err(seconds)` when an attempt for `key_id` from `ip` must wait that long.
    pub fn check(&self, key_id: Option<&str>, ip: Option<IpAddr>, now: i64) -> Result<(), u64> {
        let Ok(windows) = self.windows.lock() else {
            return Ok(());
        };
        for (subject, is_key) in Self::subjects(key_id, ip) {
            let Some(subject) = subject else { continue };
            let limit = if is_key { self.limits.per_key } else { self.limits.per_ip };
            if let Some(w) = windows.get(&subject) {
                let ends = w.start + self.limits.window_seconds;
                if now < ends && w.failures >= limit {
                    return Err(u64::try_from(ends - now).unwrap_or(1).max(1));
                }
            }
        }
        Ok(())
    }

    /// Records a failed attempt for `key_id` from `ip`.
    pub fn failed(&self, key_id: Option<&str>, ip: Option<IpAddr>, now: i64) {
        let Ok(mut windows) = self.windows.lock() else {
            return;
        };
        if windows.len() >= MAX_ENTRIES {
            let window = self.limits.window_seconds;
            windows.retain(|_, w| now < w.start + window);
            if windows.len() >= MAX_ENTRIES {
                windows.clear();
            }
        }
        for (subject, _) in Self::subjects(key_id, ip) {
            let Some(subject) = subject else { continue };
            let w = windows.entry(subject).or_insert(Window { start: now, failures: 0 });
            if now >= w.start + self.limits.window_seconds {
                *w = Window { start: now, failures: 0 };
            }
            w.failures = w.failures.saturating_add(1);
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
        assert_eq!(l.check(Some("k1"), None, 110), Err(50));
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
        assert!(l.check(Some("fresh"), Some(ip), 1).is_err());
        assert!(l.check(Some("fresh"), Some("192.0.2.2".parse().unwrap()), 1).is_ok());
    }
}

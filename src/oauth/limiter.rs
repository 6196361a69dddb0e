//! Brute-force limits on client authentication: failed attempts are counted per
//! key id and per client address in fixed windows; once either count reaches its
//! limit, further attempts are refused (429) until the window ends, before any
//! secret is checked, so a flood costs no argon2 work. Counters live in memory and
//! never grow without bound. On PostgreSQL, where several instances share one
//! database, every failure is also counted there by an atomic statement (failures
//! that arrive together share one), and the shared count is what the limit
//! compares: an attacker gets the configured attempts across all instances, not
//! that many on each. Checks stay in memory, and a locked id or address makes no
//! more failures to count, so a lockout storm writes nothing; successes never
//! write.
//!
//! A refused attempt is answered no sooner than [`Limits::delay`] after it began,
//! so each request a flood keeps in flight (an HTTP/1.1 connection, an HTTP/2
//! stream) gets a few answers a second: a flood then costs other clients in
//! proportion to the requests it holds open, not to its speed, and the wait is a
//! timer, not work.
//!
//! The per-key limit applies to attempts with secrets that are not in keymint's
//! format, the only ones that can match an imported (possibly weak) secret. A
//! generated secret carries 190 random bits and is checked in microseconds, so
//! guessing it needs no limit, and a stranger who knows a public `client_id` cannot
//! lock its owner out by sending wrong generated-format secrets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::store::{Batched, Store, StoreResult};

/// Most failures one statement counts.
const MAX_BATCH: usize = 512;

/// Most counters kept; past this, expired ones are dropped, then all (fail open).
const MAX_ENTRIES: usize = 100_000;

/// Failed-authentication limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_key: u32,
    pub per_ip: u32,
    pub window_seconds: i64,
    /// The least time from an attempt's start to its refusal.
    pub delay: std::time::Duration,
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

    /// Takes the shared window: it counts every instance's failures, this one's
    /// included, so it replaces the local count.
    fn join(&mut self, start: i64, failures: i64) {
        *self = Window { start, failures: u32::try_from(failures).unwrap_or(u32::MAX) };
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
pub struct FailureLimiter {
    limits: Limits,
    windows: Mutex<Windows>,
    /// Where failures are counted across instances (PostgreSQL), if anywhere.
    shared: Option<Shared>,
}

/// Failures counted in the store: those that arrive together share one statement.
struct Shared {
    store: Arc<dyn Store>,
    /// (subject as stored, when) -> the subject's shared window (start, failures).
    counts: Batched<(String, i64), (i64, i64)>,
    /// When stale shared windows were last forgotten.
    purged: AtomicI64,
}

/// Counts one batch of failures with one statement: each subject once, with how
/// many times it failed, at the batch's latest second. Every failure of a subject
/// gets the subject's window as it stands after the whole batch.
async fn count_shared(
    store: Arc<dyn Store>,
    window: i64,
    failures: Vec<(String, i64)>,
) -> StoreResult<Vec<(i64, i64)>> {
    let now = failures.iter().map(|(_, at)| *at).max().unwrap_or_default();
    let mut subjects: Vec<(String, i64)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let positions: Vec<usize> = failures
        .iter()
        .map(|(subject, _)| {
            *index.entry(subject).or_insert_with(|| {
                subjects.push((subject.clone(), 0));
                subjects.len() - 1
            })
        })
        .collect();
    for &i in &positions {
        subjects[i].1 += 1;
    }
    let windows = store.count_failures(&subjects, now, window).await?;
    Ok(positions.into_iter().filter_map(|i| windows.get(i).copied()).collect())
}

impl FailureLimiter {
    pub fn new(limits: Limits) -> Self {
        FailureLimiter { limits, windows: Mutex::new(Windows::default()), shared: None }
    }

    /// The least time from an attempt's start to its refusal.
    pub fn delay(&self) -> std::time::Duration {
        self.limits.delay
    }

    /// Counts failures in `store` too, shared by every instance that uses it
    /// (needs a tokio runtime).
    pub fn shared_through(mut self, store: Arc<dyn Store>) -> Self {
        let window = self.limits.window_seconds;
        let counting = store.clone();
        let counts = Batched::start("failure counter", MAX_BATCH, 1, move |failures| {
            count_shared(counting.clone(), window, failures)
        });
        self.shared = Some(Shared { store, counts, purged: AtomicI64::new(0) });
        self
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

    /// Records a failed attempt for `key_id` from `ip`: in memory, and in the
    /// shared store when there is one (whose counts then decide).
    pub async fn failed(&self, key_id: Option<&str>, ip: Option<IpAddr>, now: i64) {
        self.count_locally(key_id, ip, now);
        let Some(shared) = &self.shared else { return };
        let length = self.limits.window_seconds;
        let subjects = [key_id.map(Subject::Key), ip.map(Subject::Address)];
        for subject in subjects.into_iter().flatten() {
            match shared.counts.call((subject.stored(), now)).await {
                Ok((start, failures)) => {
                    let Ok(mut w) = self.windows.lock() else { return };
                    let window = match subject {
                        Subject::Address(ip) => w.ips.get_mut(&ip),
                        Subject::Key(id) => w.keys.get_mut(id),
                    };
                    if let Some(window) = window {
                        window.join(start, failures);
                    }
                }
                // The local count still applies; the database's trouble is logged
                // where it is noticed by everything else.
                Err(e) => {
                    tracing::debug!(error = %crate::report::Chain(&e), "failure not counted in the database")
                }
            }
        }
        // Windows last at most a day: forget older ones, at most once an hour.
        let last = shared.purged.load(Ordering::Relaxed);
        if now - last >= 3_600
            && shared
                .purged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            if let Err(e) = shared.store.purge_failures(now - 86_400 - length).await {
                tracing::debug!(error = %crate::report::Chain(&e), "stale failure windows not purged");
            }
        }
    }

    fn count_locally(&self, key_id: Option<&str>, ip: Option<IpAddr>, now: i64) {
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

/// Whose failures a window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject<'a> {
    Key(&'a str),
    Address(IpAddr),
}

impl Subject<'_> {
    /// How the shared store names it: `key:<id>` or `ip:<address>`.
    fn stored(self) -> String {
        match self {
            Subject::Key(id) => format!("key:{id}"),
            Subject::Address(ip) => format!("ip:{ip}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> FailureLimiter {
        FailureLimiter::new(Limits {
            per_key: 3,
            per_ip: 5,
            window_seconds: 60,
            delay: std::time::Duration::ZERO,
        })
    }

    #[test]
    fn a_key_is_blocked_after_its_limit_until_the_window_ends() {
        let l = limiter();
        for i in 0..3 {
            assert!(l.check(Some("k1"), None, 100).is_ok(), "attempt {i}");
            l.count_locally(Some("k1"), None, 100);
        }
        assert_eq!(l.check(Some("k1"), None, 110), Err(Blocked::Key(50)));
        assert!(l.check(Some("k2"), None, 110).is_ok(), "other keys are unaffected");
        assert!(l.check(Some("k1"), None, 160).is_ok(), "a new window");
    }

    #[tokio::test]
    async fn failures_counted_together_answer_each_with_its_subjects_window() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("limits.db").display());
        let store = crate::store::open(&url).await.unwrap();
        let failures = [("ip:192.0.2.1", 100), ("key:k1", 100), ("ip:192.0.2.1", 101)];
        let failures = failures.iter().map(|(s, at)| (s.to_string(), *at)).collect();
        let windows = count_shared(store.clone(), 60, failures).await.unwrap();
        assert_eq!(
            windows,
            [(101, 2), (101, 1), (101, 2)],
            "one window per subject, at the latest second"
        );
        let later = count_shared(store, 60, vec![("key:k1".into(), 130)]).await.unwrap();
        assert_eq!(later, [(101, 2)]);
    }

    #[test]
    fn an_address_is_blocked_across_keys() {
        let l = limiter();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..5 {
            l.count_locally(Some(&format!("k{i}")), Some(ip), 0);
        }
        assert_eq!(l.check(Some("fresh"), Some(ip), 1), Err(Blocked::Address(59)));
        assert!(l.check(Some("fresh"), Some("192.0.2.2".parse().unwrap()), 1).is_ok());
    }
}

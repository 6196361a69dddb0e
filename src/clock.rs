//! Time as the service sees it. Production uses the system clock; tests inject a
//! [`ManualClock`](crate::clock::ManualClock) to cross expiry and grace periods without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A source of "now" in unix seconds.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;

    /// Now in unix microseconds, for ordering events within one second (the audit
    /// log); decisions use [`Clock::now`].
    fn now_micros(&self) -> i64 {
        self.now() * 1_000_000
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "this is the one place that reads the system clock"
    )]
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "this is the one place that reads the system clock"
    )]
    fn now_micros(&self) -> i64 {
        i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000)
            .unwrap_or(i64::MAX)
    }
}

/// A clock that only moves when told to; starts at the system time, on a whole
/// second. Within a second its microseconds still advance, one per reading, so
/// events keep the order they happened in.
#[derive(Debug)]
pub struct ManualClock {
    seconds: AtomicI64,
    micros: AtomicI64,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock {
            seconds: AtomicI64::new(SystemClock.now()),
            micros: AtomicI64::new(0),
        })
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.seconds.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.seconds.load(Ordering::SeqCst)
    }

    fn now_micros(&self) -> i64 {
        let within = self.micros.fetch_add(1, Ordering::SeqCst).rem_euclid(1_000_000);
        self.now() * 1_000_000 + within
    }
}

/// Wall-clock unix milliseconds, for measuring lag between instances (never for
/// decisions, which use a [`Clock`]).
#[expect(clippy::disallowed_methods, reason = "lag is measured against the real wall clock")]
pub fn wall_clock_millis() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// Formats unix seconds as RFC 3339 (UTC); out-of-range values print as the raw number.
pub fn rfc3339(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| at.to_string())
}

/// Parses an RFC 3339 timestamp into unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Parses an RFC 3339 timestamp into unix microseconds (finer digits dropped).
pub fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).ok())
}

/// Parses an RFC 3339 timestamp into unix seconds, rounded up: the end of a range
/// at 17:00:00.4 covers the second 17:00:00.
pub fn parse_rfc3339_ceil(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp() + i64::from(t.nanosecond() > 0))
}

/// The UTC calendar day of `at`, as `YYYY-MM-DD`.
pub fn day(at: i64) -> String {
    rfc3339(at).chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("2030-01-02T03:04:05Z"), Some(1_893_553_445));
        assert_eq!(parse_rfc3339(&rfc3339(1_893_553_445)), Some(1_893_553_445));
        assert_eq!(parse_rfc3339("tomorrow"), None);
        assert_eq!(day(1_893_553_445), "2030-01-02");
    }

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new();
        let start = clock.now();
        clock.advance(90);
        assert_eq!(clock.now(), start + 90);
    }
}

//! Usage accounting off the request path: token exchanges are counted in memory
//! (per key and hour, by [`Outcome`](crate::vocab::Outcome); tokens per key, day
//! and client address; each key's last use) and flushed to the store by a
//! background task and once more on a clean shutdown. A flush only appends to the
//! usage log (one `COPY` on PostgreSQL), so its cost grows with this instance's
//! keys and nothing else; a failed one puts the batch back, so nothing counted is
//! lost while the process lives. One instance at a time folds the log into the
//! hourly rows, client addresses and keys' last uses, at most every
//! [`FOLD_EVERY`](crate::usage::FOLD_EVERY) seconds across the fleet, and a usage
//! read folds first ([`Usage::settle`](crate::usage::Usage::settle)) so it sees
//! every flush before it. Hourly rows and addresses are kept
//! [`HOURS_KEPT`](crate::usage::HOURS_KEPT) seconds,
//! then rolled up into daily rows kept [`DAYS_KEPT`](crate::usage::DAYS_KEPT); a
//! daily read sums the hours still kept, so a fold writes one counter row per key
//! and hour, not two.

mod pending;
mod report;

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::store::{AuditRecord, Fold, Granularity, KeyRecord, Store, StoreError};
use crate::vocab::{Action, Outcome, Tally};

pub use pending::MAX_PENDING_ADDRESSES;
use pending::{Pending, Use};
pub use report::{
    AddressExchanges, Bucket, CallersRefused, Counts, KeyUsage, Refusals, TopKey, UsageRange,
    WorkspaceUsage,
};

/// How long hourly usage (and tokens per address) is kept: 30 days.
pub const HOURS_KEPT: i64 = 30 * 86_400;
/// How long daily usage is kept: a year.
pub const DAYS_KEPT: i64 = 365 * 86_400;

/// Most keys one write of a flush carries: a flush of more keys writes them in
/// turns, each its own append to the log, so its memory is bounded by this and not
/// by the number of keys used since the last one.
const KEYS_PER_WRITE: usize = 10_000;

/// How often the usage log is folded, across every instance: each instance's flush
/// appends, and one of them folds, so the database's work grows with the keys
/// used, not with the number of instances.
pub const FOLD_EVERY: i64 = 60;

/// The in-memory usage aggregator. One per process.
pub struct Usage {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pending: Mutex<Pending>,
    /// Serialises flushes so batches are applied in order.
    flushing: tokio::sync::Mutex<()>,
    /// What the flush under way took out of `pending`, until it is written.
    in_flight: Mutex<Unwritten>,
    /// The hour of the last purge of expired usage.
    purged: AtomicI64,
}

impl Usage {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Usage {
            store,
            clock,
            pending: Mutex::new(Pending::default()),
            flushing: tokio::sync::Mutex::new(()),
            in_flight: Mutex::new(Unwritten::default()),
            purged: AtomicI64::new(i64::MIN),
        }
    }

    fn with_pending(&self, f: impl FnOnce(&mut Pending)) {
        let mut pending = match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut pending);
    }

    /// An exchange naming `key_id` ended with `outcome`. Counts for ids that are
    /// not keys are dropped when written; those of a key in a known workspace
    /// (`workspace_id`) are kept even if the key is deleted before they are written.
    pub fn count(&self, key_id: &str, workspace_id: Option<&str>, outcome: Outcome) {
        let hour = Granularity::Hour.bucket(self.clock.now());
        self.with_pending(|p| p.add(key_id, workspace_id, hour, &Tally::of(outcome)));
    }

    /// A token was issued to `key`, from `ip`, with its pre-rotation secret or not.
    pub fn issued(&self, key: &KeyRecord, ip: Option<IpAddr>, previous_secret: bool) {
        self.used(key, Outcome::Issued, ip, previous_secret);
    }

    /// `key` was used successfully (`Issued` or `Verified`), from `ip`, with its
    /// pre-rotation secret or not: counted, and its last use marked.
    pub fn used(
        &self,
        key: &KeyRecord,
        outcome: Outcome,
        ip: Option<IpAddr>,
        previous_secret: bool,
    ) {
        let at = self.clock.now();
        let used = Use::new(at, ip, previous_secret);
        self.with_pending(|p| {
            p.add_success(
                &key.id,
                Some(&key.workspace_id),
                (Granularity::Hour.bucket(at), Granularity::Day.bucket(at)),
                &Tally::of(outcome),
                used,
            );
        });
    }

    /// An existing key was refused a token: an audit event with the real reason
    /// (the client only ever sees `invalid_client`).
    pub fn refused(&self, key_id: &str, workspace_id: &str, ip: Option<IpAddr>, reason: &str) {
        let event = AuditRecord {
            id: 0,
            at_us: self.clock.now_micros(),
            actor: key_id.to_string(),
            actor_email: None,
            actor_ip: ip.map(|ip| ip.to_string()),
            workspace_id: Some(workspace_id.to_string()),
            action: Action::TokenRefused,
            target_id: key_id.to_string(),
            details: serde_json::json!({ "reason": reason }),
            event: None,
        };
        self.with_pending(|p| p.add_event(event));
    }

    /// Writes everything counted so far to the usage log: what a clean shutdown
    /// does. Nothing is lost once it returns; reads see it after the next fold.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _serial = self.flushing.lock().await;
        let mut pending = Pending::default();
        self.with_pending(|p| std::mem::swap(p, &mut pending));
        if pending.dropped > 0 {
            tracing::warn!(
                dropped = pending.dropped,
                "too many distinct refused ids, addresses or events to count each one"
            );
            pending.dropped = 0;
        }
        if pending.is_empty() {
            return Ok(());
        }
        let mut left = pending.summary();
        while !pending.is_empty() {
            self.set_in_flight(left);
            let part = pending.split_off(KEYS_PER_WRITE);
            if let Err(e) = self.store.record_usage(&part.batch()).await {
                // What was written stays written; the rest is counted again.
                self.set_in_flight(Unwritten::default());
                self.with_pending(|p| {
                    p.restore(part);
                    p.restore(pending);
                });
                return Err(e);
            }
            left.subtract(&part.summary());
        }
        self.set_in_flight(Unwritten::default());
        Ok(())
    }

    /// Flushes, then folds the log (every instance's flushes) into the counters
    /// and keys' last uses: after it, a usage read sees every exchange counted
    /// before it, here and on any instance that flushed.
    pub async fn settle(&self) -> Result<(), StoreError> {
        self.flush().await?;
        self.store.fold_usage(Fold::Now { at: self.clock.now() }).await?;
        self.purge().await
    }

    /// What the background does every interval: a flush, and a fold when no
    /// instance folded in the last [`FOLD_EVERY`] seconds.
    async fn tick(&self) -> Result<(), StoreError> {
        self.flush().await?;
        let at = self.clock.now();
        if self.store.fold_usage(Fold::Due { at, since: at - FOLD_EVERY }).await? {
            self.purge().await?;
        }
        Ok(())
    }

    /// Forgets expired usage, once an hour.
    async fn purge(&self) -> Result<(), StoreError> {
        let hour = Granularity::Hour.bucket(self.clock.now());
        if self.purged.swap(hour, Ordering::Relaxed) != hour {
            if let Err(e) = self.store.purge_usage(hour - HOURS_KEPT, hour - DAYS_KEPT).await {
                self.purged.store(i64::MIN, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }

    fn set_in_flight(&self, what: Unwritten) {
        match self.in_flight.lock() {
            Ok(mut f) => *f = what,
            Err(poisoned) => *poisoned.into_inner() = what,
        }
    }

    /// Flushes every `interval` (and folds when due) until `stop` says so. A flush
    /// under way when it does is finished, never cut short: it has taken its batch
    /// out of memory.
    pub fn spawn_flusher(
        self: &Arc<Self>,
        interval: Duration,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let usage = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
                if let Err(e) = usage.tick().await {
                    tracing::warn!(error = %crate::report::Chain(&e), "usage flush failed; will retry");
                }
            }
        })
    }

    /// What is counted in memory and not yet written (a flush under way included).
    pub fn unwritten(&self) -> Unwritten {
        let mut total = Unwritten::default();
        self.with_pending(|p| total = p.summary());
        total.add(&self.in_flight());
        total
    }

    /// What the flush under way is writing (nothing when none is).
    pub fn in_flight(&self) -> Unwritten {
        match self.in_flight.lock() {
            Ok(f) => *f,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// A summary of usage not yet written: what a shutdown that cannot write it loses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unwritten {
    /// Keys with counts or a last use.
    pub keys: usize,
    pub tally: Tally,
    /// `token.refused` audit events.
    pub events: usize,
}

impl Unwritten {
    fn add(&mut self, other: &Unwritten) {
        self.keys += other.keys;
        self.tally.add(&other.tally);
        self.events += other.events;
    }

    /// Takes away `other`, a part of what this counts.
    fn subtract(&mut self, other: &Unwritten) {
        self.keys -= other.keys;
        self.tally.subtract(&other.tally);
        self.events -= other.events;
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.keys == 0 && self.events == 0
    }
}

impl std::fmt::Display for Unwritten {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = &self.tally;
        write!(
            f,
            "{} tokens issued, {} refusals and {} raw-key verifications of {} keys, \
             and {} token.refused audit events",
            t.issued, t.failed, t.verified, self.keys, self.events
        )
    }
}

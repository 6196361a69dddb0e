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

mod report;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::store::{
    AddressUse, AuditRecord, Fold, Granularity, KeyRecord, LastUse, PreviousUse, Store, StoreError,
    UsageBatch, UsageRow,
};
use crate::vocab::{Action, Outcome, Tally};

pub use report::{
    AddressExchanges, Bucket, CallersRefused, Counts, KeyUsage, Refusals, TopKey, UsageRange,
    WorkspaceUsage,
};

/// How long hourly usage (and tokens per address) is kept: 30 days.
pub const HOURS_KEPT: i64 = 30 * 86_400;
/// How long daily usage is kept: a year.
pub const DAYS_KEPT: i64 = 365 * 86_400;

/// Most distinct keys held between flushes for refusals (ids that may not exist).
const MAX_PENDING_KEYS: usize = 10_000;

/// Most distinct (key, day, address) counters held between flushes.
pub const MAX_PENDING_ADDRESSES: usize = 100_000;

/// How often the usage log is folded, across every instance: each instance's flush
/// appends, and one of them folds, so the database's work grows with the keys
/// used, not with the number of instances.
pub const FOLD_EVERY: i64 = 60;

/// Most refusal events kept between flushes; more are counted and dropped.
const MAX_PENDING_EVENTS: usize = 100;

/// A key's uses since the last write.
#[derive(Clone, Copy)]
struct Use {
    at: i64,
    ip: Option<IpAddr>,
    /// Uses of the pre-rotation secret: (count, last at, last address).
    previous: Option<(i64, i64, Option<IpAddr>)>,
}

impl Use {
    fn new(at: i64, ip: Option<IpAddr>, previous_secret: bool) -> Self {
        Use { at, ip, previous: previous_secret.then_some((1, at, ip)) }
    }

    /// Adds `other`, the later of the two giving the last time and address.
    fn merge(&mut self, other: Use) {
        if other.at >= self.at {
            self.at = other.at;
            self.ip = other.ip;
        }
        self.previous = match (self.previous, other.previous) {
            (Some((n, at, ip)), Some((m, other_at, other_ip))) => {
                Some(if other_at >= at { (n + m, other_at, other_ip) } else { (n + m, at, ip) })
            }
            (mine, theirs) => mine.or(theirs),
        };
    }
}

#[derive(Default)]
struct Pending {
    /// Per key: (hour start, counts). Looked up by `&str`, so counting an exchange
    /// of a key already seen allocates nothing.
    counts: HashMap<String, Vec<(i64, Tally)>>,
    /// The workspace of each key in `counts` whose workspace was known when it was
    /// counted: its counts are written even if the key is deleted before they are.
    workspaces: HashMap<String, String>,
    /// Per key: tokens issued per (day, client address). Looked up by `&str`, like
    /// `counts`, so a token for a key already seen allocates nothing.
    addresses: HashMap<String, HashMap<(i64, IpAddr), i64>>,
    /// How many (key, day, address) counters `addresses` holds.
    address_count: usize,
    /// Per key: its last use, and its uses of the pre-rotation secret.
    last_uses: HashMap<String, Use>,
    events: Vec<AuditRecord>,
    dropped: u64,
}

impl Pending {
    fn add(&mut self, key_id: &str, workspace_id: Option<&str>, hour: i64, tally: &Tally) {
        if let Some(ws) = workspace_id {
            if !self.workspaces.contains_key(key_id) {
                self.workspaces.insert(key_id.to_string(), ws.to_string());
            }
        }
        if let Some(hours) = self.counts.get_mut(key_id) {
            match hours.iter_mut().find(|h| h.0 == hour) {
                Some(h) => h.1.add(tally),
                None => hours.push((hour, *tally)),
            }
            return;
        }
        // Refusals for ids that may not exist must not grow memory without bound.
        if self.counts.len() >= MAX_PENDING_KEYS && !tally.succeeded() {
            self.dropped += 1;
            return;
        }
        self.counts.insert(key_id.to_string(), vec![(hour, *tally)]);
    }

    fn add_address(&mut self, key_id: &str, day: i64, ip: IpAddr, issued: i64) {
        if let Some(n) = self.addresses.get_mut(key_id).and_then(|a| a.get_mut(&(day, ip))) {
            *n += issued;
            return;
        }
        if self.address_count >= MAX_PENDING_ADDRESSES {
            self.dropped += 1;
            return;
        }
        self.address_count += 1;
        match self.addresses.get_mut(key_id) {
            Some(per_key) => {
                per_key.insert((day, ip), issued);
            }
            None => {
                self.addresses.insert(key_id.to_string(), HashMap::from([((day, ip), issued)]));
            }
        }
    }

    fn add_use(&mut self, key_id: &str, used: Use) {
        match self.last_uses.get_mut(key_id) {
            Some(before) => before.merge(used),
            None => {
                self.last_uses.insert(key_id.to_string(), used);
            }
        }
    }

    fn add_event(&mut self, event: AuditRecord) {
        if self.events.len() < MAX_PENDING_EVENTS {
            self.events.push(event);
        } else {
            self.dropped += 1;
        }
    }

    fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_uses.is_empty() && self.events.is_empty()
    }

    fn summary(&self) -> Unwritten {
        let mut tally = Tally::default();
        for (_, t) in self.counts.values().flatten() {
            tally.add(t);
        }
        let keys = self.counts.len()
            + self.last_uses.keys().filter(|k| !self.counts.contains_key(*k)).count();
        Unwritten { keys, tally, events: self.events.len() }
    }

    /// What the store writes: hourly rows (days are summed from them when read, and
    /// rolled up once the hours expire), client addresses and events.
    fn batch(&self) -> UsageBatch {
        let workspace = |key_id: &str| self.workspaces.get(key_id).cloned().unwrap_or_default();
        let hours = self
            .counts
            .iter()
            .flat_map(|(key_id, buckets)| {
                buckets.iter().map(move |(hour, tally)| UsageRow {
                    key_id: key_id.clone(),
                    workspace_id: workspace(key_id),
                    start: *hour,
                    tally: *tally,
                })
            })
            .collect();
        let addresses = self
            .addresses
            .iter()
            .flat_map(|(key_id, per_key)| {
                per_key.iter().map(move |((day, ip), issued)| AddressUse {
                    key_id: key_id.clone(),
                    day: *day,
                    address: ip.to_string(),
                    issued: *issued,
                })
            })
            .collect();
        UsageBatch { hours, last_uses: self.last_uses(), addresses, events: self.events.clone() }
    }

    /// The last-use marks.
    fn last_uses(&self) -> Vec<LastUse> {
        self.last_uses
            .iter()
            .map(|(key_id, used)| LastUse {
                key_id: key_id.clone(),
                at: used.at,
                ip: used.ip.map(|ip| ip.to_string()),
                previous: used.previous.map(|(count, at, ip)| PreviousUse {
                    count,
                    at,
                    ip: ip.map(|ip| ip.to_string()),
                }),
            })
            .collect()
    }

    /// Puts a batch that could not be written back in front of what came since.
    fn restore(&mut self, batch: Pending) {
        for (key_id, hours) in batch.counts {
            let workspace_id = batch.workspaces.get(&key_id).map(String::as_str);
            for (hour, tally) in hours {
                self.add(&key_id, workspace_id, hour, &tally);
            }
        }
        for (key_id, per_key) in batch.addresses {
            for ((day, ip), issued) in per_key {
                self.add_address(&key_id, day, ip, issued);
            }
        }
        for (key_id, used) in batch.last_uses {
            self.add_use(&key_id, used);
        }
        for event in batch.events {
            self.add_event(event);
        }
    }
}

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
        let key_id = key.id.as_str();
        self.with_pending(|p| {
            p.add(
                key_id,
                Some(&key.workspace_id),
                Granularity::Hour.bucket(at),
                &Tally::of(outcome),
            );
            if let Some(ip) = ip {
                p.add_address(key_id, Granularity::Day.bucket(at), ip, 1);
            }
            p.add_use(key_id, used);
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
        self.set_in_flight(pending.summary());
        let written = self.store.record_usage(&pending.batch()).await;
        self.set_in_flight(Unwritten::default());
        if written.is_err() {
            self.with_pending(|p| p.restore(pending));
        }
        written
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

#[cfg(test)]
mod tests {
    use super::Use;

    #[test]
    fn merged_uses_add_old_secret_counts_and_keep_the_latest_of_each() {
        let a = "10.0.0.1".parse().ok();
        let b = "10.0.0.2".parse().ok();
        let mut used = Use::new(100, a, true);
        used.merge(Use::new(90, b, true));
        used.merge(Use::new(95, b, false));
        assert_eq!((used.at, used.ip), (100, a), "the latest use, wherever merged from");
        assert_eq!(used.previous, Some((2, 100, a)), "two old-secret uses, the last at 100");
        let mut fresh = Use::new(50, b, false);
        fresh.merge(Use::new(40, a, true));
        assert_eq!((fresh.at, fresh.ip, fresh.previous), (50, b, Some((1, 40, a))));
    }
}

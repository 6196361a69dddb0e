//! Usage accounting off the request path: token exchanges are counted in memory
//! (per key and UTC day: issued, failed; plus each key's last use) and flushed to
//! the store in one transaction per batch, every second by a background task, on
//! demand before a usage read, and once more on a clean shutdown. A failed flush
//! puts the batch back, so nothing counted is lost while the process lives.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{day, Clock};
use crate::store::{AuditRecord, LastUse, PreviousUse, Store, StoreError, UsageRow};

/// Most distinct (key, day) counters held between flushes for failures.
const MAX_PENDING_KEYS: usize = 10_000;

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
    /// Per key: (UTC day number, issued, failed). Looked up by `&str`, so counting
    /// an exchange of a key already seen allocates nothing.
    counts: HashMap<String, Vec<(i64, i64, i64)>>,
    /// Per key: its last use, and its uses of the pre-rotation secret.
    last_uses: HashMap<String, Use>,
    events: Vec<AuditRecord>,
    dropped_events: u64,
}

impl Pending {
    fn add(&mut self, key_id: &str, day_number: i64, issued: i64, failed: i64) {
        if let Some(days) = self.counts.get_mut(key_id) {
            match days.iter_mut().find(|d| d.0 == day_number) {
                Some(d) => {
                    d.1 += issued;
                    d.2 += failed;
                }
                None => days.push((day_number, issued, failed)),
            }
            return;
        }
        // Failures for ids that may not exist must not grow memory without bound.
        if self.counts.len() >= MAX_PENDING_KEYS && issued == 0 {
            return;
        }
        self.counts.insert(key_id.to_string(), vec![(day_number, issued, failed)]);
    }
}

/// The in-memory usage aggregator. One per process.
pub struct Usage {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pending: Mutex<Pending>,
    /// Serialises flushes so batches are applied in order.
    flushing: tokio::sync::Mutex<()>,
}

impl Usage {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Usage {
            store,
            clock,
            pending: Mutex::new(Pending::default()),
            flushing: tokio::sync::Mutex::new(()),
        }
    }

    fn with_pending(&self, f: impl FnOnce(&mut Pending)) {
        let mut pending = match self.pending.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut pending);
    }

    fn count(&self, key_id: &str, issued: i64, failed: i64) {
        let today = self.clock.now().div_euclid(86_400);
        self.with_pending(|p| p.add(key_id, today, issued, failed));
    }

    /// A token was issued to `key_id`.
    pub fn issued(&self, key_id: &str, ip: Option<IpAddr>, previous_secret: bool) {
        self.count(key_id, 1, 0);
        let at = self.clock.now();
        let used = Use::new(at, ip, previous_secret);
        self.with_pending(|p| match p.last_uses.get_mut(key_id) {
            Some(before) => before.merge(used),
            None => {
                p.last_uses.insert(key_id.to_string(), used);
            }
        });
    }

    /// An exchange naming `key_id` was refused. Counts for ids that do not exist are
    /// dropped when written.
    pub fn failed(&self, key_id: &str) {
        self.count(key_id, 0, 1);
    }

    /// An existing key was refused a token: an audit event with the real reason
    /// (the client only ever sees `invalid_client`).
    pub fn refused(&self, key_id: &str, workspace_id: &str, ip: Option<IpAddr>, reason: &str) {
        let event = AuditRecord {
            id: 0,
            at: self.clock.now(),
            actor: key_id.to_string(),
            actor_ip: ip.map(|ip| ip.to_string()),
            workspace_id: Some(workspace_id.to_string()),
            action: "token.refused".into(),
            target_type: "key".into(),
            target_id: key_id.to_string(),
            details: serde_json::json!({ "reason": reason }),
        };
        self.with_pending(|p| {
            if p.events.len() < MAX_PENDING_EVENTS {
                p.events.push(event);
            } else {
                p.dropped_events += 1;
            }
        });
    }

    /// Writes everything counted so far.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _serial = self.flushing.lock().await;
        let mut batch = Pending::default();
        self.with_pending(|p| std::mem::swap(p, &mut batch));
        if batch.dropped_events > 0 {
            tracing::warn!(
                dropped = batch.dropped_events,
                "too many refused exchanges to audit each one"
            );
        }
        if batch.counts.is_empty() && batch.last_uses.is_empty() && batch.events.is_empty() {
            return Ok(());
        }
        let rows: Vec<UsageRow> = batch
            .counts
            .iter()
            .flat_map(|(key_id, days)| {
                days.iter().map(move |&(day_number, issued, failed)| UsageRow {
                    key_id: key_id.clone(),
                    workspace_id: String::new(),
                    day: day(day_number * 86_400),
                    issued,
                    failed,
                })
            })
            .collect();
        let last_uses: Vec<LastUse> = batch
            .last_uses
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
            .collect();
        match self.store.record_usage(&rows, &last_uses, &batch.events).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // Put the batch back, merged with whatever arrived meanwhile.
                self.with_pending(|p| {
                    for (key_id, days) in batch.counts {
                        for (day_number, issued, failed) in days {
                            p.add(&key_id, day_number, issued, failed);
                        }
                    }
                    for (k, used) in batch.last_uses {
                        match p.last_uses.get_mut(&k) {
                            Some(later) => later.merge(used),
                            None => {
                                p.last_uses.insert(k, used);
                            }
                        }
                    }
                    let room = MAX_PENDING_EVENTS.saturating_sub(p.events.len());
                    p.events.extend(batch.events.into_iter().take(room));
                });
                Err(e)
            }
        }
    }

    /// Flushes every `interval` until the returned handle is aborted.
    pub fn spawn_flusher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let usage = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = usage.flush().await {
                    tracing::warn!(error = %e, "usage flush failed; will retry");
                }
            }
        })
    }
}

/// One key's usage per UTC day, oldest first, as `/v1` and the CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeyUsage {
    pub key_id: String,
    pub data: Vec<DayUsage>,
}

/// Tokens issued and failed exchanges on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DayUsage {
    #[schema(example = "2026-11-30")]
    pub day: String,
    pub issued: i64,
    pub failed: i64,
}

/// Usage across a workspace (or every workspace) per UTC day, with per-key rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WorkspaceUsage {
    pub data: Vec<WorkspaceDay>,
}

/// One UTC day of a [`WorkspaceUsage`]: totals and the keys that were used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WorkspaceDay {
    pub day: String,
    pub issued: i64,
    pub failed: i64,
    pub keys: Vec<KeyDay>,
}

/// One key on one day of a [`WorkspaceUsage`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeyDay {
    pub key_id: String,
    pub workspace_id: String,
    pub issued: i64,
    pub failed: i64,
}

impl KeyUsage {
    /// The rows of one key (oldest day first, as the store returns them).
    pub fn new(key_id: &str, rows: &[UsageRow]) -> Self {
        let data = rows
            .iter()
            .map(|r| DayUsage { day: r.day.clone(), issued: r.issued, failed: r.failed })
            .collect();
        KeyUsage { key_id: key_id.to_string(), data }
    }
}

impl WorkspaceUsage {
    /// Groups per-key rows by day (oldest first), with each day's totals.
    pub fn by_day(rows: &[UsageRow]) -> Self {
        let mut days: std::collections::BTreeMap<&str, WorkspaceDay> = Default::default();
        for r in rows {
            let day = days.entry(r.day.as_str()).or_insert_with(|| WorkspaceDay {
                day: r.day.clone(),
                issued: 0,
                failed: 0,
                keys: Vec::new(),
            });
            day.issued += r.issued;
            day.failed += r.failed;
            day.keys.push(KeyDay {
                key_id: r.key_id.clone(),
                workspace_id: r.workspace_id.clone(),
                issued: r.issued,
                failed: r.failed,
            });
        }
        WorkspaceUsage { data: days.into_values().collect() }
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    fn row(key: &str, day: &str, issued: i64, failed: i64) -> UsageRow {
        UsageRow { key_id: key.into(), workspace_id: "ws".into(), day: day.into(), issued, failed }
    }

    #[test]
    fn workspace_usage_totals_each_day_and_keeps_its_keys() {
        let rows = [
            row("a", "2026-11-01", 3, 1),
            row("b", "2026-11-01", 2, 0),
            row("a", "2026-11-02", 1, 4),
        ];
        let report = WorkspaceUsage::by_day(&rows);
        assert_eq!(report.data.len(), 2);
        assert_eq!((report.data[0].issued, report.data[0].failed), (5, 1));
        assert_eq!(report.data[0].keys.len(), 2);
        assert_eq!((report.data[1].day.as_str(), report.data[1].failed), ("2026-11-02", 4));
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

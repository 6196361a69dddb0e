//! The change feed consumer: applies changes committed by any instance (including
//! this one) to this instance's memory. It polls the `changes` table every 250 ms
//! and, on PostgreSQL, wakes at once on `NOTIFY`. A lost notification connection
//! loses nothing (the table holds every change; the feed goes on polling it and
//! listens again). When the table cannot be read, the feed cannot know what it
//! will have missed, so it resyncs as soon as the database answers again: every
//! cached key is dropped and the signing keys are reloaded. Meanwhile the
//! instance is not ready (`/readyz`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::apikeys::cache::KeyCache;
use crate::clock::wall_clock_millis;
use crate::metrics::Metrics;
use crate::signing::Keyring;
use crate::store::{Change, Store};
use crate::vocab::Target;

/// How often the feed polls without a notification.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How soon a feed that lost the database tries again: the first attempt after it
/// returns resyncs.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// How long changes are kept for instances to read.
const RETENTION_MILLIS: i64 = 60 * 60 * 1000;

/// Whether this instance's memory follows the change feed: false from the moment
/// the feed cannot read the table until its resync.
#[derive(Debug)]
pub struct Status(AtomicBool);

impl Default for Status {
    fn default() -> Self {
        Status(AtomicBool::new(true))
    }
}

impl Status {
    /// Whether every change committed so far (by any instance) has been applied,
    /// but those of the last poll interval.
    pub fn in_sync(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, in_sync: bool) {
        self.0.store(in_sync, Ordering::SeqCst);
    }
}

/// What the feed reads, and the memory it keeps in step.
pub struct Feed {
    pub store: Arc<dyn Store>,
    pub cache: Arc<KeyCache>,
    pub keyring: Arc<Keyring>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
    pub revoked: Arc<crate::oauth::revoked::Revoked>,
    /// The newest change when the memory was loaded: the feed starts after it.
    pub start: i64,
}

/// Applies one batch of changes; returns whether signing keys changed. A change
/// of a kind this version does not know (a newer keymint wrote it) could be about
/// anything held: every cached key and revocation is dropped, and the signing keys
/// and revocations reloaded.
fn apply(feed: &Feed, changes: &[Change]) -> bool {
    let mut signing = false;
    for change in changes {
        match change.kind {
            Some(Target::Key) => feed.cache.apply_change(&change.target, change.id),
            Some(Target::Workspace) => feed.cache.apply_workspace_change(&change.target, change.id),
            Some(Target::SigningKey) => signing = true,
            Some(Target::Token) => feed.revoked.announced(&change.target),
            // Not announced (`Action::announces_change`): nothing in memory holds them.
            Some(Target::RoleBinding | Target::Person | Target::Webhook) => {}
            None => {
                feed.cache.clear();
                feed.revoked.forget();
                signing = true;
            }
        }
    }
    if let Some(last) = changes.last() {
        let lag = (wall_clock_millis() - last.at_millis).max(0) as f64 / 1000.0;
        feed.metrics.change_feed_lag_seconds.set(lag);
    }
    signing
}

/// Drops everything cached and reloads the signing keys.
async fn resync(feed: &Feed) -> anyhow::Result<i64> {
    let latest = feed.store.latest_change().await?;
    feed.cache.clear();
    feed.keyring.reload().await?;
    feed.revoked.reload().await?;
    Ok(latest)
}

/// Runs until the task is aborted.
pub async fn run(feed: Feed) {
    // Changes from the moment the memory was loaded are replayed; nothing is cleared.
    let mut last: Option<i64> = Some(feed.start);
    let mut pruned_at = 0i64;
    let mut listening = true;
    loop {
        let Some(after) = last else {
            match resync(&feed).await {
                Ok(latest) => {
                    last = Some(latest);
                    feed.status.set(true);
                    tracing::info!("change feed resynced");
                }
                Err(e) => {
                    feed.metrics.database_errors.inc();
                    tracing::debug!(error = %crate::report::Chain(e.as_ref()), "change feed cannot sync; retrying");
                    tokio::time::sleep(RETRY_INTERVAL).await;
                }
            }
            continue;
        };
        match feed.store.wait_for_change(POLL_INTERVAL).await {
            Ok(_) if !listening => {
                listening = true;
                tracing::info!("change notifications restored");
            }
            Ok(_) => {}
            Err(e) => {
                // The table has every change: go on polling it, and listen again
                // at the next wait.
                if listening {
                    tracing::warn!(error = %crate::report::Chain(&e), "change notifications lost; polling until they return");
                }
                listening = false;
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        match feed.store.changes_since(after, 1000).await {
            Ok(changes) => {
                if let Some(newest) = changes.last() {
                    last = Some(newest.id);
                    if apply(&feed, &changes) {
                        if let Err(e) = feed.keyring.reload().await {
                            tracing::error!(error = %crate::report::Chain(&e), "cannot reload signing keys");
                        }
                        // Also after a change of an unknown kind, which dropped them.
                        if let Err(e) = feed.revoked.reload().await {
                            tracing::warn!(error = %crate::report::Chain(&e), "cannot reload revoked tokens; asking the database meanwhile");
                        }
                    }
                }
            }
            Err(e) => {
                feed.metrics.database_errors.inc();
                tracing::warn!(error = %crate::report::Chain(&e), "change feed cannot read; will resync when the database answers");
                feed.status.set(false);
                last = None;
                continue;
            }
        }
        let now = wall_clock_millis();
        if now - pruned_at > 60_000 {
            pruned_at = now;
            let _ = feed.store.prune_changes(now - RETENTION_MILLIS).await;
        }
    }
}

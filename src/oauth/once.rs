//! JWT ids used once (client assertions, DPoP proofs), across every instance
//! sharing the database. Each use is an insert that fails on a repeat; uses that
//! arrive together share one statement (a task collects them), so a burst of
//! signed requests costs the database a few statements rather than one write each,
//! and SQLite's single writer is not fought over. Expired ids are purged at most
//! once a minute.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::clock::Clock;
use crate::store::{Batched, Store, StoreResult, UsedJti};

/// Most ids one statement carries.
const MAX_BATCH: usize = 512;

/// The once-only register. One per process.
pub struct UsedIds {
    /// One write at a time: SQLite has one writer, and a batch waits for the next.
    uses: Batched<UsedJti, bool>,
}

impl UsedIds {
    /// Starts the task that writes uses to `store` (needs a tokio runtime); ids
    /// expire by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let purged = Arc::new(AtomicI64::new(0));
        let uses = Batched::start("JWT id register", MAX_BATCH, 1, move |ids| {
            write(store.clone(), clock.clone(), purged.clone(), ids)
        });
        UsedIds { uses }
    }

    /// Uses `jti` of `subject` once: `true` the first time, `false` for a replay
    /// (here or on another instance). Remembered until `until`.
    pub async fn use_once(&self, subject: &str, jti: &str, until: i64) -> StoreResult<bool> {
        self.uses
            .call(UsedJti { subject: subject.into(), jti: jti.into(), expires_at: until })
            .await
    }
}

/// Writes one batch of uses: `true` for each first use. The same id twice in one
/// batch: the first is the use, the rest replays.
async fn write(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    purged: Arc<AtomicI64>,
    ids: Vec<UsedJti>,
) -> StoreResult<Vec<bool>> {
    let mut first: HashMap<(&str, &str), usize> = HashMap::with_capacity(ids.len());
    let mut fresh: Vec<UsedJti> = Vec::with_capacity(ids.len());
    let firsts: Vec<Option<usize>> = ids
        .iter()
        .map(|id| match first.entry((&id.subject, &id.jti)) {
            std::collections::hash_map::Entry::Occupied(_) => None,
            std::collections::hash_map::Entry::Vacant(slot) => {
                fresh.push(id.clone());
                Some(*slot.insert(fresh.len() - 1))
            }
        })
        .collect();
    let written = store.use_jtis(&fresh).await?;
    let now = clock.now();
    let last = purged.load(Ordering::Relaxed);
    if now - last >= 60
        && purged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    {
        tokio::spawn(async move {
            if let Err(e) = store.purge_jtis(now).await {
                tracing::debug!(error = %crate::report::Chain(&e), "expired JWT ids not purged");
            }
        });
    }
    Ok(firsts
        .into_iter()
        .map(|i| i.is_some_and(|i| written.get(i).copied().unwrap_or(false)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_id_is_used_once_within_a_batch_and_across_batches() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("once.db").display());
        let store = crate::store::open(&url).await.unwrap();
        let clock = crate::clock::ManualClock::new();
        let until = clock.now() + 60;
        let id = |jti: &str| UsedJti { subject: "k1".into(), jti: jti.into(), expires_at: until };
        let purged = Arc::new(AtomicI64::new(0));
        let batch = vec![id("a"), id("b"), id("a"), id("c"), id("b")];
        let written = write(store.clone(), clock.clone(), purged.clone(), batch).await.unwrap();
        assert_eq!(written, [true, true, false, true, false], "a repeat in one batch is a replay");
        let again = write(store.clone(), clock.clone(), purged, vec![id("c"), id("d")]).await;
        assert_eq!(again.unwrap(), [false, true], "a use from an earlier batch is remembered");

        let register = UsedIds::new(store, clock);
        let tasks: Vec<_> = ["e", "e", "e", "f"]
            .into_iter()
            .map(|jti| register.use_once("k1", jti, until))
            .collect();
        let uses = futures::future::join_all(tasks).await;
        let firsts = uses.into_iter().map(Result::unwrap).filter(|fresh| *fresh).count();
        assert_eq!(firsts, 2, "e once and f once, however the uses fall into batches");
    }
}

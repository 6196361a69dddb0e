//! JWT ids used once (client assertions, DPoP proofs), across every instance
//! sharing the database. Each use is an insert that fails on a repeat; uses that
//! arrive together share one statement (a task collects them), so a burst of
//! signed requests costs the database a few statements rather than one write each,
//! and SQLite's single writer is not fought over. Expired ids are purged at most
//! once a minute.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::store::{Store, StoreError, StoreResult, UsedJti};

/// Most ids one statement carries.
const MAX_BATCH: usize = 512;

type Use = (UsedJti, oneshot::Sender<StoreResult<bool>>);

/// The once-only register. One per process.
pub struct UsedIds {
    uses: mpsc::Sender<Use>,
}

impl UsedIds {
    /// Starts the task that writes uses to `store` (needs a tokio runtime); ids
    /// expire by `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(write_in_batches(store, clock, rx));
        UsedIds { uses: tx }
    }

    /// Uses `jti` of `subject` once: `true` the first time, `false` for a replay
    /// (here or on another instance). Remembered until `until`.
    pub async fn use_once(&self, subject: &str, jti: &str, until: i64) -> StoreResult<bool> {
        let id = UsedJti { subject: subject.into(), jti: jti.into(), expires_at: until };
        let (tx, rx) = oneshot::channel();
        if self.uses.send((id, tx)).await.is_err() {
            return Err(StoreError::unavailable("the JWT id register has stopped"));
        }
        rx.await.unwrap_or_else(|_| Err(StoreError::unavailable("the JWT id register has stopped")))
    }
}

async fn write_in_batches(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mut queue: mpsc::Receiver<Use>,
) {
    let purged = AtomicI64::new(0);
    let mut batch: Vec<Use> = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // The same id twice in one batch: the first is the use, the rest replays.
        let mut seen = HashSet::new();
        let (first, repeats): (Vec<Use>, Vec<Use>) =
            batch.drain(..).partition(|(id, _)| seen.insert((id.subject.clone(), id.jti.clone())));
        for (_, reply) in repeats {
            let _ = reply.send(Ok(false));
        }
        let ids: Vec<UsedJti> = first.iter().map(|(id, _)| id.clone()).collect();
        match store.use_jtis(&ids).await {
            Ok(fresh) => {
                for ((_, reply), fresh) in first.into_iter().zip(fresh) {
                    let _ = reply.send(Ok(fresh));
                }
            }
            Err(e) => {
                for (_, reply) in first {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
        let now = clock.now();
        if now - purged.load(Ordering::Relaxed) >= 60 {
            purged.store(now, Ordering::Relaxed);
            if let Err(e) = store.purge_jtis(now).await {
                tracing::debug!(error = %crate::report::Chain(&e), "expired JWT ids not purged");
            }
        }
    }
}

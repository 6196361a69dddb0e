//! How long one usage flush and one fold take for N active keys: every key with
//! an hourly row and a last use, and as many client addresses as a flush carries,
//! as after a busy flush interval. A flush appends to the usage log; a fold adds
//! the log up into the hourly rows and the keys' last uses. The first fold inserts
//! the rows; the next, of two instances' flushes, adds to them.

use std::time::Instant;

use keymint::store::{AddressUse, Fold, LastUse, UsageBatch, UsageRow};
use keymint::vocab::{Outcome, Tally};

use super::Res;

/// Seconds of a flush, of the first fold (new rows) and of the next (rows that
/// exist, two flushes of every key in the log).
pub struct FlushTimes {
    pub keys: usize,
    /// The slowest of the three flushes.
    pub flush: f64,
    pub first_fold: f64,
    pub next_fold: f64,
}

/// Creates `keys` keys in the database at `url` (migrated here) and times two flushes.
pub async fn measure(url: &str, keys: usize) -> Res<FlushTimes> {
    super::migrate(url)?;
    let seed = format!(
        "INSERT INTO workspaces (id, name, created_at) VALUES ('ws_flush', 'flush', 0); \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {keys}) \
         INSERT INTO api_keys (id, workspace_id, name, name_lower, description, environment, \
         key_type, scopes, allowed_cidrs, audiences, status, secret_hash, masked_secret, imported, \
         created_at, created_by, updated_at, version) \
         SELECT 'flush' || i, 'ws_flush', 'key-' || i, 'key-' || i, '', 'production', 'access', \
         '[]', '[]', '[]', 'active', 'sha256:x', 'km_live_****', 0, i, 'bench', i, 1 FROM n"
    );
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::raw_sql(&seed).execute(&pool).await?;
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::raw_sql(&seed).execute(&pool).await?;
        pool.close().await;
    }
    let store = keymint::store::open(url).await?;
    let now = 1_893_456_000 + 7_200;
    let (hour, day) = (now - now % 3_600, now - now % 86_400);
    let mut tally = Tally::default();
    tally.count(Outcome::Issued, 40);
    tally.count(Outcome::WrongSecret, 1);
    let ids: Vec<String> = (1..=keys).map(|i| format!("flush{i}")).collect();
    let row = |id: &String, start| UsageRow {
        key_id: id.clone(),
        workspace_id: "ws_flush".into(),
        start,
        tally,
    };
    let batch = UsageBatch {
        hours: ids.iter().map(|id| row(id, hour)).collect(),
        // A flush carries at most this many client addresses.
        last_uses: vec![],
        addresses: ids
            .iter()
            .take(keymint::usage::MAX_PENDING_ADDRESSES)
            .enumerate()
            .map(|(i, id)| AddressUse {
                key_id: id.clone(),
                day,
                address: format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                issued: 40,
            })
            .collect(),
        events: vec![],
    };
    let last_uses = ids
        .iter()
        .map(|id| LastUse {
            key_id: id.clone(),
            at: now,
            ip: Some("10.0.0.1".into()),
            previous: None,
        })
        .collect();
    let batch = UsageBatch { last_uses, ..batch };
    let mut flush: f64 = 0.0;
    let mut folds = [0.0; 2];
    for (round, fold) in folds.iter_mut().enumerate() {
        // The next round: two instances flushed every key before the fold.
        for _ in 0..=round {
            let started = Instant::now();
            store.record_usage(&batch).await?;
            flush = flush.max(started.elapsed().as_secs_f64());
        }
        let started = Instant::now();
        store.fold_usage(Fold::Now { at: now }).await?;
        *fold = started.elapsed().as_secs_f64();
    }
    store.close().await;
    Ok(FlushTimes { keys, flush, first_fold: folds[0], next_fold: folds[1] })
}

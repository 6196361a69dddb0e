//! The usage queries, written once for both backends like the rest of
//! `queries.rs` (whose child module this is): each flush appended to the usage
//! log, the log folded into hourly rows and keys' last uses, usage read back by
//! range, expired rows purged.

use std::collections::HashMap;

use super::super::{append_bulk, FOLD_ISOLATION, FOLD_LOCK, RELAXED_COMMIT, ROLLUP_LOCK};
use super::{insert_audit, Db, This};
use crate::store::bulk::{Bulk, BulkColumn};
use crate::store::sql::UsageDbRow;
use crate::store::{
    Fold, Granularity, LastUse, StoreResult, UsageBatch, UsageGroup, UsageQuery, UsageRow,
    PREVIOUS_USE_CHUNK,
};

/// The counters of a usage row, in the order of [`crate::vocab::Tally`]'s fields.
const COUNT_COLUMNS: [&str; 9] = [
    "issued",
    "failed",
    "wrong_secret",
    "address_not_allowed",
    "scope_refused",
    "key_inactive",
    "throttled",
    "verified",
    "exchanged",
];

/// Most rows one append carries; a flush of more keys takes a few more, in the
/// same transaction. It bounds the memory a flush needs besides its rows.
const USAGE_CHUNK: usize = 10_000;

/// The log rows of a flush: each counter row, one row per key carrying its last use
/// (its first counter row, or a row of its own with no counts).
fn log_rows<'a>(
    hours: &'a [UsageRow],
    last_uses: &'a [LastUse],
) -> Vec<(Option<&'a UsageRow>, Option<&'a LastUse>)> {
    let mut uses: HashMap<&str, &LastUse> =
        last_uses.iter().map(|u| (u.key_id.as_str(), u)).collect();
    let mut rows: Vec<(Option<&UsageRow>, Option<&LastUse>)> =
        hours.iter().map(|row| (Some(row), uses.remove(row.key_id.as_str()))).collect();
    // A last use with no counter row (every use is counted, so none today) still
    // gets a row.
    rows.extend(
        last_uses.iter().filter(|u| uses.contains_key(u.key_id.as_str())).map(|u| (None, Some(u))),
    );
    rows
}

/// `rows` as the columns of `usage_log`.
fn log_bulk(rows: &[(Option<&UsageRow>, Option<&LastUse>)]) -> Bulk {
    let key = |(row, used): &(Option<&UsageRow>, Option<&LastUse>)| {
        row.map(|r| r.key_id.clone()).or_else(|| used.map(|u| u.key_id.clone())).unwrap_or_default()
    };
    let workspace = |(row, _): &(Option<&UsageRow>, Option<&LastUse>)| {
        row.map(|r| r.workspace_id.clone()).unwrap_or_default()
    };
    let start = |(row, used): &(Option<&UsageRow>, Option<&LastUse>)| match (row, used) {
        (Some(r), _) => r.start,
        (None, Some(u)) => Granularity::Hour.bucket(u.at),
        (None, None) => 0,
    };
    let mut columns = vec![
        ("key_id", BulkColumn::Text(rows.iter().map(key).collect())),
        ("workspace_id", BulkColumn::Text(rows.iter().map(workspace).collect())),
        ("start", BulkColumn::Int(rows.iter().map(start).collect())),
    ];
    for (i, name) in COUNT_COLUMNS.into_iter().enumerate() {
        let counts = rows.iter().map(|(r, _)| r.map_or(0, |r| r.tally.counts()[i])).collect();
        columns.push((name, BulkColumn::Int(counts)));
    }
    let used = |f: fn(&LastUse) -> Option<i64>| -> Vec<Option<i64>> {
        rows.iter().map(|(_, u)| u.and_then(f)).collect()
    };
    let used_text =
        |f: fn(&LastUse) -> Option<String>| rows.iter().map(|(_, u)| u.and_then(f)).collect();
    let previous_count = used(|u| u.previous.as_ref().map(|p| p.count));
    columns.extend([
        ("last_used_at", BulkColumn::MaybeInt(used(|u| Some(u.at)))),
        ("last_used_ip", BulkColumn::MaybeText(used_text(|u| u.ip.clone()))),
        (
            "previous_count",
            BulkColumn::Int(previous_count.iter().map(|n| n.unwrap_or(0)).collect()),
        ),
        ("previous_at", BulkColumn::MaybeInt(used(|u| u.previous.as_ref().map(|p| p.at)))),
        ("previous_ip", BulkColumn::MaybeText(used_text(|u| u.previous.as_ref()?.ip.clone()))),
    ]);
    Bulk(columns)
}

pub(super) async fn record_usage(this: &This, batch: &UsageBatch) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    for event in &batch.events {
        insert_audit(&mut tx, event).await?;
    }
    for chunk in log_rows(&batch.hours, &batch.last_uses).chunks(USAGE_CHUNK) {
        append_bulk(&mut tx, "usage_log", log_bulk(chunk)).await?;
    }
    for chunk in batch.addresses.chunks(USAGE_CHUNK) {
        let bulk = Bulk(vec![
            ("key_id", BulkColumn::Text(chunk.iter().map(|a| a.key_id.clone()).collect())),
            ("start", BulkColumn::Int(chunk.iter().map(|a| a.day).collect())),
            ("address", BulkColumn::Text(chunk.iter().map(|a| a.address.clone()).collect())),
            ("issued", BulkColumn::Int(chunk.iter().map(|a| a.issued).collect())),
        ]);
        append_bulk(&mut tx, "usage_address_log", bulk).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// An upsert's `SET` of `column` in `table`: the new value when its `time` is at
/// least the row's, else the row's own.
fn later_of(table: &str, time: &str, column: &str) -> String {
    format!(
        "{column} = CASE WHEN excluded.{time} >= {table}.{time} \
         THEN excluded.{column} ELSE {table}.{column} END"
    )
}

/// Folds the log in one transaction, then adds the uses of old secrets it gathered
/// to their keys in transactions of [`PREVIOUS_USE_CHUNK`].
pub(super) async fn fold_usage(this: &This, fold: Fold) -> StoreResult<bool> {
    let folded = fold_log(this, fold).await?;
    if folded || matches!(fold, Fold::Now { .. }) {
        let mut after = String::new();
        while let Some(last) = apply_previous_uses(this, &after).await? {
            after = last;
        }
    }
    Ok(folded)
}

/// Adds up the log into the hourly rows, client addresses, keys' last uses and
/// pending uses of old secrets, and deletes what it added up, in one transaction
/// of one snapshot.
async fn fold_log(this: &This, fold: Fold) -> StoreResult<bool> {
    let mut tx = this.begin_tx().await?;
    if let Some(isolation) = FOLD_ISOLATION {
        sqlx::query(isolation).execute(&mut *tx).await?;
    }
    if let Some(lock) = FOLD_LOCK {
        let lock = match fold {
            Fold::Now { .. } => lock.to_string(),
            // Another instance folding now folds what this one flushed.
            Fold::Due { .. } => format!("{lock} NOWAIT"),
        };
        if let Err(e) = sqlx::query(&lock).execute(&mut *tx).await {
            return match e.as_database_error().and_then(|d| d.code()) {
                Some(code) if code == "55P03" => Ok(false),
                _ => Err(e.into()),
            };
        }
    }
    let (at, since) = match fold {
        Fold::Now { at } => (at, None),
        Fold::Due { at, since } => (at, Some(since)),
    };
    if let Some(since) = since {
        let (folded_at,): (i64,) = sqlx::query_as("SELECT folded_at FROM usage_folds WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        if folded_at > since {
            return Ok(false);
        }
    }
    let counts = COUNT_COLUMNS.join(", ");
    let summed: Vec<String> = COUNT_COLUMNS.iter().map(|c| format!("SUM({c}) AS {c}")).collect();
    let values: Vec<String> = COUNT_COLUMNS.iter().map(|c| format!("g.{c}")).collect();
    let adds: Vec<String> =
        COUNT_COLUMNS.iter().map(|c| format!("{c} = usage_hours.{c} + excluded.{c}")).collect();
    // Rows counted with their key's workspace go in as they are. The others
    // (refusals naming ids that may not be keys) take the key's workspace, and are
    // dropped if there is no such key ('' sorts before any workspace id). Only
    // those look the key up: a join would read every key.
    let key = "FROM api_keys AS k WHERE k.id = g.key_id";
    sqlx::query(&format!(
        "INSERT INTO usage_hours (key_id, workspace_id, start, {counts}) \
         SELECT g.key_id, COALESCE(NULLIF(g.workspace_id, ''), \
         (SELECT k.workspace_id {key})), g.start, {} \
         FROM (SELECT key_id, MAX(workspace_id) AS workspace_id, start, {} FROM usage_log \
         GROUP BY key_id, start) AS g \
         WHERE g.workspace_id <> '' OR EXISTS (SELECT 1 {key}) \
         ON CONFLICT (key_id, start) DO UPDATE SET {}",
        values.join(", "),
        summed.join(", "),
        adds.join(", ")
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO usage_addresses (key_id, start, address, issued) \
         SELECT key_id, start, address, SUM(issued) FROM usage_address_log \
         WHERE 1 = 1 GROUP BY key_id, start, address \
         ON CONFLICT (key_id, start, address) DO UPDATE SET \
         issued = usage_addresses.issued + excluded.issued",
    )
    .execute(&mut *tx)
    .await?;
    // Each key's latest use, kept apart from the key's row (which an admin may be
    // changing): only the later of two uses is kept.
    let later = |column| later_of("key_uses", "used_at", column);
    sqlx::query(&format!(
        "INSERT INTO key_uses (key_id, used_at, used_ip) \
         SELECT key_id, last_used_at, last_used_ip FROM (SELECT key_id, last_used_at, \
         last_used_ip, ROW_NUMBER() OVER (PARTITION BY key_id ORDER BY last_used_at DESC) AS n \
         FROM usage_log WHERE last_used_at IS NOT NULL) AS l WHERE n = 1 \
         ON CONFLICT (key_id) DO UPDATE SET {}, {}",
        later("used_at"),
        later("used_ip")
    ))
    .execute(&mut *tx)
    .await?;
    // Apart (few keys have a rotation's grace running): the sum of each key's uses
    // of its old secret, with the latest of them, to be added to the key.
    let later_previous = |column| later_of("usage_previous_uses", "previous_at", column);
    sqlx::query(&format!(
        "INSERT INTO usage_previous_uses (key_id, previous_count, previous_at, previous_ip) \
         SELECT key_id, previous_count, previous_at, previous_ip \
         FROM (SELECT key_id, previous_at, previous_ip, \
         SUM(previous_count) OVER (PARTITION BY key_id) AS previous_count, \
         ROW_NUMBER() OVER (PARTITION BY key_id ORDER BY previous_at DESC) AS n \
         FROM usage_log WHERE previous_count > 0) AS l WHERE n = 1 \
         ON CONFLICT (key_id) DO UPDATE SET \
         previous_count = usage_previous_uses.previous_count + excluded.previous_count, {}, {}",
        later_previous("previous_at"),
        later_previous("previous_ip")
    ))
    .execute(&mut *tx)
    .await?;
    for sql in ["DELETE FROM usage_log", "DELETE FROM usage_address_log"] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    sqlx::query("UPDATE usage_folds SET folded_at = $1 WHERE id = 1")
        .bind(at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Adds the next [`PREVIOUS_USE_CHUNK`] pending uses of old secrets after the key
/// `after` (in key order, so a fold's chunks never scan what the ones before it
/// deleted) to their keys and forgets them, in one short transaction. Returns the
/// last key it applied, `None` when none was left.
async fn apply_previous_uses(this: &This, after: &str) -> StoreResult<Option<String>> {
    let mut tx = this.begin_tx().await?;
    if let Some(relaxed) = RELAXED_COMMIT {
        sqlx::query(relaxed).execute(&mut *tx).await?;
    }
    // No fold adds to the pending uses while this applies them.
    if let Some(lock) = FOLD_LOCK {
        sqlx::query(lock).execute(&mut *tx).await?;
    }
    let (last,): (Option<String>,) = sqlx::query_as(&format!(
        "SELECT MAX(key_id) FROM (SELECT key_id FROM usage_previous_uses WHERE key_id > $1 \
         ORDER BY key_id LIMIT {PREVIOUS_USE_CHUNK}) AS chunk"
    ))
    .bind(after)
    .fetch_one(&mut *tx)
    .await?;
    let Some(last) = last else {
        return Ok(None);
    };
    // Uses of the old secret count only while it still has a grace period
    // (a rotation since then reset the counters and must not be undone).
    let later = "k.previous_last_used_at IS NULL OR k.previous_last_used_at <= v.previous_at";
    sqlx::query(&format!(
        "UPDATE api_keys AS k SET previous_use_count = k.previous_use_count + v.previous_count, \
         previous_last_used_at = CASE WHEN {later} THEN v.previous_at \
         ELSE k.previous_last_used_at END, \
         previous_last_used_ip = CASE WHEN {later} THEN v.previous_ip \
         ELSE k.previous_last_used_ip END \
         FROM usage_previous_uses AS v WHERE v.key_id > $1 AND v.key_id <= $2 \
         AND k.id = v.key_id AND k.previous_secret_hash IS NOT NULL"
    ))
    .bind(after)
    .bind(&last)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM usage_previous_uses WHERE key_id > $1 AND key_id <= $2")
        .bind(after)
        .bind(&last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(last))
}

/// Hourly rows before `hours_before` are rolled up into daily rows (moved, in one
/// transaction, so a day is never counted twice), and dropped with their client
/// addresses; daily rows before `days_before` are dropped, and the last uses of
/// keys deleted since.
pub(super) async fn purge_usage(
    this: &This,
    hours_before: i64,
    days_before: i64,
) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    if let Some(lock) = ROLLUP_LOCK {
        sqlx::query(lock).execute(&mut *tx).await?;
    }
    let counts = COUNT_COLUMNS.join(", ");
    let sums: Vec<String> = COUNT_COLUMNS.iter().map(|c| format!("SUM({c})")).collect();
    let adds: Vec<String> =
        COUNT_COLUMNS.iter().map(|c| format!("{c} = usage_days.{c} + excluded.{c}")).collect();
    let sql = format!(
        "INSERT INTO usage_days (key_id, workspace_id, start, {counts}) \
         SELECT key_id, MIN(workspace_id), start - start % 86400, {} FROM usage_hours \
         WHERE start < $1 GROUP BY key_id, start - start % 86400 \
         ON CONFLICT (key_id, start) DO UPDATE SET {}",
        sums.join(", "),
        adds.join(", ")
    );
    sqlx::query(&sql).bind(hours_before).execute(&mut *tx).await?;
    // The last uses of keys deleted since.
    sqlx::query(
        "DELETE FROM key_uses WHERE NOT EXISTS \
         (SELECT 1 FROM api_keys AS k WHERE k.id = key_uses.key_id)",
    )
    .execute(&mut *tx)
    .await?;
    for (sql, before) in [
        ("DELETE FROM usage_hours WHERE start < $1", hours_before),
        ("DELETE FROM usage_addresses WHERE start < $1", hours_before),
        ("DELETE FROM usage_days WHERE start < $1", days_before),
    ] {
        sqlx::query(sql).bind(before).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn address_usage(
    this: &This,
    key_id: &str,
    from: i64,
) -> StoreResult<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT address, CAST(SUM(issued) AS BIGINT) AS issued FROM usage_addresses \
         WHERE key_id = $1 AND start >= $2 GROUP BY address ORDER BY issued DESC, address",
    )
    .bind(key_id)
    .bind(from)
    .fetch_all(&this.pool)
    .await?)
}

pub(super) async fn usage(
    this: &This,
    query: &UsageQuery,
    group: UsageGroup,
) -> StoreResult<Vec<UsageRow>> {
    let sums: Vec<String> =
        COUNT_COLUMNS.iter().map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}")).collect();
    let (keys, start) = match group {
        UsageGroup::KeyAndBucket => ("key_id, MIN(workspace_id) AS workspace_id", "start"),
        UsageGroup::Bucket => ("'' AS key_id, '' AS workspace_id", "start"),
        UsageGroup::TopKeys { .. } => ("key_id, MIN(workspace_id) AS workspace_id", "MIN(start)"),
    };
    let mut q = sqlx::QueryBuilder::<Db>::new(format!(
        "SELECT {keys}, {start} AS start, {} FROM ",
        sums.join(", ")
    ));
    match query.granularity {
        Granularity::Hour => {
            q.push("usage_hours AS u WHERE start >= ").push_bind(query.from);
        }
        // Days are read from the hours still kept, summed per day, and from the
        // daily rows the hours older than that were rolled up into: each hour
        // counts in one of the two (a roll-up moves them).
        Granularity::Day => {
            let counts = COUNT_COLUMNS.join(", ");
            q.push(format!(
                "(SELECT key_id, workspace_id, start - start % 86400 AS start, {counts} \
                 FROM usage_hours WHERE start >= "
            ))
            .push_bind(query.from)
            .push(" AND start < ")
            .push_bind(query.to)
            .push(format!(
                " UNION ALL SELECT key_id, workspace_id, start, {counts} FROM usage_days \
                 WHERE start >= "
            ))
            .push_bind(query.from)
            .push(" AND start < ")
            .push_bind(query.to)
            .push(") AS u WHERE start >= ")
            .push_bind(query.from);
        }
    }
    q.push(" AND start < ").push_bind(query.to);
    if !query.key_ids.is_empty() {
        q.push(" AND key_id IN (");
        let mut ids = q.separated(", ");
        for id in &query.key_ids {
            ids.push_bind(id.clone());
        }
        q.push(")");
    }
    if let Some(ws) = &query.workspace_id {
        q.push(" AND workspace_id = ").push_bind(ws.clone());
    }
    if let Some(owner) = &query.owner {
        q.push(" AND key_id IN (SELECT id FROM api_keys WHERE owner = ")
            .push_bind(owner.clone())
            .push(")");
    }
    match group {
        UsageGroup::KeyAndBucket => {
            q.push(" GROUP BY key_id, start ORDER BY start, key_id");
        }
        UsageGroup::Bucket => {
            q.push(" GROUP BY start ORDER BY start");
        }
        UsageGroup::TopKeys { refusals, limit } => {
            let by = if refusals { "failed" } else { "issued" };
            q.push(format!(
                " GROUP BY key_id HAVING SUM({by}) > 0 ORDER BY SUM({by}) DESC, key_id LIMIT "
            ))
            .push_bind(i64::from(limit));
        }
    }
    let rows: Vec<UsageDbRow> = q.build_query_as().fetch_all(&this.pool).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

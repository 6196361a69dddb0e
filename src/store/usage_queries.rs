//! The usage queries, written once for both backends like the rest of
//! `queries.rs` (whose child module this is): counters and last uses written in
//! batches, usage read back by range, expired rows purged.

use super::super::{bind_bulk, bulk_source, RELAXED_COMMIT, ROLLUP_LOCK};
use super::{insert_audit, Db, This};
use crate::store::sql::{Bulk, BulkColumn, UsageDbRow};
use crate::store::{
    Granularity, LastUse, PreviousUse, StoreResult, UsageBatch, UsageGroup, UsageQuery, UsageRow,
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

/// Most rows one usage statement carries; a flush of more keys takes a few more.
const USAGE_CHUNK: usize = 100_000;

/// The counters of `rows`, as a bulk of rows: key, workspace, start, counts.
fn usage_bulk(rows: &[&UsageRow]) -> Bulk {
    let mut columns = vec![
        ("key_id", BulkColumn::Text(rows.iter().map(|r| r.key_id.clone()).collect())),
        ("workspace_id", BulkColumn::Text(rows.iter().map(|r| r.workspace_id.clone()).collect())),
        ("start", BulkColumn::Int(rows.iter().map(|r| r.start).collect())),
    ];
    for (i, name) in COUNT_COLUMNS.into_iter().enumerate() {
        let counts = rows.iter().map(|r| r.tally.counts()[i]).collect();
        columns.push((name, BulkColumn::Int(counts)));
    }
    Bulk(columns)
}

pub(super) async fn record_usage(this: &This, batch: &UsageBatch) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    for event in &batch.events {
        insert_audit(&mut tx, event).await?;
    }
    let counts = COUNT_COLUMNS.join(", ");
    let values: Vec<String> = COUNT_COLUMNS.iter().map(|c| format!("v.{c}")).collect();
    let sums: Vec<String> =
        COUNT_COLUMNS.iter().map(|c| format!("{c} = usage_hours.{c} + excluded.{c}")).collect();
    // Rows counted with their key's workspace go in as they are. The others
    // (refusals naming ids that may not be keys) take the key's workspace, and are
    // dropped if there is no such key. `WHERE` tells SQLite's parser the ON
    // CONFLICT is the upsert's.
    let (known, unknown): (Vec<&UsageRow>, Vec<&UsageRow>) =
        batch.hours.iter().partition(|r| !r.workspace_id.is_empty());
    for (rows, workspace, join) in [
        (known, "v.workspace_id", ""),
        (unknown, "k.workspace_id", " JOIN api_keys k ON k.id = v.key_id"),
    ] {
        for chunk in rows.chunks(USAGE_CHUNK) {
            let bulk = usage_bulk(chunk);
            let sql = format!(
                "INSERT INTO usage_hours (key_id, workspace_id, start, {counts}) \
                 SELECT v.key_id, {workspace}, v.start, {} FROM {}{join} WHERE 1 = 1 \
                 ON CONFLICT (key_id, start) DO UPDATE SET {}",
                values.join(", "),
                bulk_source(&bulk),
                sums.join(", ")
            );
            bind_bulk(sqlx::query(&sql), bulk).execute(&mut *tx).await?;
        }
    }
    for chunk in batch.addresses.chunks(USAGE_CHUNK) {
        let bulk = Bulk(vec![
            ("key_id", BulkColumn::Text(chunk.iter().map(|a| a.key_id.clone()).collect())),
            ("start", BulkColumn::Int(chunk.iter().map(|a| a.day).collect())),
            ("address", BulkColumn::Text(chunk.iter().map(|a| a.address.clone()).collect())),
            ("issued", BulkColumn::Int(chunk.iter().map(|a| a.issued).collect())),
        ]);
        let sql = format!(
            "INSERT INTO usage_addresses (key_id, start, address, issued) \
             SELECT v.key_id, v.start, v.address, v.issued FROM {} WHERE 1 = 1 \
             ON CONFLICT (key_id, start, address) DO UPDATE SET \
             issued = usage_addresses.issued + excluded.issued",
            bulk_source(&bulk)
        );
        bind_bulk(sqlx::query(&sql), bulk).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn record_last_uses(this: &This, chunk: &[LastUse]) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    if let Some(relaxed) = RELAXED_COMMIT {
        sqlx::query(relaxed).execute(&mut *tx).await?;
    }
    let bulk = Bulk(vec![
        ("key_id", BulkColumn::Text(chunk.iter().map(|u| u.key_id.clone()).collect())),
        ("at", BulkColumn::Int(chunk.iter().map(|u| u.at).collect())),
        ("ip", BulkColumn::MaybeText(chunk.iter().map(|u| u.ip.clone()).collect())),
    ]);
    let sql = format!(
        "UPDATE api_keys AS k SET last_used_at = v.at, last_used_ip = v.ip FROM {} \
         WHERE k.id = v.key_id AND (k.last_used_at IS NULL OR k.last_used_at <= v.at)",
        bulk_source(&bulk)
    );
    bind_bulk(sqlx::query(&sql), bulk).execute(&mut *tx).await?;
    // Uses of the old secret count only while it still has a grace period
    // (a rotation since then reset the counters and must not be undone).
    let previous: Vec<(&str, &PreviousUse)> =
        chunk.iter().filter_map(|u| Some((u.key_id.as_str(), u.previous.as_ref()?))).collect();
    if !previous.is_empty() {
        let bulk = Bulk(vec![
            ("key_id", BulkColumn::Text(previous.iter().map(|(id, _)| id.to_string()).collect())),
            ("count", BulkColumn::Int(previous.iter().map(|(_, p)| p.count).collect())),
            ("at", BulkColumn::Int(previous.iter().map(|(_, p)| p.at).collect())),
            ("ip", BulkColumn::MaybeText(previous.iter().map(|(_, p)| p.ip.clone()).collect())),
        ]);
        let later = "k.previous_last_used_at IS NULL OR k.previous_last_used_at <= v.at";
        let sql = format!(
            "UPDATE api_keys AS k SET previous_use_count = k.previous_use_count + v.count, \
         previous_last_used_at = CASE WHEN {later} THEN v.at \
         ELSE k.previous_last_used_at END, \
         previous_last_used_ip = CASE WHEN {later} THEN v.ip \
         ELSE k.previous_last_used_ip END \
         FROM {} WHERE k.id = v.key_id AND k.previous_secret_hash IS NOT NULL",
            bulk_source(&bulk)
        );
        bind_bulk(sqlx::query(&sql), bulk).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Hourly rows before `hours_before` are rolled up into daily rows (moved, in one
/// transaction, so a day is never counted twice), and dropped with their client
/// addresses; daily rows before `days_before` are dropped.
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

//! The usage queries, written once for both backends like the rest of
//! `queries.rs` (whose child module this is): counters and last uses written in
//! batches, usage read back by range, expired rows purged.

use super::super::json_rows;
use super::{insert_audit, Db, This};
use crate::store::sql::UsageDbRow;
use crate::store::{
    Granularity, LastUse, StoreResult, UsageBatch, UsageGroup, UsageQuery, UsageRow,
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

pub(super) async fn record_usage(this: &This, batch: &UsageBatch) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    for event in &batch.events {
        insert_audit(&mut tx, event).await?;
    }
    for (table, rows) in [("usage_hours", &batch.hours), ("usage_days", &batch.days)] {
        for chunk in rows.chunks(USAGE_CHUNK) {
            let json: Vec<serde_json::Value> = chunk
                .iter()
                .map(|r| {
                    let t = &r.tally;
                    let mut row =
                        serde_json::json!([r.key_id, r.workspace_id, r.start, t.issued, t.failed]);
                    if let Some(row) = row.as_array_mut() {
                        row.extend(t.refused.iter().map(|&n| serde_json::Value::from(n)));
                        row.push(serde_json::Value::from(t.verified));
                        row.push(serde_json::Value::from(t.exchanged));
                    }
                    row
                })
                .collect();
            let columns: Vec<(&str, &str)> =
                [("key_id", "TEXT"), ("workspace_id", "TEXT"), ("start", "BIGINT")]
                    .into_iter()
                    .chain(COUNT_COLUMNS.iter().map(|&c| (c, "BIGINT")))
                    .collect();
            let counts = COUNT_COLUMNS.join(", ");
            let values: Vec<String> = COUNT_COLUMNS.iter().map(|c| format!("v.{c}")).collect();
            let sums: Vec<String> =
                COUNT_COLUMNS.iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect();
            // The key's workspace, or the one counted with it when the key was
            // deleted since (its counts stay); counts for ids that were never
            // keys are dropped. `WHERE ... IS NOT NULL` also tells SQLite's
            // parser the ON CONFLICT is the upsert's.
            let workspace = "COALESCE(k.workspace_id, NULLIF(v.workspace_id, ''))";
            let sql = format!(
                "INSERT INTO {table} (key_id, workspace_id, start, {counts}) \
                 SELECT v.key_id, {workspace}, v.start, {} FROM {} \
                 LEFT JOIN api_keys k ON k.id = v.key_id WHERE {workspace} IS NOT NULL \
                 ON CONFLICT (key_id, start) DO UPDATE SET {}",
                values.join(", "),
                json_rows(&columns),
                sums.join(", ")
            );
            sqlx::query(&sql)
                .bind(serde_json::Value::from(json).to_string())
                .execute(&mut *tx)
                .await?;
        }
    }
    for chunk in batch.addresses.chunks(USAGE_CHUNK) {
        let json: Vec<serde_json::Value> = chunk
            .iter()
            .map(|a| serde_json::json!([a.key_id, a.day, a.address, a.issued]))
            .collect();
        let sql = format!(
            "INSERT INTO usage_addresses (key_id, start, address, issued) \
             SELECT v.key_id, v.start, v.address, v.issued FROM {} WHERE 1 = 1 \
             ON CONFLICT (key_id, start, address) DO UPDATE SET \
             issued = usage_addresses.issued + excluded.issued",
            json_rows(&[
                ("key_id", "TEXT"),
                ("start", "BIGINT"),
                ("address", "TEXT"),
                ("issued", "BIGINT")
            ])
        );
        sqlx::query(&sql).bind(serde_json::Value::from(json).to_string()).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn record_last_uses(this: &This, chunk: &[LastUse]) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    let json: Vec<serde_json::Value> =
        chunk.iter().map(|u| serde_json::json!([u.key_id, u.at, u.ip])).collect();
    let sql = format!(
        "UPDATE api_keys AS k SET last_used_at = v.at, last_used_ip = v.ip FROM {} \
         WHERE k.id = v.key_id AND (k.last_used_at IS NULL OR k.last_used_at <= v.at)",
        json_rows(&[("key_id", "TEXT"), ("at", "BIGINT"), ("ip", "TEXT")])
    );
    sqlx::query(&sql).bind(serde_json::Value::from(json).to_string()).execute(&mut *tx).await?;
    // Uses of the old secret count only while it still has a grace period
    // (a rotation since then reset the counters and must not be undone).
    let previous: Vec<serde_json::Value> = chunk
        .iter()
        .filter_map(|u| {
            let p = u.previous.as_ref()?;
            Some(serde_json::json!([u.key_id, p.count, p.at, p.ip]))
        })
        .collect();
    if !previous.is_empty() {
        let later = "k.previous_last_used_at IS NULL OR k.previous_last_used_at <= v.at";
        let sql = format!(
            "UPDATE api_keys AS k SET previous_use_count = k.previous_use_count + v.count, \
         previous_last_used_at = CASE WHEN {later} THEN v.at \
         ELSE k.previous_last_used_at END, \
         previous_last_used_ip = CASE WHEN {later} THEN v.ip \
         ELSE k.previous_last_used_ip END \
         FROM {} WHERE k.id = v.key_id AND k.previous_secret_hash IS NOT NULL",
            json_rows(&[("key_id", "TEXT"), ("count", "BIGINT"), ("at", "BIGINT"), ("ip", "TEXT")])
        );
        sqlx::query(&sql)
            .bind(serde_json::Value::from(previous).to_string())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn purge_usage(
    this: &This,
    hours_before: i64,
    days_before: i64,
) -> StoreResult<()> {
    for (sql, before) in [
        ("DELETE FROM usage_hours WHERE start < $1", hours_before),
        ("DELETE FROM usage_addresses WHERE start < $1", hours_before),
        ("DELETE FROM usage_days WHERE start < $1", days_before),
    ] {
        sqlx::query(sql).bind(before).execute(&this.pool).await?;
    }
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
    let table = match query.granularity {
        Granularity::Hour => "usage_hours",
        Granularity::Day => "usage_days",
    };
    let sums: Vec<String> =
        COUNT_COLUMNS.iter().map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}")).collect();
    let (keys, start) = match group {
        UsageGroup::KeyAndBucket => ("key_id, MIN(workspace_id) AS workspace_id", "start"),
        UsageGroup::Bucket => ("'' AS key_id, '' AS workspace_id", "start"),
        UsageGroup::TopKeys { .. } => ("key_id, MIN(workspace_id) AS workspace_id", "MIN(start)"),
    };
    let mut q = sqlx::QueryBuilder::<Db>::new(format!(
        "SELECT {keys}, {start} AS start, {} FROM {table} WHERE start >= ",
        sums.join(", ")
    ));
    q.push_bind(query.from).push(" AND start < ").push_bind(query.to);
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

//! The key queries, written once for both backends like the rest of
//! `queries.rs` (whose child module this is): keys inserted, found, listed,
//! counted, updated and deleted, each change with its audit event.

use super::{insert_audit, Db, This};
use crate::store::sql::{
    unique_violation, KeyRow, SeenKeyRow, SqlValue, UsedKeyRow, KEYS, KEY_COLUMNS_KEPT_BY_UPDATE,
};
use crate::store::{AuditRecord, KeyFilter, KeyRecord, StoreError, StoreResult, LAST_USE};

/// The `AND ...` conditions of a key filter (all but its page position).
fn push_key_filter(q: &mut sqlx::QueryBuilder<'_, Db>, f: &KeyFilter) {
    if let Some(ws) = &f.workspace_id {
        q.push(" AND workspace_id = ").push_bind(ws.clone());
    }
    if let Some(needle) = &f.name_contains {
        let escaped =
            needle.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        q.push(" AND name_lower LIKE ").push_bind(format!("%{escaped}%")).push(" ESCAPE '\\'");
    }
    if let Some(status) = f.status {
        q.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some((now, unexpired)) = f.unexpired_at {
        if unexpired {
            q.push(" AND (expires_at IS NULL OR expires_at > ").push_bind(now).push(")");
        } else {
            q.push(" AND expires_at <= ").push_bind(now);
        }
    }
    if let Some(env) = &f.environment {
        q.push(" AND environment = ").push_bind(env.clone());
    }
    if let Some(t) = &f.key_type {
        q.push(" AND key_type = ").push_bind(t.clone());
    }
    if let Some(by) = &f.created_by {
        q.push(" AND created_by = ").push_bind(by.clone());
    }
    if let Some(owner) = &f.owner {
        q.push(" AND owner = ").push_bind(owner.clone());
    }
    if let Some(scope) = &f.has_scope {
        // Scopes are a JSON array of strings: match one whole element.
        let element = serde_json::Value::from(scope.as_str()).to_string();
        let escaped = element.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        q.push(" AND scopes LIKE ").push_bind(format!("%{escaped}%")).push(" ESCAPE '\\'");
    }
    if let Some(ws) = &f.outside_workspace_id {
        q.push(" AND workspace_id <> ").push_bind(ws.clone());
    }
    if f.never_expires {
        q.push(" AND expires_at IS NULL");
    }
    if f.never_used {
        q.push(format!(" AND {LAST_USE} IS NULL"));
    }
    if let Some(since) = f.unused_since {
        q.push(format!(" AND COALESCE({LAST_USE}, created_at) < ")).push_bind(since);
    }
    if f.any_address {
        q.push(
            " AND (allowed_cidrs = '[]' OR allowed_cidrs LIKE '%\"0.0.0.0/0\"%' \
             OR allowed_cidrs LIKE '%\"::/0\"%')",
        );
    }
    if f.no_scope {
        q.push(" AND scopes = '[]'");
    }
}

/// Binds one column's value.
fn push_value(q: &mut sqlx::QueryBuilder<'_, Db>, value: SqlValue) {
    match value {
        SqlValue::Text(v) => q.push_bind(v),
        SqlValue::MaybeText(v) => q.push_bind(v),
        SqlValue::Int(v) => q.push_bind(v),
        SqlValue::MaybeInt(v) => q.push_bind(v),
    };
}

pub(super) async fn insert_key(this: &This, k: &KeyRecord, audit: &AuditRecord) -> StoreResult<()> {
    let values = KeyRow::from(k).values();
    let names: Vec<&str> = values.iter().map(|(name, _)| *name).collect();
    let mut q = sqlx::QueryBuilder::<Db>::new(format!(
        "INSERT INTO api_keys ({}) VALUES (",
        names.join(", ")
    ));
    for (i, (_, value)) in values.into_iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        push_value(&mut q, value);
    }
    q.push(")");
    let mut tx = this.begin_tx().await?;
    q.build()
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, "a key with this name exists in the workspace"))?;
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn find_key(this: &This, id: &str) -> StoreResult<Option<KeyRecord>> {
    let row: Option<UsedKeyRow> = sqlx::query_as(&format!("SELECT * FROM {KEYS} WHERE id = $1"))
        .bind(id)
        .fetch_optional(&this.pool)
        .await?;
    row.map(KeyRecord::try_from).transpose()
}

/// Keys by id, with the change feed position: `$1` is a JSON array of `[id]`
/// rows, so every batch size is the same prepared statement.
fn find_keys_sql() -> String {
    format!(
        "SELECT api_keys.*, (SELECT COALESCE(MAX(id), 0) FROM changes) AS seen \
         FROM {KEYS} WHERE id IN (SELECT v.id FROM {})",
        super::json_rows(&[("id", "TEXT")])
    )
}

/// Prepares the key loads' statement on a new connection (the server reads the
/// catalog it needs then), so the first loads after a start do not wait for it:
/// each backend's pool calls it as a connection opens (`after_connect`). A
/// database not migrated yet has nothing to prepare: the first load will.
pub(in crate::store) fn prepare_key_loads(
    conn: &mut <Db as sqlx::Database>::Connection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if let Err(e) = sqlx::query(&find_keys_sql()).bind("[]").execute(conn).await {
            tracing::debug!(error = %e, "key loads not prepared on a new connection");
        }
        Ok(())
    })
}

pub(super) async fn find_keys(this: &This, ids: &[String]) -> StoreResult<(Vec<KeyRecord>, i64)> {
    if ids.is_empty() {
        return Ok((Vec::new(), 0));
    }
    // One statement, one snapshot: the rows and the feed position agree.
    let sql = find_keys_sql();
    let listed: Vec<serde_json::Value> = ids.iter().map(|id| serde_json::json!([id])).collect();
    let rows: Vec<SeenKeyRow> = sqlx::query_as(&sql)
        .bind(serde_json::Value::from(listed).to_string())
        .fetch_all(&this.pool)
        .await?;
    let seen = rows.first().map_or(0, |r| r.seen);
    let keys = rows.into_iter().map(|r| KeyRecord::try_from(r.key)).collect::<Result<_, _>>()?;
    Ok((keys, seen))
}

pub(super) async fn find_keys_by_lookup(this: &This, lookup: &str) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM api_keys WHERE secret_lookup = $1 \
         UNION SELECT id FROM api_keys WHERE previous_secret_lookup = $1 \
         ORDER BY id LIMIT $2",
    )
    .bind(lookup)
    .bind(crate::store::MAX_LOOKUP_MATCHES)
    .fetch_all(&this.pool)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub(super) async fn set_secret_lookup(this: &This, id: &str, lookup: &str) -> StoreResult<()> {
    sqlx::query("UPDATE api_keys SET secret_lookup = $1 WHERE id = $2")
        .bind(lookup)
        .bind(id)
        .execute(&this.pool)
        .await?;
    Ok(())
}

pub(super) async fn list_keys(this: &This, f: &KeyFilter) -> StoreResult<Vec<KeyRecord>> {
    let mut q = sqlx::QueryBuilder::<Db>::new(format!("SELECT * FROM {KEYS} WHERE 1 = 1"));
    push_key_filter(&mut q, f);
    let by = f.sort.expression();
    let (past, direction) = if f.sort.descending { ("<", "DESC") } else { (">", "ASC") };
    if let Some((value, id)) = &f.after {
        q.push(format!(" AND ({by} {past} "))
            .push_bind(*value)
            .push(format!(" OR ({by} = "))
            .push_bind(*value)
            .push(format!(" AND id {past} "))
            .push_bind(id.clone())
            .push("))");
    }
    q.push(format!(" ORDER BY {by} {direction}, id {direction} LIMIT ")).push_bind(f.limit);
    let rows: Vec<UsedKeyRow> = q.build_query_as().fetch_all(&this.pool).await?;
    rows.into_iter().map(KeyRecord::try_from).collect()
}

pub(super) async fn count_keys(this: &This, f: &KeyFilter) -> StoreResult<i64> {
    let mut q = sqlx::QueryBuilder::<Db>::new(format!("SELECT COUNT(*) FROM {KEYS} WHERE 1 = 1"));
    push_key_filter(&mut q, f);
    let (count,): (i64,) = q.build_query_as().fetch_one(&this.pool).await?;
    Ok(count)
}

pub(super) async fn update_key(this: &This, k: &KeyRecord, audit: &AuditRecord) -> StoreResult<()> {
    let mut q = sqlx::QueryBuilder::<Db>::new("UPDATE api_keys SET ");
    let written = KeyRow::from(k)
        .values()
        .into_iter()
        .filter(|(name, _)| !KEY_COLUMNS_KEPT_BY_UPDATE.contains(name));
    for (name, value) in written {
        q.push(format!("{name} = "));
        push_value(&mut q, value);
        q.push(", ");
    }
    q.push("version = version + 1 WHERE id = ").push_bind(&k.id);
    q.push(" AND version = ").push_bind(k.version);
    let mut tx = this.begin_tx().await?;
    let done = q
        .build()
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_violation(e, "a key with this name exists in the workspace"))?;
    if done.rows_affected() == 0 {
        let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM api_keys WHERE id = $1")
            .bind(&k.id)
            .fetch_optional(&mut *tx)
            .await?;
        return Err(match exists {
            Some(_) => StoreError::Conflict("the key was changed concurrently; retry"),
            None => StoreError::NotFound,
        });
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn delete_key(this: &This, id: &str, audit: &AuditRecord) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    let done = sqlx::query("DELETE FROM api_keys WHERE id = $1").bind(id).execute(&mut *tx).await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

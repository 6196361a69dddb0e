//! What guards the token endpoint across instances, written once for both
//! backends like the rest of `queries.rs` (whose child module this is): JWT ids
//! used once (client assertions, DPoP proofs) and failed-authentication windows.

use super::{json_rows, This};
use crate::store::{StoreError, StoreResult, UsedJti};

pub(super) async fn use_jtis(this: &This, ids: &[UsedJti]) -> StoreResult<Vec<bool>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let json: Vec<serde_json::Value> =
        ids.iter().map(|u| serde_json::json!([u.subject, u.jti, u.expires_at])).collect();
    // One statement for the batch: each row goes in unless it is there already,
    // and the rows that went in come back.
    let sql = format!(
        "INSERT INTO used_jtis (subject, jti, expires_at) \
         SELECT v.subject, v.jti, v.expires_at FROM {} WHERE 1 = 1 \
         ON CONFLICT (subject, jti) DO NOTHING RETURNING subject, jti",
        json_rows(&[("subject", "TEXT"), ("jti", "TEXT"), ("expires_at", "BIGINT")])
    );
    let inserted: Vec<(String, String)> = sqlx::query_as(&sql)
        .bind(serde_json::Value::from(json).to_string())
        .fetch_all(&this.pool)
        .await?;
    let inserted: std::collections::HashSet<(String, String)> = inserted.into_iter().collect();
    Ok(ids.iter().map(|u| inserted.contains(&(u.subject.clone(), u.jti.clone()))).collect())
}

pub(super) async fn purge_jtis(this: &This, before: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM used_jtis WHERE expires_at < $1")
        .bind(before)
        .execute(&this.pool)
        .await?;
    Ok(())
}

pub(super) async fn count_failures(
    this: &This,
    failures: &[(String, i64)],
    now: i64,
    window: i64,
) -> StoreResult<Vec<(i64, i64)>> {
    if failures.is_empty() {
        return Ok(Vec::new());
    }
    let json: Vec<serde_json::Value> =
        failures.iter().map(|(subject, n)| serde_json::json!([subject, n])).collect();
    // The decision is taken inside each row's lock: no read-then-write race.
    let over = "auth_failures.window_start + $3 <= $2";
    let sql = format!(
        "INSERT INTO auth_failures (subject, window_start, failures) \
         SELECT v.subject, $2, v.n FROM {} WHERE 1 = 1 \
         ON CONFLICT (subject) DO UPDATE SET \
         failures = CASE WHEN {over} THEN excluded.failures \
         ELSE auth_failures.failures + excluded.failures END, \
         window_start = CASE WHEN {over} THEN $2 ELSE auth_failures.window_start END \
         RETURNING subject, window_start, failures",
        json_rows(&[("subject", "TEXT"), ("n", "BIGINT")])
    );
    let counted: Vec<(String, i64, i64)> = sqlx::query_as(&sql)
        .bind(serde_json::Value::from(json).to_string())
        .bind(now)
        .bind(window)
        .fetch_all(&this.pool)
        .await?;
    let counted: std::collections::HashMap<String, (i64, i64)> =
        counted.into_iter().map(|(subject, start, n)| (subject, (start, n))).collect();
    failures
        .iter()
        .map(|(subject, _)| {
            counted
                .get(subject)
                .copied()
                .ok_or_else(|| StoreError::unavailable("a failure count was not answered"))
        })
        .collect()
}

pub(super) async fn purge_failures(this: &This, before: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM auth_failures WHERE window_start < $1")
        .bind(before)
        .execute(&this.pool)
        .await?;
    Ok(())
}

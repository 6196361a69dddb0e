//! The queries of people, their sessions and sign-ins under way, written once for
//! both backends like the rest of `queries.rs` (whose child module this is).

use super::{insert_audit, This};
use crate::store::sql::{DeviceGrantRow, PersonRow};
use crate::store::{
    AuditRecord, DeviceDecision, DeviceGrantRecord, PersonRecord, StoreError, StoreResult,
};

const PERSON_COLUMNS: &str = "id, issuer, subject, email, email_verified, name, groups, \
                              first_sign_in_us, last_sign_in_us";

pub(super) async fn record(this: &This, p: &PersonRecord) -> StoreResult<PersonRecord> {
    let groups = serde_json::to_string(&p.groups)
        .map_err(|e| StoreError::Corrupt(format!("person groups: {e}")))?;
    let row: PersonRow = sqlx::query_as(&format!(
        "INSERT INTO people ({PERSON_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, \
         email_verified = excluded.email_verified, name = excluded.name, \
         groups = excluded.groups, last_sign_in_us = excluded.last_sign_in_us \
         RETURNING {PERSON_COLUMNS}"
    ))
    .bind(&p.id)
    .bind(&p.issuer)
    .bind(&p.subject)
    .bind(&p.email)
    .bind(i64::from(p.email_verified))
    .bind(&p.name)
    .bind(groups)
    .bind(p.first_sign_in_us)
    .bind(p.last_sign_in_us)
    .fetch_one(&this.pool)
    .await?;
    row.try_into()
}

pub(super) async fn find(this: &This, id: &str) -> StoreResult<Option<PersonRecord>> {
    let row: Option<PersonRow> =
        sqlx::query_as(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1"))
            .bind(id)
            .fetch_optional(&this.pool)
            .await?;
    row.map(PersonRecord::try_from).transpose()
}

pub(super) async fn list(this: &This) -> StoreResult<Vec<PersonRecord>> {
    let rows: Vec<PersonRow> = sqlx::query_as(&format!(
        "SELECT {PERSON_COLUMNS} FROM people ORDER BY last_sign_in_us DESC, id"
    ))
    .fetch_all(&this.pool)
    .await?;
    rows.into_iter().map(PersonRecord::try_from).collect()
}

pub(super) async fn delete_sessions(
    this: &This,
    person_id: &str,
    audit: &AuditRecord,
) -> StoreResult<u64> {
    let mut tx = this.begin_tx().await?;
    sqlx::query(
        "DELETE FROM console_reveals WHERE session_hash IN \
         (SELECT id_hash FROM console_sessions WHERE person_id = $1)",
    )
    .bind(person_id)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query("DELETE FROM console_sessions WHERE person_id = $1")
        .bind(person_id)
        .execute(&mut *tx)
        .await?;
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

pub(super) async fn insert_login(
    this: &This,
    id_hash: &str,
    sealed: &[u8],
    at: i64,
    expired_before: i64,
) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    sqlx::query("DELETE FROM sso_logins WHERE created_at < $1")
        .bind(expired_before)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO sso_logins (id_hash, sealed, created_at) VALUES ($1, $2, $3)")
        .bind(id_hash)
        .bind(sealed)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn take_login(this: &This, id_hash: &str) -> StoreResult<Option<(Vec<u8>, i64)>> {
    // One statement: two callbacks racing for one sign-in cannot both get it.
    Ok(sqlx::query_as("DELETE FROM sso_logins WHERE id_hash = $1 RETURNING sealed, created_at")
        .bind(id_hash)
        .fetch_optional(&this.pool)
        .await?)
}

const DEVICE_COLUMNS: &str =
    "device_hash, user_code, created_at, expires_at, polled_at, decision, person_id";

pub(super) async fn insert_device(this: &This, g: &DeviceGrantRecord, now: i64) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    sqlx::query("DELETE FROM device_grants WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO device_grants ({DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&g.device_hash)
    .bind(&g.user_code)
    .bind(g.created_at)
    .bind(g.expires_at)
    .bind(g.polled_at)
    .bind(g.decision.as_str())
    .bind(&g.person_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| crate::store::sql::unique_violation(e, "that user code is taken"))?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn find_device(
    this: &This,
    user_code: &str,
) -> StoreResult<Option<DeviceGrantRecord>> {
    let row: Option<DeviceGrantRow> =
        sqlx::query_as(&format!("SELECT {DEVICE_COLUMNS} FROM device_grants WHERE user_code = $1"))
            .bind(user_code)
            .fetch_optional(&this.pool)
            .await?;
    row.map(DeviceGrantRecord::try_from).transpose()
}

pub(super) async fn decide_device(
    this: &This,
    user_code: &str,
    decision: DeviceDecision,
    person_id: &str,
    audit: &AuditRecord,
) -> StoreResult<bool> {
    let mut tx = this.begin_tx().await?;
    let done = sqlx::query(
        "UPDATE device_grants SET decision = $1, person_id = $2 \
         WHERE user_code = $3 AND decision = 'pending'",
    )
    .bind(decision.as_str())
    .bind(person_id)
    .bind(user_code)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn poll_device(
    this: &This,
    device_hash: &str,
    at: i64,
) -> StoreResult<Option<DeviceGrantRecord>> {
    let mut tx = this.begin_tx().await?;
    let row: Option<DeviceGrantRow> = sqlx::query_as(&format!(
        "SELECT {DEVICE_COLUMNS} FROM device_grants WHERE device_hash = $1"
    ))
    .bind(device_hash)
    .fetch_optional(&mut *tx)
    .await?;
    sqlx::query("UPDATE device_grants SET polled_at = $1 WHERE device_hash = $2")
        .bind(at)
        .bind(device_hash)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    row.map(DeviceGrantRecord::try_from).transpose()
}

pub(super) async fn delete_device(this: &This, device_hash: &str) -> StoreResult<bool> {
    let done = sqlx::query("DELETE FROM device_grants WHERE device_hash = $1")
        .bind(device_hash)
        .execute(&this.pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

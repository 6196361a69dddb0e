//! The queries of sessions (held by keys or people) and the secrets waiting in
//! them, written once for both backends like the rest of `queries.rs` (whose
//! child module this is).

use super::{insert_audit, This};
use crate::store::sql::SessionRow;
use crate::store::{AuditRecord, SessionHolder, SessionRecord, StoreResult};

pub(super) async fn insert(
    this: &This,
    session: &SessionRecord,
    audit: &AuditRecord,
    idle_before: i64,
    created_before: i64,
) -> StoreResult<()> {
    let mut tx = this.begin_tx().await?;
    sqlx::query("DELETE FROM console_sessions WHERE seen_at < $1 OR created_at < $2")
        .bind(idle_before)
        .bind(created_before)
        .execute(&mut *tx)
        .await?;
    let (key_id, secret_tag, person_id) = match &session.holder {
        SessionHolder::Key { key_id, secret_tag } => (Some(key_id), Some(secret_tag), None),
        SessionHolder::Person { person_id } => (None, None, Some(person_id)),
    };
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, key_id, secret_tag, person_id, created_at, \
         seen_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&session.id_hash)
    .bind(key_id)
    .bind(secret_tag)
    .bind(person_id)
    .bind(session.created_at)
    .bind(session.seen_at)
    .execute(&mut *tx)
    .await?;
    insert_audit(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn find(this: &This, id_hash: &str) -> StoreResult<Option<SessionRecord>> {
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT id_hash, key_id, secret_tag, person_id, created_at, seen_at \
         FROM console_sessions WHERE id_hash = $1",
    )
    .bind(id_hash)
    .fetch_optional(&this.pool)
    .await?;
    row.map(SessionRecord::try_from).transpose()
}

pub(super) async fn delete(
    this: &This,
    id_hash: &str,
    audit: Option<&AuditRecord>,
) -> StoreResult<bool> {
    let mut tx = this.begin_tx().await?;
    sqlx::query("DELETE FROM console_reveals WHERE session_hash = $1")
        .bind(id_hash)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&mut *tx)
        .await?;
    if let (Some(audit), true) = (audit, done.rows_affected() > 0) {
        insert_audit(&mut tx, audit).await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn put_reveal(
    this: &This,
    id_hash: &str,
    key_id: &str,
    sealed: &[u8],
    at: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO console_reveals (session_hash, key_id, sealed, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (session_hash) DO UPDATE \
         SET key_id = excluded.key_id, sealed = excluded.sealed, \
         created_at = excluded.created_at",
    )
    .bind(id_hash)
    .bind(key_id)
    .bind(sealed)
    .bind(at)
    .execute(&this.pool)
    .await?;
    Ok(())
}

pub(super) async fn touch(this: &This, id_hash: &str, at: i64) -> StoreResult<()> {
    sqlx::query("UPDATE console_sessions SET seen_at = $1 WHERE id_hash = $2")
        .bind(at)
        .bind(id_hash)
        .execute(&this.pool)
        .await?;
    Ok(())
}

pub(super) async fn take_reveal(
    this: &This,
    id_hash: &str,
) -> StoreResult<Option<(String, Vec<u8>)>> {
    // One statement: two requests racing for the secret cannot both get it.
    Ok(sqlx::query_as(
        "DELETE FROM console_reveals WHERE session_hash = $1 RETURNING key_id, sealed",
    )
    .bind(id_hash)
    .fetch_optional(&this.pool)
    .await?)
}
